/** A client's producer as the comparison uses it: plain sends, or sends inside the open transaction. */
import type { OutRecord, TestProducer } from './types.js';

interface OpenTransaction {
  commit(): Promise<unknown>;
  abort(): Promise<unknown>;
}

export function testProducer<T extends OpenTransaction>(client: {
  readonly send: (
    transaction: T | undefined,
    topic: string,
    records: readonly OutRecord[],
  ) => Promise<unknown>;
  readonly begin: () => Promise<T>;
  readonly close: () => Promise<void>;
}): TestProducer {
  let transaction: T | undefined;
  const end = async (how: 'commit' | 'abort') => {
    await transaction?.[how]();
    transaction = undefined;
  };
  return {
    async send(topic, records) {
      await client.send(transaction, topic, records);
    },
    async begin() {
      transaction = await client.begin();
    },
    commit: () => end('commit'),
    abort: () => end('abort'),
    close: client.close,
  };
}
