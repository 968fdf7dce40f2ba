import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ArchiveWriter, type S3ParquetArchive } from './archive.js';
import { planRuns, type ArchivedEvent } from './runs.js';

const HOUR_MS = 3_600_000;
const T0 = Date.parse('2026-11-30T22:00:00.000Z');

/** Offsets `from`..`to` (inclusive); the hour changes at offset `hourAt`. */
function records(from: number, to: number, hourAt: number): ArchivedEvent[] {
  const out: ArchivedEvent[] = [];
  for (let offset = from; offset <= to; offset += 1)
    out.push({
      offset: BigInt(offset),
      event: {
        eventId: `e-${offset}`,
        paymentId: `p-${offset}`,
        type: 'PaymentInitiated',
        sequence: 0,
        occurredAtMs: T0 + (offset >= hourAt ? HOUR_MS : 0) + offset,
        correlationId: null,
      },
    });
  return out;
}

/** An archive keeping the rows last put per key (keyed by the run's first offset), with hooks to fail or hold a put. */
function fakeArchive(hooks: { beforePut?: (run: readonly ArchivedEvent[]) => Promise<void> } = {}) {
  const objects = new Map<string, bigint[]>();
  const archive = {
    fileOffsets: 10_000,
    keyOf: (partition: number, run: readonly ArchivedEvent[]) => `p${partition}-o${run[0]!.offset}`,
    writeRun: async (partition: number, run: readonly ArchivedEvent[]) => {
      const rows = run.map((r) => r.offset);
      await hooks.beforePut?.(run);
      const key = `p${partition}-o${run[0]!.offset}`;
      objects.set(key, rows);
      return key;
    },
  } as unknown as S3ParquetArchive;
  return { archive, objects };
}

describe('archive writer under failures', () => {
  it('a closing upload that fails and is retried (the runner retries an unreachable store) loses no row and names no other file', async () => {
    let failures = 1;
    const { archive, objects } = fakeArchive({
      beforePut: () => {
        if (failures === 0) return Promise.resolve();
        failures -= 1;
        return Promise.reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
      },
    });
    const writer = new ArchiveWriter(archive, {
      flushIntervalMs: 3_600_000,
      uploadOpenRuns: true,
      now: () => 0,
    });
    const log = records(0, 19, 10); // run A = 0..9, run B = 10..19
    await writer.apply(0, log.slice(0, 5));
    assert.equal(writer.advance(0, 5n).offset, 0n);
    const batch = log.slice(5, 15); // closes A
    await assert.rejects(writer.apply(0, batch));
    await writer.apply(0, batch); // the retry of the same batch
    const committed = writer.advance(0, 15n);
    await writer.flush(true);
    const expected = new Map(
      planRuns(log.slice(0, 15), 10_000).map((run) => [`p0-o${run[0]!.offset}`, run.map((r) => r.offset)]),
    );
    assert.deepEqual(
      objects,
      expected,
      `objects ${JSON.stringify([...objects].map(([k, v]) => [k, v.map(String)]))}, committed ${committed.offset}`,
    );
  });

  it('a timed flush that finishes after a rebalance took its partition away commits nothing for that partition', async () => {
    let release: () => void = () => undefined;
    let hold = false;
    const { archive } = fakeArchive({
      beforePut: () => (hold ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve()),
    });
    let clock = 0;
    const writer = new ArchiveWriter(archive, {
      flushIntervalMs: 10,
      uploadOpenRuns: true,
      now: () => clock,
    });
    await writer.apply(3, records(100, 150, 1_000));
    writer.advance(3, 151n);
    clock = 20;
    hold = true;
    const flushing = writer.flush();
    await new Promise((resolve) => setImmediate(resolve));
    writer.retain([]); // GROUP_JOIN: partition 3 now belongs to another member
    release();
    const changed = await flushing;
    assert.deepEqual(
      changed.filter((p) => p.partition === 3 && p.offset < 100n),
      [],
      `commits ${JSON.stringify(changed.map((p) => ({ ...p, offset: `${p.offset}`, archivedTo: `${p.archivedTo}` })))}`,
    );
  });
});
