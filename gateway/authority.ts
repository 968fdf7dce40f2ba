/**
 * Who may act on whose accounts, from the principal's roles: the authority stamped on payment
 * commands (validation checks it again against the accounts table) and the gateway's own checks.
 */
import { actsFor, actsForAnyOwner } from '../schemas/authority.js';
import type { Authority } from '../schemas/types.js';
import { queryBounded, type RouteContext } from './command-flow.js';
import { ApiError } from './errors.js';
import type { Principal } from './fastify-types.js';

const ownsAccounts = (principal: Principal): boolean =>
  principal.roles.has('customer') || principal.roles.has('merchant');

export const isOperator = (principal: Principal): boolean =>
  principal.roles.has('admin') || principal.roles.has('superadmin');

/**
 * A transfer's authority: a producer acts for its `owners` claim (and for its own sub if it also
 * holds customer or merchant); a customer or merchant for its own sub only.
 */
export function transferAuthority(principal: Principal): Authority {
  const own = ownsAccounts(principal) ? [principal.id] : [];
  if (principal.roles.has('producer'))
    return { kind: 'SERVICE', owners: [...new Set([...principal.owners, ...own])] };
  return { kind: 'OWNER', owners: own };
}

/** A deposit's authority: an operator's, acting for no owner. */
export const DEPOSIT_AUTHORITY: Authority = { kind: 'ADMIN', owners: [] };

/**
 * The transfer's authority may debit `senderAccountId`. For a customer or merchant a foreign
 * account looks unknown (404, the same answer as a missing one); a producer learns 403. An
 * account the table doesn't know (yet) passes for a producer: validation decides.
 */
export async function assertMayDebit(
  context: RouteContext,
  authority: Authority,
  senderAccountId: string,
): Promise<void> {
  if (actsForAnyOwner(authority)) return;
  const account = await queryBounded(context, () => context.ports.accounts.getAccount(senderAccountId));
  if (account !== undefined && actsFor(authority, account.ownerId)) return;
  if (authority.kind === 'OWNER') throw new ApiError('ACCOUNT_NOT_FOUND', `no account ${senderAccountId}`);
  if (account === undefined) return;
  throw new ApiError('ACCOUNT_FORBIDDEN', `this principal may not debit senderAccountId ${senderAccountId}`);
}

/** Reads of an account: operators any; a customer or merchant only its own. */
export function mayReadAccount(principal: Principal, ownerId: string): boolean {
  return isOperator(principal) || (ownsAccounts(principal) && ownerId === principal.id);
}

/**
 * Reads of a payment with these account owners (undefined = unknown account): operators any;
 * a customer or merchant those from or to its accounts; a producer those of owners it acts for.
 */
export function mayReadPaymentOf(principal: Principal, owners: readonly (string | undefined)[]): boolean {
  if (isOperator(principal)) return true;
  const authority = transferAuthority(principal);
  return owners.some((owner) => owner !== undefined && actsFor(authority, owner));
}
