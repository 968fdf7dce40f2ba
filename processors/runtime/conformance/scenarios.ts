/**
 * The runtime conformance suite: scenarios with hand-computed expected outputs that run unchanged
 * on the in-memory driver (processors/runtime/conformance/memory.test.ts) and on the Kafka driver
 * against the real broker (test/integration/runtime-conformance.test.ts). If the two drivers ever
 * disagree about state, windows, punctuation, chaining or dead-lettering, one of them fails here.
 *
 * Outputs are compared per topic and per key in order: Kafka orders records per partition, and
 * every scenario's expectations are stated per key.
 */
import {
  BadRecordError,
  HEADER,
  RetriableError,
  type Headers,
  type Processor,
  type Topology,
} from '../api.js';
import { jsonSerde } from '../json-serde.js';

export interface ScenarioInput {
  readonly topic: string;
  readonly key: string;
  /** Serialized with the topic's serde; `raw` bypasses it (undecodable input). */
  readonly value?: unknown;
  readonly raw?: Buffer;
  readonly timestampMs: number;
  readonly headers?: Headers;
}

export interface ObservedRecord {
  readonly key: string;
  readonly value: unknown;
  readonly headers: Headers;
}

export interface Scenario {
  /** The rule the scenario proves, as a sentence. */
  readonly rule: string;
  readonly partitions: number;
  topology(applicationId: string): Topology;
  readonly inputs: readonly ScenarioInput[];
  /** Output topic suffix -> key -> values in order. Topic names are `<applicationId>-<suffix>`. */
  readonly expected: Readonly<Record<string, Readonly<Record<string, readonly unknown[]>>>>;
  /** Extra checks on the observed records (e.g. dead-letter headers). */
  check?(observed: ReadonlyMap<string, readonly ObservedRecord[]>, applicationId: string): void;
}

const json = jsonSerde<unknown>();
const topicsOf = (applicationId: string, partitions: number, ...suffixes: string[]) =>
  suffixes.map((suffix) => ({ name: `${applicationId}-${suffix}`, partitions, serde: json }));

function single(
  applicationId: string,
  partitions: number,
  processor: Processor,
  ...topicSuffixes: string[]
): Topology {
  return {
    applicationId,
    topics: topicsOf(applicationId, partitions, ...topicSuffixes),
    processors: [processor],
    deadLetterTopic: `${applicationId}-dlq`,
  };
}

const runningSum: Scenario = {
  rule: 'a stateful running sum emits every prefix sum per key exactly once',
  partitions: 3,
  topology: (app) =>
    single(
      app,
      3,
      {
        name: 'sum',
        inputs: [`${app}-in`],
        outputs: [`${app}-out`],
        stores: [{ kind: 'kv', name: 'sums', maxEntries: 1_000 }],
        process(record, context) {
          const sums = context.keyValueStore<bigint>('sums');
          const next = (sums.get(record.key) ?? 0n) + BigInt(record.value as number);
          sums.put(record.key, next);
          context.forward({ topic: `${app}-out`, key: record.key, value: next });
        },
      },
      'in',
      'out',
    ),
  inputs: [1, 2, 3, 4, 5, 6, 7, 8, 9].map((n, i) => ({
    topic: 'in',
    key: `k${n % 3}`,
    value: n,
    timestampMs: 1_000 + i,
  })),
  expected: { out: { k1: [1n, 5n, 12n], k2: [2n, 7n, 15n], k0: [3n, 9n, 18n] } },
};

interface WindowCount {
  readonly start: number;
  readonly count: number;
}

