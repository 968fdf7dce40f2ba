/**
 * Record keys that more than one part of PayFlow computes: the gateway writes with them, the
 * processors partition their state by them, so both take them from here.
 */
import type { PaymentCommand } from '../schemas/types.js';

/**
 * The key of a record on payments.commands, and the dedupe processor's scope: the request's
 * identity (principal and Idempotency-Key), so every retry of one request lands on the same
 * partition and the dedupe processor sees them in order. A command without an idempotency key is
 * keyed by its own commandId. JSON keeps the two parts apart whatever characters they hold.
 */
export function paymentCommandKey(
  command: Pick<PaymentCommand, 'principal' | 'idempotencyKey' | 'commandId'>,
): string {
  return command.idempotencyKey === ''
    ? command.commandId
    : JSON.stringify([command.principal, command.idempotencyKey]);
}
