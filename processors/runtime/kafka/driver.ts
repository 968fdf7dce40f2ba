/**
 * The Kafka driver: runs a topology on a real cluster, one exactly-once runner (consumer group
 * `<applicationId>-<sub-topology>`) per sub-topology (../topology.ts), the shared
 * SubTopologyTask per partition, and one read_committed reader per global table. `start()` returns once every global table has caught
 * up with its topic; `stop()` finishes the batches in flight, commits and leaves the groups.
 *
 * Every runner and table reader is supervised (../supervision.ts): after any client error it is
 * replaced by a new one with capped backoff, and its health (`subtopology:<name>`,
 * `global-table:<topic>`) is in the driver's ComponentHealth together with the broker's
 * (`kafka`, probed every second). `ready` is true only while all of them are up.
 */
import { randomUUID } from 'node:crypto';

import type { Consumer, Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';

import type { GlobalTable, Topology } from '../api.js';
import { RuntimeMetrics } from '../metrics.js';
import {
  ComponentHealth,
  Supervisor,
  type BoundedBackoffPolicy,
  type SupervisorHooks,
} from '../supervision.js';
import { ProcessorTask, serdeOf, SubTopologyTask, validateTopology, type TaskObserver } from '../task.js';
import { describeTopology, subTopologiesOf, type SubTopology } from '../topology.js';
import { DiskStoreBackend, TaskStateDirectory } from '../disk-stores.js';
import { MappedMemoryGovernor } from '../mapped-memory.js';
import { EosRunner, type RunnerEvent } from './eos-runner.js';
import { assertReadCommittedFilter } from './read-committed.js';
import { BrokerProbe, SUPERVISED_CONSUMER_RETRY } from './supervision.js';

export interface KafkaDriverOptions {
  readonly kafka: Kafka;
  readonly retry?: BoundedBackoffPolicy;
  /** Metrics and task events; RuntimeMetrics is the usual one. */
  readonly metrics?: RuntimeMetrics;
  readonly onEvent?: (processor: string, event: RunnerEvent) => void;
  /** A transaction commits once this long has passed since its first record ... */
  readonly commitIntervalMs?: number;
  /** ... or once it holds this many input records. */
  readonly maxRecordsPerTransaction?: number;
  readonly sessionTimeoutMs?: number;
  /** Kafka transaction timeout of the runners' producers. */
  readonly transactionTimeoutMs?: number;
  /** Bound on restoring one task's stores from their changelogs. */
  readonly restoreTimeoutMs?: number;
  /**
   * Where the key-value stores live on disk (LMDB, one directory per task:
   * `<stateDir>/<applicationId>/<sub-topology>/<partition>`), with a checkpoint so a restart
   * restores only the changelog tails. Unset: in memory, restored whole from the changelogs.
   */
  readonly stateDir?: string;
  /** Decoded values cached in memory per disk store. */
  readonly storeCacheEntries?: number;
  /**
   * Bound on the process's file-backed RSS (the disk stores' memory-mapped LMDB pages), bytes:
   * above it, task environments are reopened after their commits to drop their mapped pages
   * (processors/runtime/mapped-memory.ts). Default 256 MiB.
   */
  readonly storeMappedBudgetBytes?: number;
  /** Bound on a global table catching up at start. */
  readonly globalTableTimeoutMs?: number;
  readonly wallClockPunctuationMs?: number;
  /** Where the runners, tables and broker report; default: a health of the driver's own. */
  readonly health?: ComponentHealth;
  /** Registry of the supervision metrics (restarts); usually the metrics' registry. */
  readonly metricsRegistry?: Registry;
}

/** A compacted topic read from the beginning into memory (latest value per key), kept current. */
class GlobalTableReader implements GlobalTable<unknown> {
  readonly #rows = new Map<string, unknown>();
  #consumer: Consumer | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly topology: Topology,
    private readonly topic: string,
  ) {}

  get(key: string): unknown {
    return this.#rows.get(key);
  }

  get size(): number {
    return this.#rows.size;
  }

  /** Starts reading and resolves once every partition has reached the end it had at start. */
  async start(timeoutMs: number, hooks: SupervisorHooks): Promise<void> {
    try {
      await this.#start(timeoutMs, hooks);
    } catch (error) {
      await this.stop().catch(() => undefined);
      throw error;
    }
  }

  async #start(timeoutMs: number, hooks: SupervisorHooks): Promise<void> {
    const admin = this.kafka.admin();
    let offsets;
    try {
      await admin.connect();
      offsets = await admin.fetchTopicOffsets(this.topic);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    const ends = new Map(offsets.map((p) => [p.partition, BigInt(p.high)]));
    const remaining = new Set([...ends].filter(([, high]) => high > 0n).map(([partition]) => partition));
    const serde = serdeOf(this.topology, this.topic);
    const groupId = `payflow-global-${this.topic}-${randomUUID()}`;
    const consumer = this.kafka.consumer({
      groupId,
      readUncommitted: false,
      retry: SUPERVISED_CONSUMER_RETRY,
    });
    this.#consumer = consumer;
    let failed: (error: unknown) => void = () => undefined;
    const crashed = new Promise<never>((_, reject) => (failed = reject));
    crashed.catch(() => undefined);
    consumer.on(consumer.events.CRASH, (event) => {
      failed(event.payload.error);
      hooks.crashed(event.payload.error);
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: true });
    let caughtUp: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (caughtUp = resolve));
    if (remaining.size === 0) caughtUp();
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) {
          const key = message.key?.toString() ?? '';
          if (message.value === null) this.#rows.delete(key);
          else this.#rows.set(key, await serde.deserialize(message.value, this.topic));
        }
        // The last offset of a transactional topic is a commit marker, never delivered.
        const end = ends.get(batch.partition) ?? 0n;
        if (
          BigInt(batch.lastOffset()) + 2n >= end &&
          remaining.delete(batch.partition) &&
          remaining.size === 0
        )
          caughtUp();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`global table ${this.topic} did not catch up within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([done, timeout, crashed]);
    } finally {
      clearTimeout(timer);
    }
    hooks.up();
  }

  async stop(): Promise<void> {
    const consumer = this.#consumer;
    this.#consumer = undefined;
    await consumer?.disconnect();
  }
}

/** The components a driver reports; /readyz of a process may add its own (read models). */
export const DRIVER_COMPONENTS = ['kafka', 'subtopology:', 'global-table:'] as const;

export class KafkaDriver {
  readonly #topology: Topology;
  readonly #subTopologies: readonly SubTopology[];
  readonly #options: KafkaDriverOptions;
  readonly #tables = new Map<string, GlobalTableReader>();
  readonly #runners = new Map<string, EosRunner>();
  /** Supervisors of the global tables and of the runners, stopped in that order's reverse. */
  readonly #supervisors = { tables: [] as Supervisor[], runners: [] as Supervisor[] };
  readonly #probe: BrokerProbe;
  /** Keeps the mapped LMDB pages of this process's tasks under the budget. */
  readonly #mappedMemory: MappedMemoryGovernor;
  readonly health: ComponentHealth;
  #started = false;

  constructor(topology: Topology, options: KafkaDriverOptions) {
    assertReadCommittedFilter();
    validateTopology(topology);
    this.#topology = topology;
    this.#options = options;
    this.#mappedMemory = new MappedMemoryGovernor(
      options.storeMappedBudgetBytes === undefined ? {} : { budgetBytes: options.storeMappedBudgetBytes },
    );
    this.health = options.health ?? new ComponentHealth();
    this.#probe = new BrokerProbe({ kafka: options.kafka, health: this.health });
    this.#subTopologies = subTopologiesOf(topology);
    for (const sub of this.#subTopologies) {
      for (const table of sub.globalTables) {
        if (!this.#tables.has(table))
          this.#tables.set(table, new GlobalTableReader(options.kafka, topology, table));
      }
      this.#runners.set(sub.name, this.#runnerFor(sub));
    }
  }

  /** True once started while the broker, every global table and every processor runner are up. */
  get ready(): boolean {
    return this.#started && this.health.notUp(DRIVER_COMPONENTS).length === 0;
  }

  /** What is not up, naming each component and why; undefined when ready. */
  get notReadyDetail(): string | undefined {
    if (!this.#started) return 'the pipeline is starting';
    return this.health.describeNotUp(DRIVER_COMPONENTS);
  }

  /** Starts everything; if any part fails to start, what did start is stopped again. */
  async start(): Promise<void> {
    try {
      await this.#start();
    } catch (error) {
      await this.stop().catch(() => undefined);
      throw error;
    }
  }

  async #start(): Promise<void> {
    await this.#probe.start();
    const timeout = this.#options.globalTableTimeoutMs ?? 60_000;
    const supervise = (
      kind: 'tables' | 'runners',
      component: string,
      start: (hooks: SupervisorHooks) => Promise<{ stop(): Promise<void> }>,
    ) => {
      const supervisor = new Supervisor({
        component,
        health: this.health,
        start,
        ...(this.#options.metricsRegistry === undefined ? {} : { registry: this.#options.metricsRegistry }),
      });
      this.#supervisors[kind].push(supervisor);
      return supervisor.start();
    };
    await Promise.all(
      [...this.#tables].map(([topic, table]) =>
        supervise('tables', `global-table:${topic}`, async (hooks) => {
          await table.start(timeout, hooks);
          return table;
        }),
      ),
    );
    for (const sub of this.#subTopologies) {
      await supervise('runners', `subtopology:${sub.name}`, async (hooks) => {
        // A crashed runner is replaced by a new one: no state of the old consumer carries over.
        const runner = this.#runnerFor(sub);
        this.#runners.set(sub.name, runner);
        await runner.start(hooks);
        return runner;
      });
    }
    this.#started = true;
  }

  async stop(): Promise<void> {
    this.#started = false;
    await Promise.all(this.#supervisors.runners.splice(0).map((supervisor) => supervisor.stop()));
    await Promise.all(this.#supervisors.tables.splice(0).map((supervisor) => supervisor.stop()));
    await this.#probe.stop();
  }

  /** The topology as text: sub-topologies, their processors, topics and stores. */
  describe(): string {
    return describeTopology(this.#topology);
  }

  /** Restores a processor's partition from its changelogs, as a new owner would, for inspection. */
  async restoreTask(processor: string, partition: number): Promise<ProcessorTask> {
    const sub = this.#subTopologies.find((s) => s.processors.some((p) => p.name === processor));
    const runner = sub === undefined ? undefined : this.#runners.get(sub.name);
    if (runner === undefined) throw new Error(`no processor ${processor}`);
    return ((await runner.restorePartition(partition)) as SubTopologyTask).task(processor);
  }

  #taskObserver(): TaskObserver | undefined {
    return this.#options.metrics;
  }

  #runnerFor(sub: SubTopology): EosRunner {
    const { kafka, retry, metrics, onEvent, stateDir } = this.#options;
    const observer = this.#taskObserver();
    const hasWallClock = sub.processors.some((p) =>
      (p.punctuators ?? []).some((t) => t.type === 'wall-clock'),
    );
    const optional = <K extends keyof KafkaDriverOptions>(key: K) =>
      this.#options[key] === undefined ? {} : { [key]: this.#options[key] };
    return new EosRunner({
      kafka,
      applicationId: this.#topology.applicationId,
      name: sub.name,
      inputTopics: sub.sources,
      changelogTopics: sub.stores.map((store) => store.changelogTopic),
      createTask: (partition) =>
        new SubTopologyTask(sub, partition, {
          topology: this.#topology,
          wallClock: Date.now,
          globalTable: (table) => this.#tables.get(table)!,
          ...(retry === undefined ? {} : { retry }),
          ...(observer === undefined ? {} : { observer }),
          ...(stateDir === undefined
            ? {}
            : {
                storeBackend: (subTopology: string, task: number) =>
                  new DiskStoreBackend(
                    TaskStateDirectory.forTask(stateDir, this.#topology.applicationId, subTopology, task),
                    this.#options.storeCacheEntries,
                    this.#mappedMemory,
                  ),
              }),
        }),
      ...optional('commitIntervalMs'),
      ...optional('maxRecordsPerTransaction'),
      ...optional('sessionTimeoutMs'),
      ...optional('transactionTimeoutMs'),
      ...optional('restoreTimeoutMs'),
      wallClockPunctuationMs: hasWallClock ? (this.#options.wallClockPunctuationMs ?? 1_000) : 0,
      onEvent: (event) => {
        metrics?.runnerEvent(sub.name, event);
        onEvent?.(sub.name, event);
      },
    });
  }
}
