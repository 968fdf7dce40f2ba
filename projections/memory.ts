/**
 * The payments projection of the embedded default: the same fold as PostgreSQL's, held in
 * memory with a bound on the number of payments kept.
 */
import {
  accountPaymentsPage,
  heldPage,
  type AccountPaymentsQuery,
  type HeldCursor,
  type PaymentQueries,
  type PaymentView,
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
