/**
 * The load and its observer. Every record carries its phase, sequence number and the wall time
 * at which the load generator handed it to the producer (headers, so they travel through the
 * processors untouched); the collector, a read_committed consumer of the last topic, turns
 * arrival time minus send time into the end-to-end latency of that record.
 */
import type { Consumer, EachBatchPayload, IHeaders, Kafka, Message, Producer } from 'kafkajs';

import { BenchError, Deadline, nowMs, sleep, withTimeout } from './limits.js';

export const PHASES = ['warmup', 'bulk', 'paced'] as const;
export type Phase = (typeof PHASES)[number];

const HEADER = { phase: 'bench-phase', seq: 'bench-seq', sentAt: 'bench-sent-at' } as const;

/** Records per produce request of the bulk load (the driver commits at most 500 per transaction). */
export const BULK_BATCH = 500;

/** A payment-shaped JSON value, about 200 bytes. */
export function value(phase: Phase, seq: number): string {
  return JSON.stringify({
    paymentId: `${phase}-${seq.toString().padStart(9, '0')}`,
    senderAccountId: `acc-${(seq % 997).toString().padStart(4, '0')}`,
    recipientAccountId: `acc-${((seq * 7 + 1) % 997).toString().padStart(4, '0')}`,
    amount: 1_250 + (seq % 1_000),
    currency: 'EUR',
    reference: 'benchmark payment, identity processors forward it unchanged',
  });
}

export const VALUE_BYTES = Buffer.byteLength(value('bulk', 0));

function message(phase: Phase, seq: number, sentAt: number): Message {
  return {
    key: `${phase}-${seq}`,
    value: value(phase, seq),
    timestamp: String(Math.floor(sentAt)),
    headers: { [HEADER.phase]: phase, [HEADER.seq]: String(seq), [HEADER.sentAt]: sentAt.toFixed(3) },
  };
}

export interface SendWindow {
  readonly firstSendAt: number;
  readonly lastSendAt: number;
}

/** Writes the load to the first topic with an idempotent producer, acks=-1. */
export class LoadGenerator {
  constructor(
    private readonly producer: Producer,
    private readonly deadline: Deadline,
  ) {}

  /** `count` records as fast as the producer takes them, `batch` records per request. */
  async bulk(topic: string, phase: Phase, count: number, batch = BULK_BATCH): Promise<SendWindow> {
    const firstSendAt = nowMs();
    let lastSendAt = firstSendAt;
    for (let seq = 0; seq < count; seq += batch) {
      this.deadline.check(`producing the ${phase} load`);
      lastSendAt = nowMs();
      const messages: Message[] = [];
      for (let i = seq; i < Math.min(count, seq + batch); i++) messages.push(message(phase, i, lastSendAt));
      await this.#send(topic, messages);
    }
    return { firstSendAt, lastSendAt };
  }

  /**
   * `count` records at `rate` records/s: every tick sends the records due by then, each stamped
   * with the moment it is handed to the producer.
   */
  async paced(topic: string, phase: Phase, count: number, rate: number): Promise<SendWindow> {
    const tickMs = 5;
    const firstSendAt = nowMs();
    let lastSendAt = firstSendAt;
    let sent = 0;
    while (sent < count) {
      this.deadline.check(`producing the ${phase} load`);
      const due = Math.min(count, Math.floor(((nowMs() - firstSendAt) * rate) / 1_000) + 1);
      if (due > sent) {
        lastSendAt = nowMs();
        const messages: Message[] = [];
        for (let i = sent; i < due; i++) messages.push(message(phase, i, lastSendAt));
        await this.#send(topic, messages);
        sent = due;
      }
      const next = firstSendAt + (sent * 1_000) / rate;
      await sleep(Math.max(0, Math.min(tickMs, next - nowMs())));
    }
    return { firstSendAt, lastSendAt };
  }

  async #send(topic: string, messages: Message[]): Promise<void> {
    await withTimeout(this.producer.send({ topic, acks: -1, messages }), 30_000, `producing to ${topic}`);
  }
}

/** What arrived of one phase. */
export class PhaseTally {
  readonly #seen: Uint8Array;
  readonly #latencies: Float64Array;
  distinct = 0;
  duplicates = 0;
  firstArrivalAt = Number.NaN;
  lastArrivalAt = Number.NaN;

