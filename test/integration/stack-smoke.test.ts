/**
 * Smoke tests of the real stack: each proves a round trip through one real server with the
 * client library PayFlow uses for it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { Client as ElasticsearchClient } from '@elastic/elasticsearch';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Kafka, logLevel } from 'kafkajs';
import { Redis } from 'ioredis';
import pg from 'pg';
import { tableFromArrays, tableFromIPC, tableToIPC, type Int64, type Utf8 } from 'apache-arrow';
import {
  readParquet,
  Table as WasmTable,
  writeParquet,
  WriterPropertiesBuilder,
  Compression,
} from 'parquet-wasm/node';

import { retryTopicMetadataRace } from '../../topics/create.js';
import { stackEnv, uniqueName } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;
const stack = 'skip' in env ? undefined : env;

const paymentSchemaV1 = {
  type: 'record',
  name: 'SmokePayment',
  namespace: 'payflow.smoke',
  fields: [
    { name: 'paymentId', type: 'string' },
    { name: 'amountMinor', type: 'long' },
    { name: 'currency', type: 'string' },
  ],
};

describe('Kafka and the schema registry', { skip }, () => {
  const kafka = () =>
    new Kafka({ clientId: 'payflow-smoke', brokers: stack!.kafkaBrokers, logLevel: logLevel.WARN });

  test('an Avro record produced in a committed transaction is read by a read_committed consumer, and an aborted one is not', async () => {
    const topic = uniqueName('smoke-payments');
    const registry = new SchemaRegistry({ host: stack!.schemaRegistryUrl });
    const { id } = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(paymentSchemaV1) },
      { subject: `${topic}-value`, compatibility: COMPATIBILITY.BACKWARD },
    );
    const client = kafka();
    const admin = client.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    await admin.disconnect();

    const producer = client.producer({
      transactionalId: uniqueName('smoke-tx'),
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    const aborted = await producer.transaction();
    await aborted.send({
      topic,
      messages: [
        {
          key: 'p-aborted',
          value: await registry.encode(id, { paymentId: 'p-aborted', amountMinor: 1, currency: 'EUR' }),
        },
      ],
    });
    await aborted.abort();
    const committed = await producer.transaction();
    await committed.send({
      topic,
      messages: [
        {
          key: 'p-1',
          value: await registry.encode(id, { paymentId: 'p-1', amountMinor: 12_345, currency: 'EUR' }),
        },
      ],
    });
    await committed.commit();
    await producer.disconnect();

    const consumer = client.consumer({ groupId: uniqueName('smoke-group'), readUncommitted: false });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const seen: unknown[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no committed record within 20 s')), 20_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          seen.push({ ...(await registry.decode(message.value!)) });
          clearTimeout(timer);
          resolve();
        },
      });
    });
    // Give an aborted record that (wrongly) leaked a chance to arrive before asserting.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await consumer.disconnect();
    assert.deepEqual(seen, [{ paymentId: 'p-1', amountMinor: 12_345, currency: 'EUR' }]);
  });

  test('the registry refuses a schema change that breaks BACKWARD compatibility and accepts one that keeps it', async () => {
    const subject = `${uniqueName('smoke-compat')}-value`;
    const registry = new SchemaRegistry({ host: stack!.schemaRegistryUrl });
    await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(paymentSchemaV1) },
      { subject, compatibility: COMPATIBILITY.BACKWARD },
    );
    const breaking = {
      ...paymentSchemaV1,
      fields: [...paymentSchemaV1.fields, { name: 'merchantId', type: 'string' }],
    };
    await assert.rejects(
      registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(breaking) }, { subject }),
      /compatib|409|incompatible/i,
    );
    const compatible = {
      ...paymentSchemaV1,
      fields: [...paymentSchemaV1.fields, { name: 'merchantId', type: ['null', 'string'], default: null }],
    };
    const { id } = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(compatible) },
      { subject },
    );
    const decoded: unknown = await registry.decode(
      await registry.encode(id, { paymentId: 'p-2', amountMinor: 7, currency: 'USD', merchantId: null }),
    );
    assert.deepEqual(
      { ...(decoded as object) },
      { paymentId: 'p-2', amountMinor: 7, currency: 'USD', merchantId: null },
    );
  });

  test('a compacted topic keeps the latest value per key once the cleaner runs', async () => {
    const topic = uniqueName('smoke-compacted');
    const admin = kafka().admin();
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
      waitForLeaders: true,
    });
    // Read right after creating: the broker may not know the topic yet.
    const configs = await retryTopicMetadataRace(() =>
      admin.describeConfigs({
        resources: [{ type: 2 /* TOPIC */, name: topic, configNames: ['cleanup.policy'] }],
        includeSynonyms: false,
      }),
    );
    await admin.disconnect();
    assert.equal(configs.resources[0]?.configEntries[0]?.configValue, 'compact');
  });
});