function windowCounter(
  app: string,
  window: { type: 'tumbling' | 'hopping'; sizeMs: number; advanceMs: number; graceMs: number },
): Processor {
  return {
    name: 'count',
    inputs: [`${app}-in`],
    outputs: [`${app}-out`, `${app}-late`],
    stores: [
      { kind: 'window', name: 'counts', maxEntries: 1_000, window: { ...window, retentionMs: 60_000 } },
    ],
    process(record, context) {
      const result = context
        .windowStore<number>('counts')
        .update(record.key, record.timestampMs, (previous) => (previous ?? 0) + 1);
      if (result.late) context.forward({ topic: `${app}-late`, key: record.key, value: record.timestampMs });
      for (const { window, value } of result.updated) {
        context.forward<WindowCount>({
          topic: `${app}-out`,
          key: record.key,
          value: { start: window.startMs, count: value },
        });
      }
    },
  };
}

const tumbling: Scenario = {
  rule: 'tumbling windows take out-of-order records within the grace period and drop later ones',
  partitions: 2,
  topology: (app) =>
    single(
      app,
      2,
      windowCounter(app, { type: 'tumbling', sizeMs: 10_000, advanceMs: 10_000, graceMs: 5_000 }),
      'in',
      'out',
      'late',
    ),
  // Stream time: 1000, 12000, 12000 (3000 is out of order, window [0,10s) open until 15000), 16000, then 4000 is late.
  inputs: [1_000, 12_000, 3_000, 16_000, 4_000, 19_999].map((timestampMs) => ({
    topic: 'in',
    key: 'card-1',
    value: 1,
    timestampMs,
  })),
  expected: {
    out: {
      'card-1': [
        { start: 0, count: 1 },
        { start: 10_000, count: 1 },
        { start: 0, count: 2 },
        { start: 10_000, count: 2 },
        { start: 10_000, count: 3 },
      ],
    },
    late: { 'card-1': [4_000] },
  },
};

const hopping: Scenario = {
  rule: 'hopping windows count a record in every window it falls in and none before epoch 0',
  partitions: 2,
  topology: (app) =>
    single(
      app,
      2,
      windowCounter(app, { type: 'hopping', sizeMs: 10_000, advanceMs: 5_000, graceMs: 0 }),
      'in',
      'out',
      'late',
    ),
  inputs: [
    { topic: 'in', key: 'acct', value: 1, timestampMs: 2_000 },
    { topic: 'in', key: 'acct', value: 1, timestampMs: 7_000 },
    { topic: 'in', key: 'acct', value: 1, timestampMs: 4_000 },
    { topic: 'in', key: 'acct', value: 1, timestampMs: 16_000 },
    { topic: 'in', key: 'acct', value: 1, timestampMs: 9_000 },
  ],
  expected: {
    out: {
      acct: [
        { start: 0, count: 1 },
        { start: 0, count: 2 },
        { start: 5_000, count: 1 },
        { start: 0, count: 3 },
        { start: 10_000, count: 1 },
        { start: 15_000, count: 1 },
      ],
    },
    // 9000 arrives at stream time 16000: [0,10s) and [5s,15s) are closed (grace 0).
    late: { acct: [9_000] },
  },
};

const sliding: Scenario = {
  rule: 'a sliding window sums exactly the records of the last 10 seconds at each record',
  partitions: 2,
  topology: (app) =>
    single(
      app,
      2,
      {
        name: 'sliding-sum',
        inputs: [`${app}-in`],
        outputs: [`${app}-out`],
        stores: [
          {
            kind: 'window',
            name: 'amounts',
            maxEntries: 1_000,
            window: { type: 'sliding', sizeMs: 10_000, advanceMs: 0, graceMs: 30_000, retentionMs: 30_000 },
          },
        ],
        process(record, context) {
          const amount = BigInt(record.value as number);
          const store = context.windowStore<bigint>('amounts');
          store.update(record.key, record.timestampMs, (previous) => (previous ?? 0n) + amount);
          const t = record.timestampMs;
          const total = store.fetch(record.key, t - 20_000, t - 10_000).reduce((sum, w) => sum + w.value, 0n);
          context.forward({ topic: `${app}-out`, key: record.key, value: total });
        },
      },
      'in',
      'out',
    ),
  inputs: [
    { topic: 'in', key: 'sender', value: 100, timestampMs: 1_000 },
    { topic: 'in', key: 'sender', value: 50, timestampMs: 5_000 },
    { topic: 'in', key: 'sender', value: 25, timestampMs: 11_000 },
    { topic: 'in', key: 'sender', value: 10, timestampMs: 11_000 },
    { topic: 'in', key: 'sender', value: 1, timestampMs: 15_001 },
  ],
  // 1000:100 | 5000:150 | 11000: 100+50+25 | 11000: +10 | 15001: 25+10+1 (1000 and 5000 slid out)
  expected: { out: { sender: [100n, 150n, 175n, 185n, 36n] } },
};

