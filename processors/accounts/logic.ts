/**
 * The accounts table's business rules, as a pure function of the current account (or none) and
 * one command. Time is the command's `issuedAtMs`.
 */
import type { Account, AccountCommand, AccountStatus } from '../../schemas/types.js';

/** Why a command is refused: a decision, told to `onDecision`; nothing is stored, published or dead-lettered. */
export type AccountRefusalCode = 'ACCOUNT_NOT_FOUND' | 'ACCOUNT_CLOSED';

/** Why a command changes nothing; it is counted and dropped. */
export type AccountNoOpCode = 'ALREADY_OPEN' | 'STATUS_UNCHANGED';

export type AccountDecision =
  /** A new ACTIVE account: store it and publish it to the accounts table. */
  | { readonly outcome: 'opened'; readonly account: Account }
  /** A status change: store it and publish it. */
  | { readonly outcome: 'status-changed'; readonly account: Account; readonly previousStatus: AccountStatus }
  /** Nothing to do; `account` is the stored account, untouched. */
  | { readonly outcome: 'no-op'; readonly code: AccountNoOpCode; readonly account: Account }
  /** The command breaks a rule; nothing is stored or published. */
  | { readonly outcome: 'refused'; readonly code: AccountRefusalCode; readonly detail: string };

export function decideAccountCommand(current: Account | undefined, command: AccountCommand): AccountDecision {
  return command.type === 'OPEN' ? open(current, command) : changeStatus(current, command);
}

type OpenCommand = Extract<AccountCommand, { type: 'OPEN' }>;
type ChangeStatusCommand = Extract<AccountCommand, { type: 'CHANGE_STATUS' }>;

/** Opening an id that exists (in any status, CLOSED included) changes nothing: ids are never reused. */
function open(current: Account | undefined, command: OpenCommand): AccountDecision {
  if (current !== undefined) return { outcome: 'no-op', code: 'ALREADY_OPEN', account: current };
  const account: Account = {
    accountId: command.accountId,
    ownerId: command.ownerId,
    currency: command.currency,
    kycTier: command.kycTier,
    iban: command.iban,
    status: 'ACTIVE',
    openedAtMs: command.issuedAtMs,
    updatedAtMs: command.issuedAtMs,
  };
  return { outcome: 'opened', account };
}

/** FROZEN and ACTIVE go back and forth; CLOSED is final. */
function changeStatus(current: Account | undefined, command: ChangeStatusCommand): AccountDecision {
  if (current === undefined) {
    return {
      outcome: 'refused',
      code: 'ACCOUNT_NOT_FOUND',
      detail: `account ${command.accountId} does not exist`,
    };
  }
  if (current.status === command.status)
    return { outcome: 'no-op', code: 'STATUS_UNCHANGED', account: current };
  if (current.status === 'CLOSED') {
    const detail = `account ${command.accountId} is CLOSED and cannot become ${command.status}: closing is final`;
    return { outcome: 'refused', code: 'ACCOUNT_CLOSED', detail };
  }
  const account: Account = { ...current, status: command.status, updatedAtMs: command.issuedAtMs };
  return { outcome: 'status-changed', account, previousStatus: current.status };
}
