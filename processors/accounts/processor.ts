/** The accounts processor: applies account commands to the `accounts` store and table topic. */
import type { Account, AccountCommand } from '../../schemas/types.js';
import type { Processor } from '../runtime/api.js';
import { TOPIC } from '../../topics/names.js';
import { decideAccountCommand, type AccountDecision } from './logic.js';

export const ACCOUNTS_STORE = 'accounts';

export interface AccountsProcessorOptions {
  /** Accounts per partition. */
  readonly maxEntries?: number;
  /** Told every decision, so no-ops and refusals (ACCOUNT_NOT_FOUND, ACCOUNT_CLOSED) can be counted. */
  readonly onDecision?: (decision: AccountDecision) => void;
}

export function accountsProcessor(options: AccountsProcessorOptions = {}): Processor<AccountCommand> {
  return {
    name: 'accounts',
    inputs: [TOPIC.accountsCommands],
    outputs: [TOPIC.accounts],
    stores: [{ kind: 'kv', name: ACCOUNTS_STORE, maxEntries: options.maxEntries ?? 1_000_000 }],
    process(record, context) {
      const store = context.keyValueStore<Account>(ACCOUNTS_STORE);
      const command = record.value;
      const decision = decideAccountCommand(store.get(command.accountId), command);
      options.onDecision?.(decision);
      switch (decision.outcome) {
        case 'opened':
        case 'status-changed':
          store.put(decision.account.accountId, decision.account);
          context.forward({
            topic: TOPIC.accounts,
            key: decision.account.accountId,
            value: decision.account,
          });
          return;
        // A refusal is a decision like a no-op: nothing is stored or published, and the command
        // is not dead-lettered (it is not bad data); `onDecision` counts it by code.
        case 'no-op':
        case 'refused':
          return;
      }
    },
  };
}
