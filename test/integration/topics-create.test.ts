/**
 * Topic creation against the real Kafka broker: idempotent for matching topics, and a clear
 * refusal, naming the topic, for an existing topic whose partitions or cleanup policy differ.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Kafka, logLevel, type Admin } from 'kafkajs';

import {
  changelogTopicConfig,
  topicCatalogue,
  topicCreateSpecs,
  type TopicCreateSpec,
} from '../../topics/catalogue.js';
import { createTopics, retryTopicMetadataRace, TopicConflictError } from '../../topics/create.js';
import { stackEnv, uniqueName } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;
const stack = 'skip' in env ? undefined : env;

describe('topic creation on Kafka', { skip }, () => {
  let admin: Admin;
  /** Every name a test may have created, deleted afterwards. */
  const created: string[] = [];

  before(async () => {
    admin = new Kafka({
      clientId: 'payflow-topics-test',
      brokers: stack!.kafkaBrokers,
      logLevel: logLevel.WARN,
    }).admin();
    await admin.connect();
  });

  after(async () => {
    const existing = new Set(await admin.listTopics());
    const topics = created.filter((name) => existing.has(name));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 10_000 }).catch(() => undefined);
    await admin.disconnect();
  });

  /** The catalogue's specs under names no other run uses. */
  function uniqueSpecs(partitions: number): TopicCreateSpec[] {
    const prefix = uniqueName('topics');
    const specs = topicCreateSpecs(topicCatalogue({ partitions })).map((spec) => ({
      ...spec,
      name: `${prefix}.${spec.name}`,
    }));
    const changelog = changelogTopicConfig(prefix, 'dedupe', 'seen', partitions);
    created.push(...specs.map((spec) => spec.name), changelog.name);
    return [...specs, changelog];
  }

  test('creating the catalogue twice creates every topic once and leaves them untouched the second time', async () => {
    const specs = uniqueSpecs(3);
    const first = await createTopics(admin, specs);
    assert.deepEqual(
      first.map((result) => result.outcome),
      specs.map(() => 'created'),
    );
    const second = await createTopics(admin, specs);
    assert.deepEqual(
      second.map((result) => result.outcome),
      specs.map(() => 'exists'),
    );

    // Read right after creating: the broker may not know every topic yet.
    const { topics } = await retryTopicMetadataRace(() =>
      admin.fetchTopicMetadata({ topics: specs.map((spec) => spec.name) }),
    );
    assert.ok(topics.every((topic) => topic.partitions.length === 3));
    const configs = await retryTopicMetadataRace(() =>
      admin.describeConfigs({
        resources: specs.map((spec) => ({
          type: 2 /* TOPIC */,
          name: spec.name,
          configNames: ['cleanup.policy', 'retention.ms'],
        })),
        includeSynonyms: false,
      }),
    );
    for (const spec of specs) {
      const entries =
        configs.resources.find((resource) => resource.resourceName === spec.name)?.configEntries ?? [];
      const value = (name: string) => entries.find((entry) => entry.configName === name)?.configValue;
      assert.equal(value('cleanup.policy'), spec.config['cleanup.policy'], spec.name);
      if (spec.config['retention.ms'] !== undefined)
        assert.equal(value('retention.ms'), spec.config['retention.ms'], spec.name);
    }
  });

  test('an existing topic with another partition count is reported as a conflict naming the topic, and nothing is created', async () => {
    const specs = uniqueSpecs(2);
    const [events, ...rest] = specs;
    await createTopics(admin, [events!]);
    const wider = { ...events!, partitions: 4 };
    await assert.rejects(createTopics(admin, [wider, ...rest]), (error: unknown) => {
      assert.ok(error instanceof TopicConflictError);
      assert.deepEqual(error.conflicts, [
        { topic: events!.name, setting: 'partitions', wanted: '4', actual: '2' },
      ]);
      assert.match(
        error.message,
        new RegExp(`topic ${events!.name.replace(/\./g, '\\.')}: partitions is 2, the catalogue says 4`),
      );
      return true;
    });
    const existing = new Set(await admin.listTopics());
    assert.ok(
      rest.every((spec) => !existing.has(spec.name)),
      'a topic was created despite the conflict',
    );
  });

  test('an existing topic with another cleanup policy is reported as a conflict naming the topic', async () => {
    const [spec] = uniqueSpecs(1);
    await createTopics(admin, [spec!]);
    const compacted = { ...spec!, config: { 'cleanup.policy': 'compact' } };
    await assert.rejects(createTopics(admin, [compacted]), (error: unknown) => {
      assert.ok(error instanceof TopicConflictError);
      assert.deepEqual(error.conflicts, [
        { topic: spec!.name, setting: 'cleanup.policy', wanted: 'compact', actual: 'delete' },
      ]);
      return true;
    });
  });
});
