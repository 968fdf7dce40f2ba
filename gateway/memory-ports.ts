/**
 * In-memory query ports and a recording publisher, for unit tests and the embedded mode's
 * smoke runs. They hold plain values; nothing here is a mock with expectations.
 */
import type { AccountCommand, PaymentCommand } from '../schemas/types.js';
import type {
  AccountQueries,
  AccountView,
  CommandHeaders,
  CommandPublisher,
  PaymentQueries,
  PaymentView,
} from './ports.js';

export class MemoryPaymentQueries implements PaymentQueries {
  readonly #views = new Map<string, PaymentView>();

  put(view: PaymentView): void {
    this.#views.set(view.paymentId, view);
  }

  getPayment(paymentId: string): Promise<PaymentView | undefined> {
    return Promise.resolve(this.#views.get(paymentId));
  }
}

export class MemoryAccountQueries implements AccountQueries {
  readonly #views = new Map<string, AccountView>();

  put(view: AccountView): void {
    this.#views.set(view.accountId, view);
  }

  getAccount(accountId: string): Promise<AccountView | undefined> {
    return Promise.resolve(this.#views.get(accountId));
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

  async #pass(): Promise<void> {
    if (this.#gate !== undefined) await this.#gate;
    const failure = this.#failures.shift();
    if (failure !== undefined) throw failure;
  }
}