const punctuation: Scenario = {
  rule: 'stream-time punctuation fires after the record that reaches the next interval boundary, once even when stream time jumps several intervals, and out-of-order records do not move it back',
  partitions: 1,
  topology: (app) =>
    single(
      app,
      1,
      {
        name: 'ticker',
        inputs: [`${app}-in`],
        outputs: [`${app}-ticks`],
        stores: [{ kind: 'kv', name: 'seen', maxEntries: 100 }],
        punctuators: [
          {
            type: 'stream-time',
            intervalMs: 60_000,
            punctuate(context, timestampMs) {
              const seen = context.keyValueStore<number>('seen');
              const count = seen.get('count') ?? 0;
              seen.put('count', 0);
              context.forward({
                topic: `${app}-ticks`,
                key: 'tick',
                value: { at: timestampMs, records: count },
              });
            },
          },
        ],
        process(_record, context) {
          const seen = context.keyValueStore<number>('seen');
          seen.put('count', (seen.get('count') ?? 0) + 1);
        },
      },
      'in',
      'ticks',
    ),
  inputs: [10_000, 30_000, 61_000, 70_000, 59_000, 185_000].map((timestampMs) => ({
    topic: 'in',
    key: 'x',
    value: 0,
    timestampMs,
  })),
  expected: {
    ticks: {
      tick: [
        { at: 61_000, records: 3 },
        { at: 185_000, records: 3 },
      ],
    },
  },
};

const chain: Scenario = {
  rule: 'a chain of processors re-keys records through an intermediate topic and keeps per-key order',
  partitions: 3,
  topology: (app) => ({
    applicationId: app,
    topics: topicsOf(app, 3, 'orders', 'by-customer', 'totals'),
    deadLetterTopic: `${app}-dlq`,
    processors: [
      {
        name: 'rekey',
        inputs: [`${app}-orders`],
        outputs: [`${app}-by-customer`],
        stores: [],
        process(record, context) {
          const order = record.value as { customer: string; amount: number };
          context.forward({ topic: `${app}-by-customer`, key: order.customer, value: order.amount });
        },
      },
      {
        name: 'total',
        inputs: [`${app}-by-customer`],
        outputs: [`${app}-totals`],
        stores: [{ kind: 'kv', name: 'totals', maxEntries: 100 }],
        process(record, context) {
          const totals = context.keyValueStore<number>('totals');
          const next = (totals.get(record.key) ?? 0) + (record.value as number);
          totals.put(record.key, next);
          context.forward({ topic: `${app}-totals`, key: record.key, value: next });
        },
      },
    ],
  }),
  // Orders arrive keyed by customer number (c1, c2) and are re-keyed by customer name.
  inputs: [
    { topic: 'orders', key: 'c1', value: { customer: 'alice', amount: 10 }, timestampMs: 1 },
    { topic: 'orders', key: 'c1', value: { customer: 'alice', amount: 5 }, timestampMs: 2 },
    { topic: 'orders', key: 'c2', value: { customer: 'bob', amount: 7 }, timestampMs: 3 },
    { topic: 'orders', key: 'c1', value: { customer: 'alice', amount: 1 }, timestampMs: 4 },
    { topic: 'orders', key: 'c2', value: { customer: 'bob', amount: 3 }, timestampMs: 5 },
  ],
  expected: { totals: { alice: [10, 15, 16], bob: [7, 10] } },
};

