/**
 * Which payments the benchmark sent, when, and when each was seen to end.
 *
 * A payment is tracked by its Idempotency-Key from the moment its POST is sent; its payment id
 * comes from the 202 answer or, in the Kafka mode, from its `PaymentInitiated` event (which
 * carries the key), whichever is first, so an event seen before the 202 is read is not lost. Its
 * end is the first `PaymentCompleted` or `PaymentRejected` event seen for that id: read by a
 * read_committed consumer of `payments.events` (Kafka mode), or polled from
 * `GET /v1/payments/{id}` (embedded mode, where there is no Kafka).
 */
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';

import type { Serde } from '../processors/runtime/api.js';
import { AVRO } from '../schemas/avro.js';
import { createSchemaRegistry, registryAvroSerde, valueSubject } from '../schemas/registry.js';
import type { PaymentEvent } from '../schemas/types.js';
import { TOPIC } from '../topics/catalogue.js';
import { BenchError, Deadline, nowMs, sleep, withTimeout } from './limits.js';
import { startConsumer } from './load.js';
import { field, type PaymentApi } from './payment-api.js';

export type Outcome = 'COMPLETED' | 'REJECTED';

export interface Submission {
  readonly key: string;
  readonly phase: string;
  readonly sentAt: number;
  /** HTTP status of the POST, 0 while it is in flight or when it got none. */
  status: number;
  answeredAt: number;
  paymentId: string | undefined;
  outcome: Outcome | undefined;
  endedAt: number;
  rejection: string | undefined;
}

/** What happened to one phase's payments. */
export class PhaseResult {
  readonly submissions: Submission[] = [];
  duplicates = 0;
  lastEndAt = Number.NaN;
  /** The moment a payment of this phase last ended (or the phase began). */
  progressAt = Date.now();

  get firstSentAt(): number {
    return this.submissions[0]?.sentAt ?? Number.NaN;
  }

  get lastSentAt(): number {
    return this.submissions.at(-1)?.sentAt ?? Number.NaN;
  }

  count(predicate: (s: Submission) => boolean): number {
    let n = 0;
    for (const s of this.submissions) if (predicate(s)) n += 1;
    return n;
  }

  get accepted(): number {
    return this.count((s) => s.status === 202);
  }

  /** Answered, but not with 202: the gateway refused it or the request failed. */
  get refused(): number {
    return this.count((s) => s.answeredAt > 0 && s.status !== 202);
  }

  get completed(): number {
    return this.count((s) => s.outcome === 'COMPLETED');
  }

  get rejected(): number {
    return this.count((s) => s.outcome === 'REJECTED');
  }

  /** Accepted (202) and never seen to end. */
  get stuck(): number {
    return this.count((s) => s.status === 202 && s.outcome === undefined);
  }

  /** Ms from sending each completed payment's POST to seeing it completed. */
  completionLatencies(): number[] {
    return this.submissions.filter((s) => s.outcome === 'COMPLETED').map((s) => s.endedAt - s.sentAt);
  }

  /** Ms from sending each accepted POST to reading its 202. */
  acceptLatencies(): number[] {
    return this.submissions.filter((s) => s.status === 202).map((s) => s.answeredAt - s.sentAt);
  }

  /** `CODE ×n` per rejection code, and `status ×n` per refusal. */
  reasons(): string {
    const counts = new Map<string, number>();
    for (const s of this.submissions) {
      const reason =
        s.outcome === 'REJECTED'
          ? `rejected ${s.rejection ?? '?'}`
          : s.answeredAt > 0 && s.status !== 202
            ? `HTTP ${s.status || 'error'}`
            : undefined;
      if (reason !== undefined) counts.set(reason, (counts.get(reason) ?? 0) + 1);
    }
    return [...counts].map(([reason, n]) => `${reason} ×${n}`).join(', ');
  }
}

