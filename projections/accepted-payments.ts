/**
 * Read-your-writes for the status URL. A read model follows the log, so for a moment after the
 * gateway's 202 the payments projection has not seen the payment yet; without help, its status
 * URL would answer 404 for a payment that is on the log. The main job's Kafka mode wraps the
 * publisher and the payments read model: each payment command the log acknowledged is remembered
 * for `ttlMs` as an INITIATED view, and a query the read model can't answer yet is answered from
 * it. Once the read model has the payment, its answer wins (it holds the later states).
 *
 * The store is Redis when the gateway has one (every gateway instance sees what any of them
 * accepted), otherwise a bounded in-memory map. Remembering is best effort: the command is
 * already durable, so a failing store costs the read-your-writes window, never the request.
 */
import type { Redis } from 'ioredis';

import type { CommandHeaders, CommandPublisher, PaymentQueries, PaymentView } from '../gateway/ports.js';
import type { AccountCommand, PaymentCommand } from '../schemas/types.js';

export interface AcceptedPaymentsStore {
  remember(view: PaymentView): Promise<void>;
  get(paymentId: string): Promise<PaymentView | undefined>;
}

/** What the status URL answers for a payment the log has but the read model not yet. */
export function acceptedPaymentView(command: PaymentCommand): PaymentView {
  return {
    paymentId: command.paymentId,
    kind: command.kind,
    principal: command.principal,
    status: 'INITIATED',
    amountMinor: command.amountMinor,
    currency: command.currency,
    senderAccountId: command.senderAccountId,
    recipientAccountId: command.recipientAccountId,
    reference: command.reference,
    rejection: null,
    risk: null,
    events: [],
    createdAtMs: command.submittedAtMs,
    updatedAtMs: command.submittedAtMs,
  };
}

interface Remembered {
  readonly view: PaymentView;
  readonly expiresAtMs: number;
}

/** Bounded by `maxEntries` (the oldest goes first) and by `ttlMs`. */
export class MemoryAcceptedPayments implements AcceptedPaymentsStore {
  readonly #entries = new Map<string, Remembered>();

  constructor(
    private readonly options: {
      readonly ttlMs: number;
      readonly maxEntries: number;
      readonly now?: () => number;
    },
  ) {}

  remember(view: PaymentView): Promise<void> {
    const now = this.#now();
    this.#entries.delete(view.paymentId);
    this.#entries.set(view.paymentId, { view, expiresAtMs: now + this.options.ttlMs });
    for (const [id, entry] of this.#entries) {
      if (this.#entries.size <= this.options.maxEntries && entry.expiresAtMs > now) break;
      this.#entries.delete(id);
    }
    return Promise.resolve();
  }

  get(paymentId: string): Promise<PaymentView | undefined> {
    const entry = this.#entries.get(paymentId);
    return Promise.resolve(entry !== undefined && entry.expiresAtMs > this.#now() ? entry.view : undefined);
  }

  get size(): number {
    return this.#entries.size;
  }

  #now(): number {
    return (this.options.now ?? Date.now)();
  }
}

const KEY_PREFIX = 'payflow:accepted-payment:v1:';

/** One key per payment with a TTL; amounts are stored as decimal strings (exact). */
export class RedisAcceptedPayments implements AcceptedPaymentsStore {
  constructor(
    private readonly redis: Redis,
    private readonly options: { readonly ttlMs: number },
  ) {}

  async remember(view: PaymentView): Promise<void> {
    const stored = JSON.stringify({ ...view, amountMinor: view.amountMinor.toString() });
    await this.redis.set(KEY_PREFIX + view.paymentId, stored, 'PX', this.options.ttlMs);
  }

  async get(paymentId: string): Promise<PaymentView | undefined> {
    const stored = await this.redis.get(KEY_PREFIX + paymentId);
    if (stored === null) return undefined;
    const parsed = JSON.parse(stored) as Omit<PaymentView, 'amountMinor'> & { amountMinor: string };
    return { ...parsed, amountMinor: BigInt(parsed.amountMinor) };
  }
}

/**
 * The publisher and payments queries with read-your-writes: `publishPayment` remembers the
 * payment once the log has acknowledged it; `getPayment` falls back to what was remembered.
 * `onStoreError` is told when remembering or looking up fails (the request goes on without it).
 */
export function withAcceptedPayments(
  publisher: CommandPublisher,
  payments: PaymentQueries,
  store: AcceptedPaymentsStore,
  onStoreError: (error: unknown) => void,
): { readonly publisher: CommandPublisher; readonly payments: PaymentQueries } {
  return {
    publisher: {
      publishPayment: async (command: PaymentCommand, headers: CommandHeaders) => {
        await publisher.publishPayment(command, headers);
        await store.remember(acceptedPaymentView(command)).catch(onStoreError);
      },
      publishAccount: (command: AccountCommand, headers: CommandHeaders) =>
        publisher.publishAccount(command, headers),
      publishReviewDecision: (decision, headers) => publisher.publishReviewDecision(decision, headers),
      publishDenyList: (key, entry, headers, atMs) => publisher.publishDenyList(key, entry, headers, atMs),
    },
    payments: {
      getPayment: async (paymentId: string) => {
        const projected = await payments.getPayment(paymentId);
        if (projected !== undefined) return projected;
        return store.get(paymentId).catch((error: unknown) => {
          onStoreError(error);
          return undefined;
        });
      },
      listHeld: (limit, after) => payments.listHeld(limit, after),
      accountPayments: (query) => payments.accountPayments(query),
      searchPayments: (query) => payments.searchPayments(query),
      paymentEvents: (paymentId) => payments.paymentEvents(paymentId),
    },
  };
}
