/**
 * Topic creation against a broker that has not caught up with a topic's creation yet: what it
 * reads right after (metadata, configs) is read again, a bounded number of times.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import kafkajs, { type Admin } from 'kafkajs';

import { createTopics, isTopicMetadataRace, retryTopicMetadataRace } from './create.js';

const { KafkaJSNonRetriableError, KafkaJSProtocolError } = kafkajs;

/** What the broker answers for a topic it does not know yet. */
const unknownTopic = (): Error =>
  new KafkaJSProtocolError(
    Object.assign(new Error('This server does not host this topic-partition'), {
      type: 'UNKNOWN_TOPIC_OR_PARTITION',
      code: 3,
      retriable: true,
    }),
  );

const fast = { attempts: 4, initialDelayMs: 1 };

/**
 * An admin client for one topic `name` with `partitions` partitions, listed already (another
 * process created it), whose metadata and configs the broker answers with UNKNOWN_TOPIC_OR_PARTITION
 * the first `races` times each.
 */
function lateBroker(name: string, partitions: number, races: number) {
  const calls = { metadata: 0, configs: 0, created: 0 };
  const admin = {
    listTopics: () => Promise.resolve([name]),
    fetchTopicMetadata: () => {
      calls.metadata += 1;
      if (calls.metadata <= races) return Promise.reject(unknownTopic());
      const partition = (partitionId: number) => ({ partitionId, leader: 1, replicas: [1], isr: [1] });
      return Promise.resolve({
        topics: [{ name, partitions: Array.from({ length: partitions }, (_, i) => partition(i)) }],
      });
    },
    describeConfigs: () => {
      calls.configs += 1;
      if (calls.configs <= races) return Promise.reject(unknownTopic());
      return Promise.resolve({
        resources: [
          { resourceName: name, configEntries: [{ configName: 'cleanup.policy', configValue: 'delete' }] },
        ],
      });
    },
    createTopics: () => {
      calls.created += 1;
      return Promise.resolve(true);
    },
  };
  return { admin: admin as unknown as Admin, calls };
}

describe('reading topics right after their creation', () => {
  test('a topic another process just created is checked once the broker knows it, and not created again', async () => {
    const { admin, calls } = lateBroker('payments.events', 6, 2);
    const results = await createTopics(admin, [{ name: 'payments.events', partitions: 6, config: {} }]);
    assert.deepEqual(
      results.map((r) => r.outcome),
      ['exists'],
    );
    assert.equal(calls.metadata, 3, 'metadata read again after each UNKNOWN_TOPIC_OR_PARTITION');
    assert.equal(calls.configs, 3, 'configs read again after each UNKNOWN_TOPIC_OR_PARTITION');
    assert.equal(calls.created, 0);
  });

  test('UNKNOWN_TOPIC_OR_PARTITION and LEADER_NOT_AVAILABLE are races, also wrapped; other errors are not', () => {
    assert.ok(isTopicMetadataRace(unknownTopic()));
    assert.ok(
      isTopicMetadataRace(
        Object.assign(new KafkaJSNonRetriableError('metadata failed'), { cause: unknownTopic() }),
      ),
    );
    const noLeader = Object.assign(new Error('no leader'), { type: 'LEADER_NOT_AVAILABLE' });
    assert.ok(isTopicMetadataRace(noLeader));
    assert.ok(
      !isTopicMetadataRace(Object.assign(new Error('denied'), { type: 'TOPIC_AUTHORIZATION_FAILED' })),
    );
    assert.ok(!isTopicMetadataRace(new Error('connection refused')));
  });

  test('a read that keeps racing fails after the attempts are used up, and another error fails at once', async () => {
    let reads = 0;
    await assert.rejects(
      retryTopicMetadataRace(() => {
        reads += 1;
        return Promise.reject(unknownTopic());
      }, fast),
      /does not host this topic-partition/,
    );
    assert.equal(reads, fast.attempts);

    reads = 0;
    await assert.rejects(
      retryTopicMetadataRace(() => {
        reads += 1;
        return Promise.reject(new Error('connection refused'));
      }, fast),
      /connection refused/,
    );
    assert.equal(reads, 1);
  });
});