export class PaymentTracker {
  readonly #byKey = new Map<string, Submission>();
  readonly #byPayment = new Map<string, Submission>();
  readonly #phases = new Map<string, PhaseResult>();
  /** Accepted payments, oldest first, from the oldest not yet seen to end (for polling). */
  #open: Submission[] = [];
  #openFrom = 0;

  phase(name: string): PhaseResult {
    let result = this.#phases.get(name);
    if (result === undefined) {
      result = new PhaseResult();
      this.#phases.set(name, result);
    }
    return result;
  }

  /** Call immediately before sending the POST. */
  submit(phase: string, key: string): Submission {
    const submission: Submission = {
      key,
      phase,
      sentAt: nowMs(),
      status: 0,
      answeredAt: 0,
      paymentId: undefined,
      outcome: undefined,
      endedAt: Number.NaN,
      rejection: undefined,
    };
    this.#byKey.set(key, submission);
    this.phase(phase).submissions.push(submission);
    return submission;
  }

  answered(submission: Submission, status: number, body: unknown): void {
    submission.answeredAt = nowMs();
    submission.status = status;
    const paymentId = status === 202 ? field(body, 'paymentId') : undefined;
    if (paymentId !== undefined) this.#identify(submission, paymentId);
    if (status === 202 && submission.outcome === undefined) this.#open.push(submission);
  }

  /** A PaymentInitiated event: if the key is one of ours, its payment id is now known. */
  initiated(paymentId: string, idempotencyKey: string): void {
    const submission = this.#byKey.get(idempotencyKey);
    if (submission !== undefined) this.#identify(submission, paymentId);
  }

  /** A terminal event (or status) of a payment; ignored when the payment is not one of ours. */
  ended(paymentId: string, outcome: Outcome, at: number, rejection?: string): void {
    const submission = this.#byPayment.get(paymentId);
    if (submission === undefined) return;
    const phase = this.phase(submission.phase);
    if (submission.outcome !== undefined) {
      phase.duplicates += 1;
      return;
    }
    submission.outcome = outcome;
    submission.endedAt = at;
    submission.rejection = rejection;
    phase.lastEndAt = Number.isNaN(phase.lastEndAt) ? at : Math.max(phase.lastEndAt, at);
    phase.progressAt = Date.now();
  }