/**
 * A processor that fails on purpose, by the value it reads: `bad` is refused as bad data;
 * `timeout` meets an unreachable partner once (infrastructure), then goes through.
 */
const failing = (app: string): Processor => {
  let timeoutsLeft = 1;
  return {
    name: 'picky',
    inputs: [`${app}-in`],
    outputs: [`${app}-out`],
    stores: [{ kind: 'kv', name: 'count', maxEntries: 100 }],
    process(record, context) {
      const count = context.keyValueStore<number>('count');
      count.put('n', (count.get('n') ?? 0) + 1);
      const value = record.value as { fail?: 'bad' | 'timeout' };
      if (value.fail === 'bad') throw new BadRecordError('UNAPPLICABLE', 'amount field missing');
      if (value.fail === 'timeout' && timeoutsLeft > 0) {
        timeoutsLeft -= 1;
        throw new RetriableError('bank did not answer within 2000 ms');
      }
      context.forward({ topic: `${app}-out`, key: record.key, value: count.get('n') });
    },
  };
};

const deadLetters: Scenario = {
  rule: 'undecodable records and records the processor refuses as bad data go to the dead-letter topic with their code; an infrastructure failure is retried, never dead-lettered; the partition moves on and the failed records leave no state behind',
  partitions: 1,
  topology: (app) => single(app, 1, failing(app), 'in', 'out'),
  inputs: [
    { topic: 'in', key: 'a', value: {}, timestampMs: 1 },
    {
      topic: 'in',
      key: 'b',
      raw: Buffer.from('{not json'),
      timestampMs: 2,
      headers: { [HEADER.correlationId]: 'corr-b' },
    },
    { topic: 'in', key: 'c', value: { fail: 'bad' }, timestampMs: 3 },
    { topic: 'in', key: 'd', value: { fail: 'timeout' }, timestampMs: 4 },
    { topic: 'in', key: 'e', value: {}, timestampMs: 5 },
  ],
  // Failed tries' store writes are undone: d (after its retry) sees count 2, e 3 — not 5.
  expected: { out: { a: [1], d: [2], e: [3] } },
  check(observed, app) {
    const dlq = observed.get(`${app}-dlq`) ?? [];
    const summary = dlq.map((r) => [
      r.key,
      r.headers[HEADER.dlqErrorCode],
      r.headers[HEADER.dlqProcessor],
      r.headers[HEADER.dlqSourceTopic],
      r.headers[HEADER.dlqSourceOffset],
    ]);
    const expectedSummary = [
      ['b', 'UNDECODABLE', 'picky', `${app}-in`, '1'],
      ['c', 'UNAPPLICABLE', 'picky', `${app}-in`, '2'],
    ];
    if (JSON.stringify(summary) !== JSON.stringify(expectedSummary)) {
      throw new Error(`dead letters ${JSON.stringify(summary)} != ${JSON.stringify(expectedSummary)}`);
    }
    const reasons = dlq.map((r) => r.headers[HEADER.dlqReason] ?? '');
    if (!reasons[1]?.includes('amount field missing')) {
      throw new Error(`dead-letter reasons lack the error: ${JSON.stringify(reasons)}`);
    }
    if (dlq[0]?.headers[HEADER.correlationId] !== 'corr-b')
      throw new Error('the dead letter lost the correlation id');
  },
};

export const SCENARIOS: readonly Scenario[] = [
  runningSum,
  tumbling,
  hopping,
  sliding,
  punctuation,
  chain,
  deadLetters,
];

/** Groups a topic's records by key, in order. */
export function byKey(records: readonly ObservedRecord[]): Record<string, unknown[]> {
  const grouped: Record<string, unknown[]> = {};
  for (const record of records) (grouped[record.key] ??= []).push(record.value);
  return grouped;
}

/** Fast retries for the suite: the backoff is proven, not waited for. */
export const SUITE_RETRY = { maxRetries: 2, initialDelayMs: 5, maxDelayMs: 20 } as const;