describe('PostgreSQL', { skip }, () => {
  test('a row written in a transaction is read back exactly, with a bigint amount intact', async () => {
    const client = new pg.Client({ connectionString: stack!.postgresUrl, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      const table = uniqueName('smoke').replace(/-/g, '_');
      await client.query(`CREATE TABLE ${table} (payment_id text PRIMARY KEY, amount_minor bigint NOT NULL)`);
      await client.query('BEGIN');
      await client.query(`INSERT INTO ${table} VALUES ($1, $2)`, ['p-1', '9007199254740993']);
      await client.query('COMMIT');
      const { rows } = await client.query<{ payment_id: string; amount_minor: string }>(
        `SELECT * FROM ${table}`,
      );
      assert.deepEqual(rows, [{ payment_id: 'p-1', amount_minor: '9007199254740993' }]);
      await client.query(`DROP TABLE ${table}`);
    } finally {
      await client.end();
    }
  });
});

describe('Redis', { skip }, () => {
  test('a key set with a TTL is read back and expires on the server', async () => {
    const redis = new Redis(stack!.redisUrl, { commandTimeout: 2000, maxRetriesPerRequest: 1 });
    try {
      const key = uniqueName('smoke:idem');
      assert.equal(await redis.set(key, 'in-flight', 'PX', 60_000, 'NX'), 'OK');
      assert.equal(await redis.set(key, 'other', 'PX', 60_000, 'NX'), null);
      assert.equal(await redis.get(key), 'in-flight');
      const ttl = await redis.pttl(key);
      assert.ok(ttl > 0 && ttl <= 60_000, `ttl ${ttl}`);
    } finally {
      redis.disconnect();
    }
  });
});

describe('Elasticsearch', { skip }, () => {
  test('a document indexed is found by a search on a keyword field and a text field', async () => {
    const es = new ElasticsearchClient({ node: stack!.elasticsearchUrl, requestTimeout: 10_000 });
    const index = uniqueName('smoke-transactions');
    await es.indices.create({
      index,
      mappings: {
        properties: {
          paymentId: { type: 'keyword' },
          reference: { type: 'text' },
          amountMinor: { type: 'long' },
          occurredAt: { type: 'date' },
        },
      },
    });
    await es.index({
      index,
      id: 'p-1',
      document: {
        paymentId: 'p-1',
        reference: 'Rent for November',
        amountMinor: 150_000,
        occurredAt: new Date().toISOString(),
      },
      refresh: 'wait_for',
    });
    const byId = await es.search({ index, query: { term: { paymentId: 'p-1' } } });
    const byText = await es.search({ index, query: { match: { reference: 'november' } } });
    await es.indices.delete({ index });
    await es.close();
    assert.equal(byId.hits.hits[0]?._id, 'p-1');
    assert.equal(byText.hits.hits[0]?._id, 'p-1');
  });
});

describe('S3 object store', { skip }, () => {
  let s3: S3Client;
  const bucket = uniqueName('smoke-archive');

  before(async () => {
    s3 = new S3Client({
      endpoint: stack!.s3.endpoint,
      region: stack!.s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: stack!.s3.accessKeyId, secretAccessKey: stack!.s3.secretAccessKey },
      requestHandler: { requestTimeout: 10_000 },
    });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  after(() => s3.destroy());

  test('a Parquet file put with the default checksums is read back with the same rows and exact int64 amounts', async () => {
    const arrow = tableFromArrays({
      payment_id: ['p-1', 'p-2'],
      amount_minor: BigInt64Array.from([9_007_199_254_740_993n, 250n]),
      currency: ['EUR', 'SAR'],
    });
    const properties = new WriterPropertiesBuilder().setCompression(Compression.SNAPPY).build();
    const parquet = writeParquet(WasmTable.fromIPCStream(tableToIPC(arrow, 'stream')), properties);
    const key = 'dt=2026-11-25/hour=06/part-0000.parquet';
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: parquet }));

    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const bytes = await object.Body!.transformToByteArray();
    assert.equal(bytes.subarray(0, 4).toString(), [80, 65, 82, 49].toString(), 'starts with the PAR1 magic');
    const back = tableFromIPC<{ payment_id: Utf8; amount_minor: Int64; currency: Utf8 }>(
      readParquet(bytes).intoIPCStream(),
    );
    assert.deepEqual(
      back.toArray().map((row: { toJSON(): object }) => ({ ...row.toJSON() })),
      [
        { payment_id: 'p-1', amount_minor: 9_007_199_254_740_993n, currency: 'EUR' },
        { payment_id: 'p-2', amount_minor: 250n, currency: 'SAR' },
      ],
    );
  });

  test('a multipart upload of two parts is assembled into one object', async () => {
    const key = 'multipart/object.bin';
    const partOne = Buffer.alloc(5 * 1024 * 1024, 1); // S3's minimum size for every part but the last
    const partTwo = Buffer.from('tail');
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const etags: string[] = [];
    for (const [index, body] of [partOne, partTwo].entries()) {
      const part = await s3.send(
        new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: index + 1, Body: body }),
      );
      etags.push(part.ETag!);
    }
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: etags.map((ETag, index) => ({ ETag, PartNumber: index + 1 })) },
      }),
    );
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const bytes = Buffer.from(await object.Body!.transformToByteArray());
    assert.equal(bytes.length, partOne.length + partTwo.length);
    assert.equal(bytes.subarray(-4).toString(), 'tail');
  });
});
