/**
 * The accounts table's business rules, as a pure function of the current account (or none) and
 * one command. Time is the command's `issuedAtMs`.
 */
import { maskIban } from '../../schemas/iban.js';
import type { Account, AccountCommand, AccountCommandOutcome, AccountStatus } from '../../schemas/types.js';

/**
 * Why a command is refused: nothing is stored or dead-lettered; the refusal is published on
 * `accounts.outcomes` with its code, where the command's status URL shows it.
 */
export type AccountRefusalCode = 'ACCOUNT_NOT_FOUND' | 'ACCOUNT_CLOSED' | 'ACCOUNT_EXISTS';

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

/**
 * Opening an id that exists (in any status, CLOSED included) changes nothing: ids are never
 * reused. The same owner and currency again is a retry (no-op); another owner or currency is
 * refused, so the admin who sent it learns the id is taken.
 */
function open(current: Account | undefined, command: OpenCommand): AccountDecision {
  if (current !== undefined) {
    if (current.ownerId === command.ownerId && current.currency === command.currency)
      return { outcome: 'no-op', code: 'ALREADY_OPEN', account: current };
    const detail = `account ${command.accountId} is already open with another owner or currency`;
    return { outcome: 'refused', code: 'ACCOUNT_EXISTS', detail };
  }
  const account: Account = {
    accountId: command.accountId,
    ownerId: command.ownerId,
    currency: command.currency,
    kycTier: command.kycTier,
    // A command of before sealing carries the IBAN in clear: the account keeps it masked only
    // (processors hold no key to seal it), so the accounts topic never holds it in clear.
    iban: null,
    ibanMasked: command.ibanMasked ?? (command.iban === null ? null : maskIban(command.iban)),
    ibanSealed: command.ibanSealed ?? null,
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

/** The record for `accounts.outcomes`: the decision on `command`, as the status URL shows it. */
export function outcomeOf(command: AccountCommand, decision: AccountDecision): AccountCommandOutcome {
  const base = { commandId: command.commandId, accountId: command.accountId, commandType: command.type };
  const decidedAtMs = command.issuedAtMs;
  switch (decision.outcome) {
    case 'opened':
    case 'status-changed':
      return {
        ...base,
        outcome: 'APPLIED',
        code: null,
        detail: null,
        status: decision.account.status,
        decidedAtMs,
      };
    case 'no-op':
      return {
        ...base,
        outcome: 'UNCHANGED',
        code: decision.code,
        detail: null,
        status: decision.account.status,
        decidedAtMs,
      };
    case 'refused':
      return {
        ...base,
        outcome: 'REFUSED',
        code: decision.code,
        detail: decision.detail,
        // A refused OPEN of a taken id names no status: the account belongs to someone else.
        status: null,
        decidedAtMs,
      };
  }
}
