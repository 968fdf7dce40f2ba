/**
 * Creates topics idempotently. A topic that already exists with the wanted partition count and
 * cleanup policy is left alone; one that exists with a different partition count or cleanup
 * policy is a conflict (Kafka cannot shrink partitions, and growing them silently re-maps keys),
 * reported with the topic named and nothing created.
 */
import kafkajs, { type Admin } from 'kafkajs';

// kafkajs is CommonJS and Node cannot see this export by name.
const { ConfigResourceTypes } = kafkajs;

import type { TopicCreateSpec } from './catalogue.js';

export const DEFAULT_CREATE_TIMEOUT_MS = 30_000;

export interface CreateTopicsOptions {
  /** Replication factor of new topics; the broker default when unset. */
  readonly replicationFactor?: number;
  /** Bound on the creation request, including the wait for partition leaders. */
  readonly timeoutMs?: number;
}

export interface TopicCreateResult {
  readonly name: string;
  readonly partitions: number;
  readonly cleanupPolicy: string;
  readonly outcome: 'created' | 'exists';
}

export interface TopicConflict {
  readonly topic: string;
  readonly setting: 'partitions' | 'cleanup.policy';
  readonly wanted: string;
  readonly actual: string;
}

export class TopicConflictError extends Error {
  constructor(readonly conflicts: readonly TopicConflict[]) {
    super(
      `existing topics differ from the catalogue:\n  ${conflicts
        .map((c) => `topic ${c.topic}: ${c.setting} is ${c.actual}, the catalogue says ${c.wanted}`)
        .join('\n  ')}`,
    );
    this.name = 'TopicConflictError';
  }
}

const cleanupPolicyOf = (spec: TopicCreateSpec): string =>
  normalizePolicy(spec.config['cleanup.policy'] ?? 'delete');

/** "compact,delete" and "delete, compact" are the same policy. */
function normalizePolicy(policy: string): string {
  return policy
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .sort()
    .join(',');
}

/**
 * What a broker answers about a topic whose creation it has not caught up with yet: right after
 * a topic is created (here or by another process), the broker asked for its metadata or configs
 * may not know it, or its partitions may not have a leader yet.
 */
const METADATA_RACES: ReadonlySet<string> = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE']);

/** Whether `error` (or an error it wraps) is a broker not caught up with a topic's creation. */
export function isTopicMetadataRace(error: unknown): boolean {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 5; depth += 1) {
    const { type, originalError } = cause as Error & { type?: unknown; originalError?: unknown };
    if (typeof type === 'string' && METADATA_RACES.has(type)) return true;
    cause = originalError ?? cause.cause;
  }
  return false;
}

export interface MetadataRetry {
  /** Reads at most this many times. */
  readonly attempts: number;
  /** Waits this long after the first race, twice as long after each further one. */
  readonly initialDelayMs: number;
}

export const DEFAULT_METADATA_RETRY: MetadataRetry = { attempts: 8, initialDelayMs: 100 };

/**
 * Runs `read` (metadata, configs, offsets of topics just created) again while the broker has not
 * caught up with their creation, a bounded number of times with a doubling wait (about 25 s in
 * all by default); any other error, or the race on the last attempt, is thrown as it came.
 */
export async function retryTopicMetadataRace<T>(
  read: () => Promise<T>,
  retry: MetadataRetry = DEFAULT_METADATA_RETRY,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await read();
    } catch (error) {
      if (attempt >= retry.attempts || !isTopicMetadataRace(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, retry.initialDelayMs * 2 ** (attempt - 1)));
    }
  }
}

interface ExistingTopic {
  readonly partitions: number;
  readonly cleanupPolicy: string;
}