  /** Up to `limit` accepted payments not yet seen to end, oldest first. */
  oldestOpen(limit: number): Submission[] {
    while (this.#openFrom < this.#open.length && this.#open[this.#openFrom]!.outcome !== undefined)
      this.#openFrom += 1;
    if (this.#openFrom > 1_024) {
      this.#open = this.#open.slice(this.#openFrom);
      this.#openFrom = 0;
    }
    const oldest: Submission[] = [];
    for (let i = this.#openFrom; i < this.#open.length && oldest.length < limit; i++)
      if (this.#open[i]!.outcome === undefined) oldest.push(this.#open[i]!);
    return oldest;
  }

  /**
   * Resolves when every accepted payment of the phase has ended, or when none of them has for
   * `stallMs` (the rest count as stuck). Call once every POST of the phase is answered.
   */
  async settle(name: string, deadline: Deadline, stallMs: number): Promise<PhaseResult> {
    const phase = this.phase(name);
    phase.progressAt = Date.now();
    while (phase.stuck > 0 && Date.now() - phase.progressAt < stallMs) {
      deadline.check(`waiting for the ${name} payments to end (${phase.stuck} open)`);
      await sleep(20);
    }
    return phase;
  }

  #identify(submission: Submission, paymentId: string): void {
    submission.paymentId ??= paymentId;
    this.#byPayment.set(paymentId, submission);
  }
}

/** How the benchmark sees payments end. */
export interface Observer {
  readonly description: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A read_committed consumer of `payments.events` in a group of its own, from the end of the
 * topic: started, joined and past its first fetch (its start offsets resolved) before any
 * payment is sent.
 */
export class EventObserver implements Observer {
  readonly description = 'a read_committed consumer of payments.events';
  readonly #consumer: Consumer;
  readonly #serde: Serde<PaymentEvent>;
  undecodable = 0;

  constructor(
    kafka: Kafka,
    readonly groupId: string,
    registryUrl: string,
    private readonly tracker: PaymentTracker,
  ) {
    this.#consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 100 });
    this.#serde = registryAvroSerde<PaymentEvent>(
      createSchemaRegistry(registryUrl),
      valueSubject(TOPIC.paymentsEvents),
      AVRO.PaymentEvent,
    );
  }

  async start(): Promise<void> {
    let joined = false;
    let fetched = false;
    const offJoin = this.#consumer.on(this.#consumer.events.GROUP_JOIN, () => {
      joined = true;
    });
    const offFetch = this.#consumer.on(this.#consumer.events.FETCH, () => {
      fetched ||= joined;
    });
    try {
      await startConsumer(
        this.#consumer,
        'the payments.events consumer',
        TOPIC.paymentsEvents,
        false,
        (payload) => this.#batch(payload),
      );
      const until = Date.now() + 60_000;
      while (!fetched) {
        if (Date.now() > until)
          throw new BenchError(`the payments.events consumer did not join its group within 60 s`);
        await sleep(20);
      }
    } finally {
      offJoin();
      offFetch();
    }
  }

  async #batch({ batch }: EachBatchPayload): Promise<void> {
    const arrivedAt = nowMs();
    for (const message of batch.messages) {
      if (message.value === null) continue;
      let event: PaymentEvent;
      try {
        event = await this.#serde.deserialize(message.value, batch.topic);
      } catch {
        this.undecodable += 1;
        continue;
      }
      if (event.type === 'PaymentInitiated' && event.initiated !== null)
        this.tracker.initiated(event.paymentId, event.initiated.idempotencyKey);
      else if (event.type === 'PaymentCompleted') this.tracker.ended(event.paymentId, 'COMPLETED', arrivedAt);
      else if (event.type === 'PaymentRejected')
        this.tracker.ended(event.paymentId, 'REJECTED', arrivedAt, event.rejection?.code);
    }
  }

  async stop(): Promise<void> {
    await withTimeout(this.#consumer.disconnect(), 30_000, 'stopping the payments.events consumer');
  }
}

/**
 * Polls `GET /v1/payments/{id}` for the oldest open payments, a few at a time, again at once while
 * they keep ending, else after a few milliseconds. A payment's end is the moment the poll that
 * saw it answered: up to one polling round late.
 */
export class StatusPoller implements Observer {
  readonly description = 'polling GET /v1/payments/{id}';
  #running = false;
  #loop: Promise<void> | undefined;
  polls = 0;

  constructor(
    private readonly api: PaymentApi,
    private readonly tracker: PaymentTracker,
    private readonly parallel: number,
  ) {}

  start(): Promise<void> {
    this.#running = true;
    this.#loop = this.#run();
    return Promise.resolve();
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const open = this.tracker.oldestOpen(this.parallel);
      const ended = await Promise.all(open.map((s) => this.#poll(s)));
      if (open.length === 0 || ended.includes(false)) await sleep(5);
    }
  }

  async #poll(submission: Submission): Promise<boolean> {
    const paymentId = submission.paymentId;
    if (paymentId === undefined) return false;
    this.polls += 1;
    const answer = await this.api.request('GET', `/v1/payments/${paymentId}`, 'admin');
    const status = answer.status === 200 ? field(answer.body, 'status') : undefined;
    if (status !== 'COMPLETED' && status !== 'REJECTED') return false;
    const rejection = (answer.body as { rejection?: { code?: string } | null }).rejection?.code;
    this.tracker.ended(paymentId, status, nowMs(), rejection);
    return true;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await withTimeout(this.#loop ?? Promise.resolve(), 35_000, 'stopping the status poller');
  }
}
