/**
 * Rebuilding the Elasticsearch transactions index from the log against the real Kafka and
 * Elasticsearch: while the live projection keeps consuming and payments keep arriving, the
 * rebuild fills an index of its own from the beginning, write-blocks the live index for the
 * hand-over (the live projection retries, dead-letters nothing), moves the alias, and the
 * documents end equal to the live ones and to the fold of the log; the live projection goes on
 * writing into the new index. The same from an index that predates the alias, and a hand-over
 * that times out swaps nothing and leaves the live index writable. Each test has its own topic
 * and index name.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Client } from '@elastic/elasticsearch';
import { Kafka, logLevel, type Producer } from 'kafkajs';

import { isUnreachableReadSide } from '../../app/read-side.js';
import { RetriableError } from '../../processors/runtime/api.js';
import {
  rebuildTransactionsIndex,
  type TransactionsRebuildOptions,
} from '../../projections/elasticsearch/rebuild.js';
import {
  BulkWriteError,
  ElasticsearchTransactionsProjection,
  transactionDocument,
  TRANSACTIONS_MAPPINGS,
} from '../../projections/elasticsearch/transactions.js';
import { runKafkaProjection, type RunningProjection } from '../../projections/kafka-runner.js';
import { replayPayment } from '../../projections/payment-view.js';
import { RebuildTimeoutError } from '../../projections/rebuild.js';
import { decodeJsonEvent as decodeJson } from '../support/json-events.js';
import { paymentRecords, WAIT_MS } from '../support/rebuild-fixture.js';
import { stackEnv, uniqueName } from '../support/stack.js';
import { until as untilWithin } from '../support/until.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;
const until = (condition: () => Promise<boolean>, what: string) => untilWithin(condition, what, WAIT_MS);

interface StoredDocument {
  readonly version: number | undefined;
  readonly source: unknown;
}

interface Live {
  readonly deadLetters: string[];
  /** Writes the live projection retried because the index was write-blocked. */
  blockedWrites: number;
}

