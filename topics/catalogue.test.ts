import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

import { HEADER } from '../processors/runtime/api.js';
import { DEAD_LETTER_CODES } from './headers.js';
import { changelogTopic } from './names.js';
import {
  changelogTopicConfig,
  DEFAULT_PARTITIONS,
  TOPIC,
  topicCatalogue,
  topicCreateSpecs,
} from './catalogue.js';
import { dedupeScopeOf, paymentCommandKey } from './keys.js';

const asyncapi = readFileSync(new URL('./asyncapi.yaml', import.meta.url), 'utf8');
const catalogue = topicCatalogue({});
const byName = new Map(catalogue.map((topic) => [topic.name, topic]));

/** The `address:` of every channel, in document order. */
const channelAddresses = [...asyncapi.matchAll(/^ {4}address: (\S+)$/gm)].map((match) => match[1]);

describe('topic catalogue', () => {
  test('the catalogue lists every topic of the pipeline exactly once', () => {
    assert.deepEqual(new Set(catalogue.map((topic) => topic.name)), new Set(Object.values(TOPIC)));
    assert.equal(catalogue.length, Object.values(TOPIC).length);
  });

  test('every catalogue topic has a value contract: an Avro schema, or raw bytes for the dead-letter topic only', () => {
    for (const topic of catalogue) {
      if (topic.name === TOPIC.deadLetter) assert.equal(topic.value.kind, 'raw');
      else assert.equal(topic.value.kind, 'avro', `${topic.name} has no Avro schema`);
    }
  });

  test('every catalogue topic appears in asyncapi.yaml as a channel with the same address, and no other channel does', () => {
    assert.deepEqual([...channelAddresses].sort(), catalogue.map((topic) => topic.name).sort());
  });

  test("every Avro topic's schema file is referenced by asyncapi.yaml and exists, and every referenced file exists", () => {
    const referenced = new Set(
      [...asyncapi.matchAll(/\$ref: '\.\.\/schemas\/([\w.]+\.avsc)'/g)].map((match) => match[1]),
    );
    for (const topic of catalogue) {
      if (topic.value.kind === 'avro')
        assert.ok(
          referenced.has(topic.value.contract.file),
          `${topic.value.contract.file} is not in asyncapi.yaml`,
        );
    }
    for (const file of referenced)
      assert.ok(existsSync(new URL(`../schemas/${file}`, import.meta.url)), `${file} does not exist`);
  });

  test('asyncapi.yaml states the same partitions, cleanup policy and retention as the catalogue for every channel', () => {
    for (const block of asyncapi.split(/^ {2}(?=\w+:\n {4}address:)/m).slice(1)) {
      const address = /^ {4}address: (\S+)$/m.exec(block)?.[1] ?? '';
      const topic = byName.get(address as (typeof TOPIC)[keyof typeof TOPIC]);
      assert.ok(topic, `channel ${address} is not in the catalogue`);
      if (topic.audience === 'in-task') {
        assert.match(block, /Audience: in-task\./, address);
        assert.doesNotMatch(block, /bindings:/, `${address} is not a Kafka topic`);
        continue;
      }
      assert.match(block, new RegExp(`partitions: ${DEFAULT_PARTITIONS}\\n`), address);
      assert.match(block, new RegExp(`cleanup\\.policy: \\[${topic.cleanupPolicy}\\]`), address);
      if (topic.retentionMs === null) assert.doesNotMatch(block, /retention\.ms/, address);
      else assert.match(block, new RegExp(`retention\\.ms: ${topic.retentionMs}\\n`), address);
    }
  });

  test('every topic documents the correlation id header, and the dead-letter topic documents every payflow-dlq header', () => {
    for (const topic of catalogue) assert.ok(HEADER.correlationId in topic.headers, topic.name);
    const dlqHeaders = Object.values(HEADER).filter((name) => name.startsWith('payflow-dlq-'));
    assert.deepEqual(
      Object.keys(byName.get(TOPIC.deadLetter)?.headers ?? {})
        .filter((name) => name.startsWith('payflow-dlq-'))
        .sort(),
      dlqHeaders.sort(),
    );
    for (const name of dlqHeaders)
      assert.match(asyncapi, new RegExp(`^ {8}${name}:$`, 'm'), `${name} missing from asyncapi.yaml`);
  });

  test('the dead-letter error codes documented in asyncapi.yaml and the catalogue are exactly the closed list every writer uses', () => {
    const block = /payflow-dlq-error-code:\n {10}type: string\n {10}enum:\n((?: {12}- \w+\n)+)/.exec(
      asyncapi,
    );
    assert.ok(block, 'payflow-dlq-error-code has no enum in asyncapi.yaml');
    const documented = [...block[1]!.matchAll(/- (\w+)/g)].map((match) => match[1]);
    assert.deepEqual(documented, [...DEAD_LETTER_CODES]);
    const doc = byName.get(TOPIC.deadLetter)?.headers[HEADER.dlqErrorCode] ?? '';
    assert.deepEqual(doc.match(/\b[A-Z][A-Z_]+[A-Z]\b/g), [...DEAD_LETTER_CODES]);
  });

  test('only the tables (accounts, ledger balances, the deny list, the device profiles) are compacted; events and postings are kept 30 days, commands 7, dead letters 14', () => {
    const days = (name: (typeof TOPIC)[keyof typeof TOPIC]) =>
      (byName.get(name)?.retentionMs ?? 0) / 86_400_000;
    assert.deepEqual(
      catalogue.filter((topic) => topic.cleanupPolicy === 'compact').map((topic) => topic.name),
      [TOPIC.accounts, TOPIC.riskDenylist, TOPIC.riskProfiles, TOPIC.ledgerBalances],
    );
    assert.equal(byName.get(TOPIC.accounts)?.retentionMs, null);
    assert.equal(byName.get(TOPIC.ledgerBalances)?.retentionMs, null);
    assert.equal(days(TOPIC.paymentsEvents), 30);
    assert.equal(days(TOPIC.ledgerPostings), 30);
    assert.equal(days(TOPIC.paymentsCommands), 7);
    assert.equal(days(TOPIC.deadLetter), 14);
    assert.deepEqual(topicCreateSpecs(catalogue).find((spec) => spec.name === TOPIC.accounts)?.config, {
      'cleanup.policy': 'compact',
    });
    assert.deepEqual(topicCreateSpecs(catalogue).find((spec) => spec.name === TOPIC.paymentsEvents)?.config, {
      'cleanup.policy': 'delete',
      'retention.ms': String(30 * 86_400_000),
    });
  });

  test('every topic has 6 partitions by default, and one partition count changes all of them together', () => {
    assert.ok(catalogue.every((topic) => topic.partitions === DEFAULT_PARTITIONS));
    assert.ok(topicCatalogue({ partitions: 12 }).every((topic) => topic.partitions === 12));
  });

  test('a partition count that is not a whole number from 1 to 10000 is refused', () => {
    for (const bad of [0, -3, 2.5, 10_001])
      assert.throws(() => topicCatalogue({ partitions: bad }), RangeError);
  });

  test("a payment command is keyed by its sender's account, so every debit of one account meets one partition", () => {
    assert.equal(paymentCommandKey({ senderAccountId: 'acc-1' }), 'acc-1');
  });

  test('the dedupe scope is the request identity, or the command id when it has no idempotency key', () => {
    assert.equal(
      dedupeScopeOf({ principal: 'm-1', idempotencyKey: 'k-1', commandId: 'c-1' }),
      '["m-1","k-1"]',
    );
    assert.notEqual(
      dedupeScopeOf({ principal: 'a,b', idempotencyKey: 'c', commandId: 'x' }),
      dedupeScopeOf({ principal: 'a', idempotencyKey: 'b,c', commandId: 'x' }),
    );
    assert.equal(dedupeScopeOf({ principal: 'm-1', idempotencyKey: '', commandId: 'c-1' }), 'c-1');
  });

  test('in-task edges are in the catalogue (contract, schema) but are not created as Kafka topics', () => {
    const inTask = catalogue.filter((topic) => topic.audience === 'in-task').map((topic) => topic.name);
    assert.deepEqual(inTask, [
      TOPIC.paymentsAccepted,
      TOPIC.paymentsValidated,
      TOPIC.paymentsChecked,
      TOPIC.paymentsScored,
    ]);
    const created = topicCreateSpecs(catalogue).map((spec) => spec.name);
    for (const name of inTask) assert.ok(!created.includes(name), name);
    assert.equal(created.length, catalogue.length - inTask.length);
  });

  test("a store's changelog topic is compacted, named like the runtime names it, and partitioned like the catalogue", () => {
    const spec = changelogTopicConfig('payflow', 'dedupe', 'seen', DEFAULT_PARTITIONS);
    assert.equal(spec.name, changelogTopic('payflow', 'dedupe', 'seen'));
    assert.equal(spec.name, 'payflow-dedupe-seen-changelog');
    assert.deepEqual(spec.config, { 'cleanup.policy': 'compact' });
    assert.equal(spec.partitions, DEFAULT_PARTITIONS);
    assert.equal(changelogTopicConfig('payflow', 'dedupe', 'seen', 3).partitions, 3);
  });
});
