/**
 * The payments projection of the embedded default: the same fold as PostgreSQL's, held in
 * memory with a bound on the number of payments kept.
 */
import {
  accountPaymentsPage,
  heldPage,
  searchPage,
  type AccountPaymentsQuery,
  type HeldCursor,
  type PaymentQueries,
  type PaymentSearchQuery,
  type PaymentView,
  type StoredPaymentEvent,
} from '../gateway/ports.js';
import {
  applyPaymentEvent,
  isUnreadCommandFailure,
  type PaymentReadModel,
  type ProjectedPaymentEvent,
} from './payment-view.js';

export class ProjectionCapacityError extends Error {
  constructor(maxPayments: number) {
    super(
      `the in-memory payments projection holds its limit of ${maxPayments} payments; use the PostgreSQL projection`,
    );
    this.name = 'ProjectionCapacityError';
  }
}

export class MemoryPaymentsProjection implements PaymentQueries {
  readonly #views = new Map<string, PaymentReadModel>();
  readonly #held = new Set<string>();
  /** The payment ids of each account, sent and received: a history page never scans every payment. */
  readonly #byAccount = new Map<string, Set<string>>();
  /** The event store: each payment's events, by sequence, each event id once. */
  readonly #events = new Map<string, StoredPaymentEvent[]>();
  readonly #eventIds = new Set<string>();

  constructor(private readonly maxPayments: number) {}

  /** Applies events in log order; events already applied change nothing. */
  apply(events: readonly ProjectedPaymentEvent[]): void {
    for (const event of events) {
      if (isUnreadCommandFailure(event)) continue;
      const before = this.#views.get(event.paymentId);
      if (before === undefined && this.#views.size >= this.maxPayments) {
        throw new ProjectionCapacityError(this.maxPayments);
      }
      const after = applyPaymentEvent(before, event);
      this.#views.set(event.paymentId, after);
      this.#store(event);
      if (before === undefined) {
        for (const accountId of new Set([after.senderAccountId, after.recipientAccountId])) {
          const ids = this.#byAccount.get(accountId) ?? new Set<string>();
          ids.add(event.paymentId);
          this.#byAccount.set(accountId, ids);
        }
      }
      if (after.status === 'HELD') this.#held.add(event.paymentId);
      else this.#held.delete(event.paymentId);
    }
  }

  #store(event: ProjectedPaymentEvent): void {
    if (this.#eventIds.has(event.eventId)) return;
    this.#eventIds.add(event.eventId);
    const stored = this.#events.get(event.paymentId) ?? [];
    stored.push({
      eventId: event.eventId,
      type: event.type,
      sequence: event.sequence,
      occurredAtMs: event.occurredAtMs,
      recordedAtMs: event.recordedAtMs ?? event.occurredAtMs,
      correlationId: event.correlationId,
    });
    stored.sort((a, b) => a.sequence - b.sequence);
    this.#events.set(event.paymentId, stored);
  }

  paymentEvents(paymentId: string): Promise<readonly StoredPaymentEvent[]> {
    return Promise.resolve([...(this.#events.get(paymentId) ?? [])]);
  }

  /** A scan of every payment kept (the embedded mode keeps at most `maxPayments`). */
  searchPayments(query: PaymentSearchQuery): Promise<readonly PaymentView[]> {
    return Promise.resolve(searchPage(this.#views.values(), query));
  }

  /** Payments held for review: the ids are kept apart, so a page never scans every payment. */
  listHeld(limit: number, after: HeldCursor | undefined): Promise<readonly PaymentView[]> {
    const views = [...this.#held].flatMap((id) => {
      const view = this.#views.get(id);
      return view === undefined ? [] : [view];
    });
    return Promise.resolve(heldPage(views, limit, after));
  }

  getPayment(paymentId: string): Promise<PaymentView | undefined> {
    return Promise.resolve(this.#views.get(paymentId));
  }

  accountPayments(query: AccountPaymentsQuery): Promise<readonly PaymentView[]> {
    const views = [...(this.#byAccount.get(query.accountId) ?? [])].flatMap((id) => {
      const view = this.#views.get(id);
      return view === undefined ? [] : [view];
    });
    return Promise.resolve(accountPaymentsPage(views, query));
  }
}