  constructor(readonly expected: number) {
    this.#seen = new Uint8Array(expected);
    this.#latencies = new Float64Array(expected);
  }

  get complete(): boolean {
    return this.distinct === this.expected;
  }

  add(seq: number, sentAt: number, arrivedAt: number): void {
    if (!(seq >= 0 && seq < this.expected)) return;
    if (this.#seen[seq] === 1) {
      this.duplicates += 1;
      return;
    }
    this.#seen[seq] = 1;
    this.#latencies[this.distinct] = arrivedAt - sentAt;
    this.distinct += 1;
    if (Number.isNaN(this.firstArrivalAt)) this.firstArrivalAt = arrivedAt;
    this.lastArrivalAt = arrivedAt;
  }

  /** Latency percentiles, ms. */
  latency(): Percentiles {
    return percentiles(this.#latencies.subarray(0, this.distinct));
  }
}

export interface Percentiles {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** p50, p99 (nearest rank) and max of some latencies; NaN when there are none. */
export function percentiles(latencies: Float64Array | readonly number[]): Percentiles {
  const sorted = Float64Array.from(latencies).sort();
  const rank = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;
  return { p50: rank(0.5), p99: rank(0.99), max: sorted.at(-1) ?? Number.NaN };
}

function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const raw = headers?.[name];
  const first = Array.isArray(raw) ? raw[0] : raw;
  return first === undefined ? undefined : first.toString();
}

/** Connects `consumer`, subscribes it to `topic` and runs `eachBatch` without committing, each step bounded. */
export async function startConsumer(
  consumer: Consumer,
  name: string,
  topic: string,
  fromBeginning: boolean,
  eachBatch: (payload: EachBatchPayload) => Promise<void>,
): Promise<void> {
  await withTimeout(consumer.connect(), 30_000, `connecting ${name}`);
  await withTimeout(consumer.subscribe({ topic, fromBeginning }), 30_000, `subscribing to ${topic}`);
  await withTimeout(consumer.run({ autoCommit: false, eachBatch }), 30_000, `starting ${name}`);
}

/** A read_committed consumer of the last topic that tallies every benchmark record per phase. */
export class Collector {
  readonly #tallies = new Map<Phase, PhaseTally>();
  readonly #consumer: Consumer;

  constructor(
    kafka: Kafka,
    readonly groupId: string,
    readonly topic: string,
  ) {
    this.#consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 500 });
  }

  async start(): Promise<void> {
    await startConsumer(this.#consumer, 'the collector', this.topic, true, ({ batch }) => {
      const arrivedAt = nowMs();
      for (const { headers } of batch.messages) {
        const phase = headerText(headers, HEADER.phase) as Phase | undefined;
        const tally = phase === undefined ? undefined : this.#tallies.get(phase);
        if (tally === undefined) continue;
        tally.add(
          Number(headerText(headers, HEADER.seq)),
          Number(headerText(headers, HEADER.sentAt)),
          arrivedAt,
        );
      }
      return Promise.resolve();
    });
  }

  /** Starts counting a phase; call before its first record is produced. */
  expect(phase: Phase, count: number): PhaseTally {
    const tally = new PhaseTally(count);
    this.#tallies.set(phase, tally);
    return tally;
  }

  /**
   * Resolves when every record of the phase has arrived. Fails when none arrived for `stallMs`
   * or the run's budget is spent.
   */
  async drained(phase: Phase, deadline: Deadline, stallMs: number): Promise<PhaseTally> {
    const tally = this.#tallies.get(phase);
    if (tally === undefined) throw new Error(`phase ${phase} was never expected`);
    let progress = tally.distinct;
    let progressAt = Date.now();
    while (!tally.complete) {
      deadline.check(
        `waiting for the ${phase} records on ${this.topic} (${tally.distinct} of ${tally.expected})`,
      );
      if (tally.distinct !== progress) {
        progress = tally.distinct;
        progressAt = Date.now();
      } else if (Date.now() - progressAt > stallMs) {
        throw new BenchError(
          `no ${phase} record reached ${this.topic} for ${stallMs / 1000} s ` +
            `(${tally.distinct} of ${tally.expected} arrived): the pipeline is stalled`,
        );
      }
      await sleep(20);
    }
    return tally;
  }

  async stop(): Promise<void> {
    await withTimeout(this.#consumer.disconnect(), 30_000, 'stopping the collector');
  }
}
