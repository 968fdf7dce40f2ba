/**
 * The records a client's own producer writes in the comparison's worker processes: the same
 * ~200-byte payment-shaped JSON values and bench headers (phase, sequence, sent-at) as the
 * bench's load generator (../load.ts), spread over the partitions round-robin.
 */
import { nowMs, sleep } from '../limits.js';
import { PhaseTally, value, type Phase } from '../load.js';
import type { InRecord, OutRecord, TestProducer } from './types.js';

const HEADER = { phase: 'bench-phase', seq: 'bench-seq', sentAt: 'bench-sent-at' } as const;

export function benchRecord(phase: Phase, seq: number, sentAt: number, partitions: number): OutRecord {
  return {
    partition: seq % partitions,
    key: Buffer.from(`${phase}-${seq}`),
    value: Buffer.from(value(phase, seq)),
    timestamp: Math.floor(sentAt),
    headers: [
      [HEADER.phase, Buffer.from(phase)],
      [HEADER.seq, Buffer.from(String(seq))],
      [HEADER.sentAt, Buffer.from(sentAt.toFixed(3))],
    ],
  };
}

/** Tallies bench records per phase as they arrive. */
export class Tallies {
  readonly #byPhase = new Map<string, PhaseTally>();

  expect(phase: Phase, count: number): PhaseTally {
    const tally = new PhaseTally(count);
    this.#byPhase.set(phase, tally);
    return tally;
  }

  add(records: readonly InRecord[]): Promise<void> {
    const arrivedAt = nowMs();
    for (const record of records) {
      const header = (name: string) => record.headers.find(([n]) => n === name)?.[1].toString('utf8');
      const tally = this.#byPhase.get(header(HEADER.phase) ?? '');
      tally?.add(Number(header(HEADER.seq)), Number(header(HEADER.sentAt)), arrivedAt);
    }
    return Promise.resolve();
  }
}

/** Waits until every record of the tally arrived; fails when none arrived for `stallMs`. */
export async function arrived(tally: PhaseTally, what: string, stallMs = 30_000): Promise<void> {
  let progress = tally.distinct;
  let progressAt = Date.now();
  while (!tally.complete) {
    if (tally.distinct !== progress) {
      progress = tally.distinct;
      progressAt = Date.now();
    } else if (Date.now() - progressAt > stallMs) {
      throw new Error(
        `${what}: ${tally.distinct} of ${tally.expected} records arrived, none for ${stallMs / 1_000} s`,
      );
    }
    await sleep(10);
  }
}

/** `count` records as fast as the producer takes them, `batch` per awaited request. */
export async function sendBulk(
  producer: TestProducer,
  topic: string,
  phase: Phase,
  count: number,
  partitions: number,
  batch = 500,
): Promise<number> {
  const firstSendAt = nowMs();
  for (let seq = 0; seq < count; seq += batch) {
    const at = nowMs();
    const records: OutRecord[] = [];
    for (let i = seq; i < Math.min(count, seq + batch); i++)
      records.push(benchRecord(phase, i, at, partitions));
    await producer.send(topic, records);
  }
  return firstSendAt;
}

/** `count` records at `rate` records/s, each tick sending what has fallen due (as ../load.ts). */
export async function sendPaced(
  producer: TestProducer,
  topic: string,
  phase: Phase,
  count: number,
  rate: number,
  partitions: number,
): Promise<void> {
  const firstSendAt = nowMs();
  let sent = 0;
  while (sent < count) {
    const due = Math.min(count, Math.floor(((nowMs() - firstSendAt) * rate) / 1_000) + 1);
    if (due > sent) {
      const at = nowMs();
      const records: OutRecord[] = [];
      for (let i = sent; i < due; i++) records.push(benchRecord(phase, i, at, partitions));
      await producer.send(topic, records);
      sent = due;
    }
    const next = firstSendAt + (sent * 1_000) / rate;
    await sleep(Math.max(0, Math.min(5, next - nowMs())));
  }
}