describe('projections rebuild (Elasticsearch)', { skip }, () => {
  let kafka: Kafka;
  let client: Client;
  const running: RunningProjection[] = [];
  const names: string[] = [];

  before(() => {
    if ('skip' in env) return;
    kafka = new Kafka({ clientId: 'es-rebuild-test', brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING });
    client = new Client({ node: env.elasticsearchUrl, requestTimeout: 30_000, maxRetries: 1 });
  });
  after(async () => {
    for (const projection of running) await projection.disconnect();
    // Every index of a test is named after its alias.
    for (const name of names) await client?.indices.delete({ index: `${name}*` }).catch(() => undefined);
    await client?.close();
  });

  async function newTopic(): Promise<string> {
    const topic = uniqueName('payments-events-es-rebuild');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    await admin.disconnect();
    return topic;
  }

  /** The live projection as app/read-side.ts runs it: its retry rule, its own group. */
  async function startLive(topic: string, alias: string): Promise<Live> {
    const live: Live = { deadLetters: [], blockedWrites: 0 };
    running.push(
      await runKafkaProjection({
        kafka,
        groupId: `${topic}.live`,
        topic,
        decode: decodeJson,
        sink: new ElasticsearchTransactionsProjection(client, alias),
        isUnreachable: isUnreachableReadSide,
        retry: { initialDelayMs: 100, maxDelayMs: 1_000 },
        deadLetter: (_message, _partition, reason) => {
          live.deadLetters.push(reason.message);
          return Promise.resolve();
        },
        onSinkError: (error) => {
          if (
            error instanceof BulkWriteError &&
            error.items.some((i) => i.type === 'cluster_block_exception')
          )
            live.blockedWrites += 1;
        },
      }),
    );
    return live;
  }

  const ids = (prefix: string, from: number, to: number) =>
    Array.from({ length: to - from }, (_, i) => `${prefix}-${String(from + i).padStart(5, '0')}`);
  const indexOf = (id: string) => Number(id.slice(id.lastIndexOf('-') + 1));

  async function send(producer: Producer, topic: string, paymentIds: readonly string[]): Promise<void> {
    for (let start = 0; start < paymentIds.length; start += 500)
      await producer.send({
        topic,
        messages: paymentIds.slice(start, start + 500).flatMap((id) => paymentRecords(id, indexOf(id))),
      });
  }

  /** Payments sent one at a time until stopped, as traffic during the rebuild. */
  function keepSending(producer: Producer, topic: string, prefix: string, from: number) {
    const sent: string[] = [];
    let sending = true;
    const done = (async () => {
      for (let i = from; sending && i < from + 3_000; i += 1) {
        const [id] = ids(prefix, i, i + 1);
        await send(producer, topic, [id!]);
        sent.push(id!);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    return {
      sent,
      stop: async () => {
        sending = false;
        await done;
      },
    };
  }

  async function count(index: string): Promise<number> {
    await client.indices.refresh({ index });
    return (await client.count({ index })).count;
  }

  async function documents(
    index: string,
    paymentIds: readonly string[],
  ): Promise<Map<string, StoredDocument>> {
    const found = new Map<string, StoredDocument>();
    for (let start = 0; start < paymentIds.length; start += 1_000) {
      const response = await client.mget({ index, ids: paymentIds.slice(start, start + 1_000) });
      for (const doc of response.docs)
        if ('found' in doc && doc.found) found.set(doc._id, { version: doc._version, source: doc._source });
    }
    return found;
  }

  /** What the projection must hold for a payment: the fold of its events, as a stored document. */
  async function expected(paymentId: string): Promise<StoredDocument> {
    const events = await Promise.all(
      paymentRecords(paymentId, indexOf(paymentId)).map((record) =>
        decodeJson({ value: Buffer.from(record.value) } as never),
      ),
    );
    const view = replayPayment(events)!;
    return { version: 2, source: JSON.parse(JSON.stringify(transactionDocument(view))) as unknown };
  }

  async function assertFoldOfTheLog(index: string, paymentIds: readonly string[]): Promise<void> {
    const stored = await documents(index, paymentIds);
    assert.equal(stored.size, paymentIds.length, `${index} has every payment`);
    for (const id of paymentIds)
      assert.deepEqual(stored.get(id), await expected(id), `the document of ${id}`);
  }

  const aliasTargets = async (alias: string) => Object.keys(await client.indices.getAlias({ name: alias }));
  const writeBlock = async (index: string) => {
    const settings = await client.indices.getSettings({ index });
    return settings[index]?.settings?.index?.blocks?.write;
  };

  const rebuild = (topic: string, alias: string, overrides: Partial<TransactionsRebuildOptions> = {}) =>
    rebuildTransactionsIndex({
      kafka,
      client,
      alias,
      topic,
      groupPrefix: `${topic}.live`,
      decode: decodeJson,
      isUnreachable: isUnreachableReadSide,
      catchUpTimeoutMs: WAIT_MS,
      swapTimeoutMs: 20_000,
      blockTimeoutMs: 10_000,
      log: () => undefined,
      ...overrides,
    });

  /**
   * A topic with `payments` payments, an index name (an alias, or with `legacy` a concrete index
   * as the versions before the alias created it) and its live projection caught up.
   */
  async function deployment(name: string, payments: number, legacy = false) {
    const topic = await newTopic();
    const alias = uniqueName(`transactions-${name}`);
    names.push(alias);
    if (legacy) await client.indices.create({ index: alias, mappings: TRANSACTIONS_MAPPINGS });
    await new ElasticsearchTransactionsProjection(client, alias).migrate();
    const prefix = uniqueName(name);
    const initial = ids(prefix, 0, payments);
    const producer = kafka.producer();
    await producer.connect();
    await send(producer, topic, initial);
    const live = await startLive(topic, alias);
    await until(
      async () => (await count(alias)) === initial.length,
      `the live index to have ${payments} payments`,
    );
    return { topic, alias, prefix, initial, producer, live };
  }

  /** Sends one more payment and waits until the live projection has it under `alias`. */
  async function writtenAfterTheSwap(producer: Producer, topic: string, alias: string, prefix: string) {
    const [late] = ids(`${prefix}-late`, 4, 5);
    await send(producer, topic, [late!]);
    await producer.disconnect();
    const search = new ElasticsearchTransactionsProjection(client, alias);
    await until(
      async () => (await search.getPayment(late!)) !== undefined,
      'the live projection after the swap',
    );
    return late!;
  }

  test('a rebuild run while the live projection consumes and payments arrive swaps in an index equal to the live one, dead-letters nothing, and the live projection writes into it afterwards', async (t) => {
    const { topic, alias, prefix, initial, producer, live } = await deployment('rebuilt', 1_200);
    const original = await documents(alias, initial);

    const traffic = keepSending(producer, topic, prefix, initial.length);
    const progress: string[] = [];
    const at = new Map<string, number>();
    const result = await rebuild(topic, alias, {
      log: (message) => {
        progress.push(message);
        at.set(message, Date.now());
      },
    }).finally(traffic.stop);
    assert.equal(progress[0], 'rebuild started');
    assert.ok(progress.includes('live index write-blocked; following the log to its end'));
    assert.equal(progress.at(-1), 'rebuild swapped in');
    assert.deepEqual(await aliasTargets(alias), [result.index], 'the alias points at the rebuilt index');
    assert.equal(result.retiredIndex, `${alias}-v1`);
    assert.equal(result.skipped, 0);
    assert.equal(await writeBlock(result.retiredIndex), undefined, 'the retired index has no write block');

    // Everything sent, before and during the rebuild, is in the new index, through the alias.
    const all = [...initial, ...traffic.sent];
    await until(async () => (await count(alias)) === all.length, 'every payment in the rebuilt index');
    await assertFoldOfTheLog(alias, all);
    const rebuilt = await documents(result.index, initial);
    for (const id of initial)
      assert.deepEqual(rebuilt.get(id), original.get(id), `${id} as before the rebuild`);
    // The retired index holds what the live projection had written until the hand-over.
    const retired = await documents(result.retiredIndex, all);
    for (const [id, doc] of retired) {
      const now = rebuilt.get(id) ?? (await documents(alias, [id])).get(id)!;
      if (doc.version === now.version) assert.deepEqual(doc, now, `retired ${id}`);
      else assert.ok((doc.version ?? 0) < (now.version ?? 0), `retired ${id} is an earlier state`);
    }
    for (const id of initial) assert.deepEqual(retired.get(id), original.get(id), `retired ${id}`);
    assert.deepEqual(live.deadLetters, [], 'the live projection dead-lettered nothing');
    t.diagnostic(
      `${traffic.sent.length} payments sent during the rebuild; the hand-over from the write block to the end of the rebuild took ` +
        `${at.get('rebuild swapped in')! - at.get('live index write-blocked; following the log to its end')!} ms; ` +
        `the live projection retried ${live.blockedWrites} write(s) refused by the write block`,
    );

    // The live projection goes on writing into the rebuilt index.
    const late = await writtenAfterTheSwap(producer, topic, alias, prefix);
    assert.equal((await documents(result.retiredIndex, [late])).size, 0, 'not in the retired index');
    const page = await new ElasticsearchTransactionsProjection(client, alias).accountPayments({
      accountId: 'acc-3',
      limit: 5,
    });
    assert.equal(page.length, 5, 'history answers from the rebuilt index');
  });

  test('an index from before the alias is replaced by the rebuild: the name becomes an alias of the rebuilt index, the old documents are kept in a retired copy', async () => {
    const { topic, alias, prefix, initial: payments, producer, live } = await deployment('legacy', 300, true);
    const original = await documents(alias, payments);

    const result = await rebuild(topic, alias, { suffix: `s${Date.now()}` });
    assert.deepEqual(
      await aliasTargets(alias),
      [result.index],
      'the name is now an alias of the rebuilt index',
    );
    assert.match(result.retiredIndex, new RegExp(`^${alias}-retired-s\\d+$`));
    assert.deepEqual(await documents(result.retiredIndex, payments), original, 'the retired copy');
    assert.equal(await writeBlock(result.retiredIndex), undefined, 'the retired copy has no write block');
    assert.deepEqual(await documents(alias, payments), original, 'the rebuilt index, through the alias');
    await assertFoldOfTheLog(alias, payments);

    await writtenAfterTheSwap(producer, topic, alias, prefix);
    assert.deepEqual(live.deadLetters, []);
  });

  test('a hand-over that does not reach the log end in time swaps nothing: the write block is lifted, the new index deleted, and the live projection writes what waited', async () => {
    const { topic, alias, prefix, initial: payments, producer, live } = await deployment('timeout', 300);

    // Caught up with the start offsets, the rebuild reads nothing more (as with the registry out
    // of reach) while payments keep arriving: it can't reach the log end under the write block.
    let caughtUp = false;
    const suffix = `t${Date.now()}`;
    const traffic = keepSending(producer, topic, prefix, payments.length);
    const failed = rebuild(topic, alias, {
      suffix,
      swapTimeoutMs: 1_500,
      decode: (message) =>
        caughtUp ? Promise.reject(new RetriableError('registry unreachable')) : decodeJson(message),
      log: (message) => {
        if (message.startsWith('rebuild caught up with the start offsets')) caughtUp = true;
      },
    });
    await assert.rejects(
      failed,
      (error) => error instanceof RebuildTimeoutError && /^swap:/.test(error.message),
    );
    await traffic.stop();

    assert.deepEqual(await aliasTargets(alias), [`${alias}-v1`], 'the alias still points at the live index');
    assert.equal(
      await client.indices.exists({ index: `${alias}-${suffix}` }),
      false,
      'the new index is deleted',
    );
    assert.equal(await writeBlock(`${alias}-v1`), undefined, 'the live index has no write block');
    assert.ok(live.blockedWrites > 0, 'the live projection met the write block and retried');
    const all = [...payments, ...traffic.sent];
    await until(async () => (await count(alias)) === all.length, 'the live projection to write what waited');
    await assertFoldOfTheLog(alias, all);
    assert.deepEqual(live.deadLetters, [], 'the live projection dead-lettered nothing');
    await producer.disconnect();
  });

  test('a rebuild refuses to start while the live index is write-blocked (another hand-over, or a killed one) and creates nothing', async () => {
    const alias = uniqueName('transactions-blocked');
    names.push(alias);
    await new ElasticsearchTransactionsProjection(client, alias).migrate();
    await client.indices.addBlock({ index: `${alias}-v1`, block: 'write' });
    await assert.rejects(
      rebuild(uniqueName('no-topic'), alias),
      /the live index .*-v1 is write-blocked: another rebuild is handing over/,
    );
    assert.deepEqual(Object.keys(await client.indices.get({ index: `${alias}*` })), [`${alias}-v1`]);
    assert.equal(await writeBlock(`${alias}-v1`), 'true', 'the block is left to its owner');
  });
});
