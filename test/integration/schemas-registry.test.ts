/**
 * The contracts against the real schema registry (Apicurio's Confluent-compatible API): subjects
 * are registered idempotently with BACKWARD compatibility, the registry refuses breaking
 * changes, and the wire-format serde round-trips through registered ids.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { SchemaType } from '@kafkajs/confluent-schema-registry';

import { paymentCommand } from '../../processors/test-fixtures.js';
import { AVRO, parseAvroSchema } from '../../schemas/avro.js';
import {
  createSchemaRegistry,
  registerSchemas,
  registryAvroSerde,
  SchemaRegistryError,
  valueSubject,
} from '../../schemas/registry.js';
import { topicCatalogue } from '../../topics/catalogue.js';
import { fetchWithRetryAfter } from '../support/http-retry.js';
import { stackEnv, uniqueName } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;
const stack = 'skip' in env ? undefined : env;

/** The catalogue under names no other run uses. */
function uniqueCatalogue() {
  const prefix = uniqueName('contracts');
  return topicCatalogue({}).map((topic) => ({ ...topic, name: `${prefix}.${topic.name}` }));
}

/** A command whose amount is beyond what a double holds exactly. */
const command = paymentCommand({
  amountMinor: 2n ** 62n + 7n,
  device: { id: 'pos-1', ip: '192.0.2.1' },
  reference: null,
});

async function compatibilityOf(subject: string): Promise<unknown> {
  const response = await fetchWithRetryAfter(
    `${stack!.schemaRegistryUrl}/config/${encodeURIComponent(subject)}`,
    {
      signal: AbortSignal.timeout(5_000),
    },
  );
  return ((await response.json()) as { compatibilityLevel?: unknown }).compatibilityLevel;
}

describe('schema registry', { skip }, () => {
  test('registering every schema of the catalogue twice gives the same ids, with BACKWARD compatibility on each subject', async () => {
    const catalogue = uniqueCatalogue();
    const first = await registerSchemas(stack!.schemaRegistryUrl, catalogue);
    const second = await registerSchemas(stack!.schemaRegistryUrl, catalogue);
    assert.deepEqual(second, first);
    const avroTopics = catalogue.filter((topic) => topic.value.kind === 'avro').map((topic) => topic.name);
    assert.deepEqual(
      first.map((registration) => registration.subject),
      avroTopics.map(valueSubject),
    );
    assert.ok(first.every((registration) => Number.isInteger(registration.id) && registration.id > 0));
    for (const { subject } of first) assert.equal(await compatibilityOf(subject), 'BACKWARD');
  });

  test('the registry refuses a new field without a default on a registered subject, and accepts one with a default', async () => {
    const [topic] = uniqueCatalogue();
    const [registered] = await registerSchemas(stack!.schemaRegistryUrl, [topic!]);
    const current = JSON.parse(AVRO.PaymentCommand.schemaText) as { fields: object[] };
    const breaking = {
      ...AVRO.PaymentCommand,
      schemaText: JSON.stringify({
        ...current,
        fields: [...current.fields, { name: 'merchantId', type: 'string', doc: 'x' }],
      }),
    };
    await assert.rejects(
      registerSchemas(stack!.schemaRegistryUrl, [
        { name: topic!.name, value: { kind: 'avro', contract: breaking } },
      ]),
      (error: unknown) =>
        error instanceof SchemaRegistryError &&
        error.message.includes(registered!.subject) &&
        /incompatible|409/i.test(error.message),
    );
    const compatible = {
      ...AVRO.PaymentCommand,
      schemaText: JSON.stringify({
        ...current,
        fields: [
          ...current.fields,
          { name: 'merchantId', type: ['null', 'string'], default: null, doc: 'x' },
        ],
      }),
    };
    const [evolved] = await registerSchemas(stack!.schemaRegistryUrl, [
      { name: topic!.name, value: { kind: 'avro', contract: compatible } },
    ]);
    assert.notEqual(evolved!.id, registered!.id);
  });

  test('a record written through the registry serde carries the registered id and reads back with its bigint amount exact', async () => {
    const [topic] = uniqueCatalogue();
    const [registered] = await registerSchemas(stack!.schemaRegistryUrl, [topic!]);
    const registry = createSchemaRegistry(stack!.schemaRegistryUrl, { timeoutMs: 5_000 });
    const serde = registryAvroSerde(registry, registered!.subject, AVRO.PaymentCommand);
    const bytes = await serde.serialize(command, topic!.name);
    assert.equal(bytes.readUInt8(0), 0);
    assert.equal(bytes.readInt32BE(1), registered!.id);
    assert.deepStrictEqual(await serde.deserialize(bytes, topic!.name), command);
    // A reader that never wrote learns the writer schema from the registry by id.
    const reader = registryAvroSerde(
      createSchemaRegistry(stack!.schemaRegistryUrl),
      registered!.subject,
      AVRO.PaymentCommand,
    );
    assert.deepStrictEqual(await reader.deserialize(bytes, topic!.name), command);
  });

  test('a record written with a newer registered version of the schema is read into the current type', async () => {
    const [topic] = uniqueCatalogue();
    const [registered] = await registerSchemas(stack!.schemaRegistryUrl, [topic!]);
    const current = JSON.parse(AVRO.PaymentCommand.schemaText) as { fields: object[] };
    const newer = {
      ...current,
      fields: [...current.fields, { name: 'merchantId', type: ['null', 'string'], default: null, doc: 'x' }],
    };
    const registry = createSchemaRegistry(stack!.schemaRegistryUrl);
    const { id } = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(newer) },
      { subject: registered!.subject },
    );
    const header = Buffer.from([0, 0, 0, 0, 0]);
    header.writeInt32BE(id, 1);
    const bytes = Buffer.concat([header, parseAvroSchema(newer).toBuffer({ ...command, merchantId: 'm-1' })]);
    const serde = registryAvroSerde(registry, registered!.subject, AVRO.PaymentCommand);
    assert.deepStrictEqual(await serde.deserialize(bytes, topic!.name), command);
  });

  test('the serde refuses to write a schema the subject does not hold, and bytes that are not in the wire format', async () => {
    const subject = valueSubject(uniqueName('contracts-unregistered'));
    const serde = registryAvroSerde(
      createSchemaRegistry(stack!.schemaRegistryUrl, { timeoutMs: 5_000 }),
      subject,
      AVRO.PaymentCommand,
    );
    await assert.rejects(
      Promise.resolve(serde.serialize(command, 'x')),
      (error: unknown) => error instanceof SchemaRegistryError && error.message.includes(subject),
    );
    await assert.rejects(
      Promise.resolve(serde.deserialize(AVRO.PaymentCommand.encode(command), 'x')),
      /wire format/,
    );
  });
});