async function describeExisting(
  admin: Admin,
  names: readonly string[],
): Promise<ReadonlyMap<string, ExistingTopic>> {
  if (names.length === 0) return new Map();
  // A topic listed may have just been created by another process.
  const { topics } = await retryTopicMetadataRace(() => admin.fetchTopicMetadata({ topics: [...names] }));
  const { resources } = await retryTopicMetadataRace(() =>
    admin.describeConfigs({
      resources: names.map((name) => ({
        type: ConfigResourceTypes.TOPIC,
        name,
        configNames: ['cleanup.policy'],
      })),
      includeSynonyms: false,
    }),
  );
  const policies = new Map(
    resources.map((resource) => [
      resource.resourceName,
      normalizePolicy(
        resource.configEntries.find((entry) => entry.configName === 'cleanup.policy')?.configValue ??
          'delete',
      ),
    ]),
  );
  return new Map(
    topics.map((topic) => [
      topic.name,
      { partitions: topic.partitions.length, cleanupPolicy: policies.get(topic.name) ?? 'delete' },
    ]),
  );
}

function conflictsOf(spec: TopicCreateSpec, existing: ExistingTopic): TopicConflict[] {
  const conflicts: TopicConflict[] = [];
  if (existing.partitions !== spec.partitions) {
    conflicts.push({
      topic: spec.name,
      setting: 'partitions',
      wanted: String(spec.partitions),
      actual: String(existing.partitions),
    });
  }
  if (existing.cleanupPolicy !== cleanupPolicyOf(spec)) {
    conflicts.push({
      topic: spec.name,
      setting: 'cleanup.policy',
      wanted: cleanupPolicyOf(spec),
      actual: existing.cleanupPolicy,
    });
  }
  return conflicts;
}

/**
 * Creates the topics of `specs` that do not exist yet and checks the ones that do. Returns one
 * result per spec, in order; throws TopicConflictError, before creating anything, when an
 * existing topic's partition count or cleanup policy differs.
 */
export function createTopics(
  admin: Admin,
  specs: readonly TopicCreateSpec[],
  options: CreateTopicsOptions = {},
): Promise<readonly TopicCreateResult[]> {
  return ensureTopics(admin, specs, options, 1);
}

async function ensureTopics(
  admin: Admin,
  specs: readonly TopicCreateSpec[],
  options: CreateTopicsOptions,
  racesLeft: number,
): Promise<readonly TopicCreateResult[]> {
  const names = new Set(await admin.listTopics());
  const existing = await describeExisting(
    admin,
    specs.filter((spec) => names.has(spec.name)).map((spec) => spec.name),
  );
  const conflicts = specs.flatMap((spec) => {
    const topic = existing.get(spec.name);
    return topic === undefined ? [] : conflictsOf(spec, topic);
  });
  if (conflicts.length > 0) throw new TopicConflictError(conflicts);

  const missing = specs.filter((spec) => !existing.has(spec.name));
  if (missing.length > 0) {
    const allNew = await admin
      .createTopics({
        topics: missing.map((spec) => ({
          topic: spec.name,
          numPartitions: spec.partitions,
          replicationFactor: options.replicationFactor ?? -1,
          configEntries: Object.entries(spec.config).map(([name, value]) => ({ name, value })),
        })),
        waitForLeaders: true,
        timeout: options.timeoutMs ?? DEFAULT_CREATE_TIMEOUT_MS,
      })
      .catch(async (error: unknown) => {
        // kafkajs waits for the leaders with a metadata request and gives up on the first
        // UNKNOWN_TOPIC_OR_PARTITION, which a broker answers for a moment after it created the
        // topics: the creation itself succeeded, so wait for their metadata here, bounded.
        if (!isTopicMetadataRace(error)) throw error;
        await retryTopicMetadataRace(() =>
          admin.fetchTopicMetadata({ topics: missing.map((spec) => spec.name) }),
        );
        return true;
      });
    // Another process created some of them meanwhile: check those like any existing topic.
    if (!allNew && racesLeft > 0) return ensureTopics(admin, specs, options, racesLeft - 1);
  }
  return specs.map((spec) => ({
    name: spec.name,
    partitions: spec.partitions,
    cleanupPolicy: cleanupPolicyOf(spec),
    outcome: existing.has(spec.name) ? 'exists' : 'created',
  }));
}
