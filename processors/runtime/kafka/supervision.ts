/**
 * Kafka's side of supervision (../supervision.ts): consumers that leave restarting to their
 * supervisor, and a probe that keeps the `kafka` component's health current.
 *
 * kafkajs restarts a crashed consumer by itself only after a retriable error; after one it calls
 * non-retriable (e.g. "Failed to find group coordinator" while the broker restarts) the consumer
 * stays stopped for good and its group loses the member. PayFlow's consumers therefore tell
 * kafkajs never to restart (`restartOnFailure` → false) and report every crash to their
 * supervisor, which restarts them with capped backoff, whatever the error.
 */
import type { Admin, Consumer, Kafka, RetryOptions } from 'kafkajs';

import { reasonOf, type ComponentHealth, type SupervisorHooks } from '../supervision.js';

/** Retry settings for a supervised consumer: kafkajs's own retries, no self-restart. */
export const SUPERVISED_CONSUMER_RETRY: RetryOptions & {
  restartOnFailure: (error: Error) => Promise<boolean>;
} = {
  retries: 5,
  initialRetryTime: 300,
  maxRetryTime: 10_000,
  restartOnFailure: () => Promise.resolve(false),
};

/** Up once the consumer has joined its group (with or without partitions); a crash goes to the supervisor. */
export function reportConsumer(consumer: Consumer, hooks: SupervisorHooks): void {
  consumer.on(consumer.events.GROUP_JOIN, () => hooks.up());
  consumer.on(consumer.events.CRASH, (event) => hooks.crashed(event.payload.error));
}

export interface BrokerProbeOptions {
  readonly kafka: Kafka;
  readonly health: ComponentHealth;
  readonly intervalMs?: number;
  /** Bound on one metadata round trip. */
  readonly timeoutMs?: number;
}

export const BROKER_COMPONENT = 'kafka';

/**
 * Asks the cluster for its metadata every `intervalMs` (one request at a time, each bounded by
 * `timeoutMs`) and reports the `kafka` component up or down. A failed probe drops its admin
 * client; the next probe connects afresh.
 */
export class BrokerProbe {
  readonly #options: Required<BrokerProbeOptions>;
  #admin: Admin | undefined;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;

  constructor(options: BrokerProbeOptions) {
    this.#options = { intervalMs: 1_000, timeoutMs: 2_000, ...options };
  }

  /** Probes once (so the state is known at start), then every interval. */
  async start(): Promise<void> {
    await this.#probe();
    this.#timer = setInterval(() => {
      this.#inFlight ??= this.#probe().finally(() => (this.#inFlight = undefined));
    }, this.#options.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#inFlight;
    await this.#admin?.disconnect().catch(() => undefined);
    this.#admin = undefined;
    this.#options.health.remove(BROKER_COMPONENT);
  }

  async #probe(): Promise<void> {
    const { kafka, health, timeoutMs } = this.#options;
    let timer: NodeJS.Timeout | undefined;
    try {
      const admin = (this.#admin ??= kafka.admin({ retry: { retries: 0 } }));
      const round = (async () => {
        await admin.connect();
        await admin.describeCluster();
      })();
      round.catch(() => undefined);
      await Promise.race([
        round,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no metadata from the cluster within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
      health.report(BROKER_COMPONENT, 'up');
    } catch (error) {
      health.report(BROKER_COMPONENT, 'down', reasonOf(error));
      const failed = this.#admin;
      this.#admin = undefined;
      void failed?.disconnect().catch(() => undefined);
    } finally {
      clearTimeout(timer);
    }
  }
}
