/**
 * Record keys that more than one part of PayFlow computes: the gateway writes with them, the
 * processors partition their state by them, so both take them from here.
 */
import type { PaymentCommand } from '../schemas/types.js';

/**
 * The key of a record on payments.commands: the sender's account. Every command that debits one
 * account lands on one partition, where the whole sender side of the payment runs in one task
 * (dedupe, validation and the debit: processors/pipeline.ts) against that account's balance.
 * A retry of a request carries the same body, hence the same sender and partition, so the dedupe
 * store of that partition recognises it.
 */
export function paymentCommandKey(command: Pick<PaymentCommand, 'senderAccountId'>): string {
  return command.senderAccountId;
}

/**
 * The dedupe processor's scope: the request's identity (principal and Idempotency-Key), within
 * the sender's partition. A command without an idempotency key is scoped by its own commandId.
 * JSON keeps the two parts apart whatever characters they hold.
 */
export function dedupeScopeOf(
  command: Pick<PaymentCommand, 'principal' | 'idempotencyKey' | 'commandId'>,
): string {
  return command.idempotencyKey === ''
    ? command.commandId
    : JSON.stringify([command.principal, command.idempotencyKey]);
}
