/** The registry serde's failures, told apart without a registry: whose fault is each one. */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';

import { RetriableError, UndecodableError } from './serde.js';
import { AVRO } from './avro.js';
import { registryAvroSerde } from './registry.js';
import type { Account } from './types.js';
import { account as accountFixture } from '../processors/test-fixtures.js';

const account: Account = accountFixture('acc-1', { ownerId: 'owner-1' });

/** Wire-format bytes of `account` written with schema id 7. */
function wire(): Buffer {
  const header = Buffer.alloc(5);
  header.writeInt32BE(7, 1);
  return Buffer.concat([header, AVRO.Account.encode(account)]);
}

/** A registry whose getSchema fails with each error in turn, then answers with the contract's schema. */
function registryFailing(...errors: Error[]): SchemaRegistry {
  const schema = avro.Type.forSchema(JSON.parse(AVRO.Account.schemaText) as avro.Schema);
  return {
    getSchema: () => {
      const error = errors.shift();
      return error === undefined ? Promise.resolve(schema) : Promise.reject(error);
    },
  } as unknown as SchemaRegistry;
}

test('an unreachable registry is an infrastructure failure (RetriableError): the same bytes decode once it answers', async () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8081'), { code: 'ECONNREFUSED' });
  const unavailable = Object.assign(new Error('Error, status 503'), { status: 503 });
  const serde = registryAvroSerde(registryFailing(refused, unavailable), 'accounts-value', AVRO.Account);
  await assert.rejects(Promise.resolve(serde.deserialize(wire(), 'accounts')), RetriableError);
  await assert.rejects(Promise.resolve(serde.deserialize(wire(), 'accounts')), RetriableError);
  assert.deepEqual(await serde.deserialize(wire(), 'accounts'), account);
});

test('bytes that are not in the wire format, or name a schema id the registry does not have, are bad data (UNDECODABLE)', async () => {
  const notFound = Object.assign(new Error('Error, status 404: schema not found'), { status: 404 });
  const serde = registryAvroSerde(registryFailing(notFound), 'accounts-value', AVRO.Account);
  // The runtime dead-letters any serde error but a RetriableError as UNDECODABLE.
  const undecodable = (error: unknown) => error instanceof UndecodableError;
  await assert.rejects(
    Promise.resolve(serde.deserialize(AVRO.Account.encode(account), 'accounts')),
    undecodable,
  );
  await assert.rejects(Promise.resolve(serde.deserialize(wire(), 'accounts')), undecodable);
});

test('a 404 that is not the registry naming a missing schema (a proxy, a wrong URL path) is waited out, not dead-lettered', async () => {
  const proxy = Object.assign(new Error('Error, status 404: <html><body>Not Found</body></html>'), {
    status: 404,
  });
  const serde = registryAvroSerde(registryFailing(proxy), 'accounts-value', AVRO.Account);
  await assert.rejects(Promise.resolve(serde.deserialize(wire(), 'accounts')), RetriableError);
  assert.deepEqual(await serde.deserialize(wire(), 'accounts'), account);
});
