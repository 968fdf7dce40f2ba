/**
 * The accounts processor: applies account commands to the `accounts` store and table topic, and
 * publishes its decision on every command to `accounts.outcomes`.
 */
import type { Account, AccountCommand } from '../../schemas/types.js';
import type { Processor } from '../runtime/api.js';
import { TOPIC } from '../../topics/names.js';
import { decideAccountCommand, outcomeOf, type AccountDecision } from './logic.js';

export const ACCOUNTS_STORE = 'accounts';

export interface AccountsProcessorOptions {
  /** Accounts per partition. */
  readonly maxEntries?: number;
  /** Told every decision, so no-ops and refusals can be counted by code. */
  readonly onDecision?: (decision: AccountDecision) => void;
}

export function accountsProcessor(options: AccountsProcessorOptions = {}): Processor<AccountCommand> {
  return {
    name: 'accounts',
    inputs: [TOPIC.accountsCommands],
    outputs: [TOPIC.accounts, TOPIC.accountsOutcomes],
    stores: [{ kind: 'kv', name: ACCOUNTS_STORE, maxEntries: options.maxEntries ?? 1_000_000 }],
    process(record, context) {
      const store = context.keyValueStore<Account>(ACCOUNTS_STORE);
      const command = record.value;
      const decision = decideAccountCommand(store.get(command.accountId), command);
      options.onDecision?.(decision);
      if (decision.outcome === 'opened' || decision.outcome === 'status-changed') {
        store.put(decision.account.accountId, decision.account);
        context.forward({ topic: TOPIC.accounts, key: decision.account.accountId, value: decision.account });
      }
      // Every decision is published, a refusal too: it is not bad data, so it is not
      // dead-lettered; the command's status URL shows it with its code.
      context.forward({
        topic: TOPIC.accountsOutcomes,
        key: command.accountId,
        value: outcomeOf(command, decision),
      });
    },
  };
}
