/**
 * The read_committed check, per client: transactional producers of that client write records
 * and abort, interleaved (two open transactions of different producers, then one more after a
 * committed one), and commit others; read_committed consumers of that client, started at every
 * offset up to the last committed record, must deliver exactly the committed records from there
 * on. A fetch that starts inside two aborted transactions is the case where kafkajs' filter
 * delivered an aborted record (processors/runtime/kafka/read-committed.ts).
 */
import { withTimeout } from '../limits.js';
import type { ClientAdapter, InRecord, OutRecord, ReadCommittedResult } from './types.js';

const record = (key: string): OutRecord => ({
  partition: 0,
  key: Buffer.from(key),
  value: Buffer.from(JSON.stringify({ key })),
  headers: [],
  timestamp: Date.now(),
});

const LAST = 'committed-c3';

async function writeLayout(
  adapter: ClientAdapter,
  brokers: readonly string[],
  topic: string,
  prefix: string,
) {
  const [a, b, c] = await Promise.all(
    ['a', 'b', 'c'].map((id) => adapter.producer(brokers, `${prefix}-${id}`)),
  );
  try {
    await a!.begin();
    await a!.send(topic, [record('aborted-a0')]);
    await b!.begin();
    await b!.send(topic, [record('aborted-b0')]);
    await a!.send(topic, [record('aborted-a1')]);
    await b!.send(topic, [record('aborted-b1')]);
    await a!.abort();
    await b!.abort();
    await c!.begin();
    await c!.send(topic, ['committed-c0', 'committed-c1', 'committed-c2'].map(record));
    await c!.commit();
    await a!.begin();
    await a!.send(topic, [record('aborted-a2')]);
    await a!.abort();
    await c!.begin();
    await c!.send(topic, [record(LAST)]);
    await c!.commit();
  } finally {
    for (const producer of [a, b, c]) await producer!.close().catch(() => undefined);
  }
}

interface Delivered {
  readonly key: string;
  readonly offset: number;
}

/** What a read_committed consumer starting at `offset` delivers, up to the last committed record. */
async function readFrom(
  adapter: ClientAdapter,
  brokers: readonly string[],
  topic: string,
  groupId: string,
  offset: number,
): Promise<Delivered[]> {
  const delivered: Delivered[] = [];
  let seenLast: () => void = () => undefined;
  const last = new Promise<void>((resolve) => (seenLast = resolve));
  const onRecords = (records: readonly InRecord[]): Promise<void> => {
    for (const r of records) {
      const key = r.key?.toString('utf8') ?? '';
      delivered.push({ key, offset: Number(r.offset) });
      if (key === LAST) seenLast();
    }
    return Promise.resolve();
  };
  const consumer = await adapter.consumer(
    brokers,
    topic,
    groupId,
    offset === 0 ? 'earliest' : { partition: 0, offset },
    onRecords,
  );
  try {
    await withTimeout(last, 30_000, `a consumer from offset ${offset} reaching ${LAST}`);
  } finally {
    await consumer.stop().catch(() => undefined);
  }
  // A client may deliver from its default position before the seek applies: only what lies at
  // or after the start offset counts.
  return delivered.filter((d) => d.offset >= offset);
}

export async function checkReadCommitted(
  adapter: ClientAdapter,
  brokers: readonly string[],
  topic: string,
  groupPrefix: string,
  transactionalIdPrefix: string,
): Promise<ReadCommittedResult> {
  await writeLayout(adapter, brokers, topic, transactionalIdPrefix);
  const reference = await readFrom(adapter, brokers, topic, `${groupPrefix}-0`, 0);
  const keys = reference.map((d) => d.key).join(',');
  const expected = ['committed-c0', 'committed-c1', 'committed-c2', LAST].join(',');
  if (keys !== expected)
    return {
      passed: false,
      detail: `from offset 0 a read_committed consumer got ${keys}, expected ${expected}`,
    };
  const lastOffset = reference.at(-1)!.offset;
  const starts = Array.from({ length: lastOffset }, (_, i) => i + 1);
  const results = await Promise.all(
    starts.map((start) => readFrom(adapter, brokers, topic, `${groupPrefix}-${start}`, start)),
  );
  const problems: string[] = [];
  results.forEach((got, i) => {
    const start = starts[i]!;
    const want = reference.filter((d) => d.offset >= start).map((d) => `${d.key}@${d.offset}`);
    const have = got.map((d) => `${d.key}@${d.offset}`);
    if (have.join() !== want.join()) problems.push(`from offset ${start}: got ${have.join(' ')}`);
  });
  return problems.length === 0
    ? {
        passed: true,
        detail: `${starts.length + 1} consumers (from offsets 0–${lastOffset}) got exactly the 4 committed of 9 records`,
      }
    : { passed: false, detail: problems.join('; ') };
}
