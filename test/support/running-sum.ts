/**
 * A running sum per key, the stateful processor the exactly-once tests drive: for each input
 * record (key, integer) it emits (key, the sum of that key's values so far) and keeps the sums in
 * the `sums` store, written through to its changelog.
 */
import type { Processor, Serde, Topology } from '../../processors/runtime/api.js';

/** Integers as decimal text, so test tools can read the topics. */
export const decimalSerde: Serde<bigint> = {
  serialize: (value) => Buffer.from(value.toString()),
  deserialize: (bytes) => {
    const text = bytes.toString('utf8');
    if (!/^-?\d+$/.test(text)) throw new Error(`not an integer: ${JSON.stringify(text.slice(0, 40))}`);
    return BigInt(text);
  },
};

export function runningSum(input: string, output: string): Processor<bigint> {
  return {
    name: 'running-sum',
    inputs: [input],
    outputs: [output],
    stores: [{ kind: 'kv', name: 'sums', maxEntries: 100_000 }],
    process(record, context) {
      const sums = context.keyValueStore<bigint>('sums');
      const next = (sums.get(record.key) ?? 0n) + record.value;
      sums.put(record.key, next);
      context.forward({ topic: output, key: record.key, value: next });
    },
  };
}

export interface RunningSumApp {
  readonly applicationId: string;
  readonly input: string;
  readonly output: string;
}

export function runningSumTopology(app: RunningSumApp, partitions: number): Topology {
  return {
    applicationId: app.applicationId,
    topics: [
      { name: app.input, partitions, serde: decimalSerde },
      { name: app.output, partitions, serde: decimalSerde },
    ],
    processors: [runningSum(app.input, app.output)],
    deadLetterTopic: `${app.applicationId}-dlq`,
  };
}
