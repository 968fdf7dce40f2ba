/**
 * In-memory query ports and a recording publisher, for unit tests and the embedded mode's
 * smoke runs. They hold plain values; nothing here is a mock with expectations.
 */
import type {
  AccountCommand,
  AccountCommandOutcome,
  DenyListEntry,
  KycTier,
  PaymentCommand,
  ReviewDecision,
} from '../schemas/types.js';
import type {
  AccountQueries,
  AccountPaymentsQuery,
  AccountView,
  CommandHeaders,
  CommandPublisher,
  HeldCursor,
  PaymentQueries,
  PaymentSearchQuery,
  PaymentView,
  StoredPaymentEvent,
} from './ports.js';
import { accountPaymentsPage, heldPage, highestTier, searchPage } from './ports.js';

export class MemoryPaymentQueries implements PaymentQueries {
  readonly #views = new Map<string, PaymentView>();
  readonly #events = new Map<string, readonly StoredPaymentEvent[]>();

  put(view: PaymentView): void {
    this.#views.set(view.paymentId, view);
  }

  /** The event store's rows of a payment. */
  putEvents(paymentId: string, events: readonly StoredPaymentEvent[]): void {
    this.#events.set(paymentId, events);
  }

  paymentEvents(paymentId: string): Promise<readonly StoredPaymentEvent[]> {
    return Promise.resolve(this.#events.get(paymentId) ?? []);
  }

  searchPayments(query: PaymentSearchQuery): Promise<readonly PaymentView[]> {
    return Promise.resolve(searchPage(this.#views.values(), query));
  }

  getPayment(paymentId: string): Promise<PaymentView | undefined> {
    return Promise.resolve(this.#views.get(paymentId));
  }

  listHeld(limit: number, after: HeldCursor | undefined): Promise<readonly PaymentView[]> {
    return Promise.resolve(heldPage(this.#views.values(), limit, after));
  }

  accountPayments(query: AccountPaymentsQuery): Promise<readonly PaymentView[]> {
    return Promise.resolve(accountPaymentsPage(this.#views.values(), query));
  }
}

export class MemoryAccountQueries implements AccountQueries {
  readonly #views = new Map<string, AccountView>();
  readonly #outcomes = new Map<string, AccountCommandOutcome>();

  put(view: AccountView): void {
    this.#views.set(view.accountId, view);
  }

  putOutcome(outcome: AccountCommandOutcome): void {
    this.#outcomes.set(outcome.commandId, outcome);
  }

  getAccount(accountId: string): Promise<AccountView | undefined> {
    return Promise.resolve(this.#views.get(accountId));
  }

  getAccountCommand(accountId: string, commandId: string): Promise<AccountCommandOutcome | undefined> {
    const outcome = this.#outcomes.get(commandId);
    return Promise.resolve(outcome?.accountId === accountId ? outcome : undefined);
  }

  highestTierOfOwner(ownerId: string): Promise<KycTier | undefined> {
    return Promise.resolve(highestTier(this.#views.values(), ownerId));
  }
}

export interface Published<C> {
  readonly command: C;
  readonly headers: CommandHeaders;
}

/**
 * Keeps every published command in order. `hold()` makes publishes wait until released (to
 * observe requests in flight); `failNext()` makes the next publish reject (a broker outage).
 */
export class RecordingPublisher implements CommandPublisher {
  readonly payments: Published<PaymentCommand>[] = [];
  readonly accounts: Published<AccountCommand>[] = [];
  readonly reviewDecisions: { readonly decision: ReviewDecision; readonly headers: CommandHeaders }[] = [];
  readonly denyList: {
    readonly key: string;
    readonly entry: DenyListEntry | null;
    readonly headers: CommandHeaders;
  }[] = [];
  #gate: Promise<void> | undefined;
  #failures: Error[] = [];

  hold(): () => void {
    let release: () => void = () => undefined;
    this.#gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    return () => {
      this.#gate = undefined;
      release();
    };
  }

  failNext(error: Error = new Error('broker unavailable')): void {
    this.#failures.push(error);
  }

  async publishPayment(command: PaymentCommand, headers: CommandHeaders): Promise<void> {
    await this.#pass();
    this.payments.push({ command, headers });
  }

  async publishAccount(command: AccountCommand, headers: CommandHeaders): Promise<void> {
    await this.#pass();
    this.accounts.push({ command, headers });
  }

  async publishReviewDecision(decision: ReviewDecision, headers: CommandHeaders): Promise<void> {
    await this.#pass();
    this.reviewDecisions.push({ decision, headers });
  }

  async publishDenyList(key: string, entry: DenyListEntry | null, headers: CommandHeaders): Promise<void> {
    await this.#pass();
    this.denyList.push({ key, entry, headers });
  }

  async #pass(): Promise<void> {
    if (this.#gate !== undefined) await this.#gate;
    const failure = this.#failures.shift();
    if (failure !== undefined) throw failure;
  }
}
