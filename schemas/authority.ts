/** The rule of who may debit whose accounts, shared by the gateway and validation. */
import type { Authority } from './types.js';

/** In `owners`: acts for any owner. */
export const ANY_OWNER = '*';

/** The authority may debit an account of `ownerId` (a transfer's sender). */
export function actsFor(authority: Authority, ownerId: string): boolean {
  return authority.owners.includes(ANY_OWNER) || authority.owners.includes(ownerId);
}

/** Acts for every owner: no account lookup can narrow what it may do. */
export const actsForAnyOwner = (authority: Authority): boolean => authority.owners.includes(ANY_OWNER);
