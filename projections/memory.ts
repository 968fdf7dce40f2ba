/**
 * The payments projection of the embedded default: the same fold as PostgreSQL's, held in
 * memory with a bound on the number of payments kept.
 */
import type { PaymentQueries, PaymentView } from '../gateway/ports.js';
import { applyPaymentEvent, type PaymentReadModel, type ProjectedPaymentEvent } from './payment-view.js';

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

  constructor(private readonly maxPayments: number) {}

  /** Applies events in log order; events already applied change nothing. */
  apply(events: readonly ProjectedPaymentEvent[]): void {
    for (const event of events) {
      const before = this.#views.get(event.paymentId);
      if (before === undefined && this.#views.size >= this.maxPayments) {
        throw new ProjectionCapacityError(this.maxPayments);
      }
      this.#views.set(event.paymentId, applyPaymentEvent(before, event));
    }
  }

  getPayment(paymentId: string): Promise<PaymentView | undefined> {
    return Promise.resolve(this.#views.get(paymentId));
  }
}
