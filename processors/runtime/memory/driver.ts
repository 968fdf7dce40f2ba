/**
 * The broker-less driver (Kafka Streams' TopologyTestDriver, for PayFlow): the same topology, the
 * same sub-topology tasks as on Kafka, over in-memory partitioned logs. Deterministic: records are
 * partitioned with Kafka's default partitioner (murmur2 of the key), processed one at a time in
 * log order (with everything the sub-topology's processors pass each other in memory), each
 * record committed before the next; time is a clock the caller controls. In-task topics have no
 * log.
 *
 * Used by unit tests and by the embedded default of the main job. Logs are bounded
 * (`maxRecordsPerTopic`); a commit that would overfill a topic appends none of its records and
 * fails with TopicCapacityError (the record stays uncommitted).
 *
 * Failures follow the Kafka driver: a bad record is dead-lettered by the task; an infrastructure
 * failure (RetriableError) leaves the record uncommitted and it is tried again after a capped
 * backoff (the supervisor's), `subtopology:<name>` reported down meanwhile; a program error
 * (TaskFailedError) stops that partition — its records stay unprocessed, the other partitions go
 * on — and `subtopology:<name>` is reported failed, so `ready` is false.
 */
import { RetriableError, type GlobalTable, type Headers, type Topology } from '../api.js';
import { partitionOfKey } from '../../../topics/partitioner.js';
import {
  backoffDelayMs,
  ComponentHealth,
  DEFAULT_RESTART_BACKOFF,
  reasonOf,
  type BackoffPolicy,
  type BoundedBackoffPolicy,
} from '../supervision.js';
import {
  ProcessorTask,
  serdeOf,
  SubTopologyTask,
  TaskFailedError,
  validateTopology,
  type ProducedRecord,
  type RawRecord,
  type TaskEnvironment,
  type TaskObserver,
} from '../task.js';
import { subTopologiesOf, type SubTopology } from '../topology.js';

export interface MemoryDriverOptions {
  /** Wall clock in ms; defaults to a manual clock starting at 0 (advance it with advanceWallClock). */
  readonly startWallClockMs?: number;
  readonly retry?: BoundedBackoffPolicy;
  readonly observer?: TaskObserver;
  readonly maxRecordsPerTopic?: number;
  /** Where `subtopology:<name>` is reported; default: a health of the driver's own. */
  readonly health?: ComponentHealth;
  /** Backoff between tries of a record that failed on infrastructure; default the supervisor's. */
  readonly infrastructureBackoff?: BackoffPolicy;
  /**
   * Keeps every record of every log and the stores' changelogs, as on Kafka (default true:
   * `records`, `read` and `restoreTask` see the whole history). Off, a log is a pipe, not an
   * archive: a record is dropped once every sub-topology that reads its topic has processed it
   * (at once when none does: `onAppend` listeners and global tables have seen it by then), no
   * changelog is serialized, and `maxRecordsPerTopic` bounds the records waiting to be
   * processed — for a process whose state lives exactly as long as it does (the embedded main
   * job), where kept logs would only fill memory up and then refuse every record.
   */
  readonly retainLogs?: boolean;
  /**
   * Where a task's stores live; default in memory. Called for every task the driver builds (a
   * `restoreTask` too), so a disk backend's factory gives each call a directory of its own.
   */
  readonly storeBackend?: TaskEnvironment['storeBackend'];
}

/** One partition of an in-memory topic: offsets from 0, records below `start` possibly dropped. */
class PartitionLog {
  #start = 0;
  #records: LoggedRecord[] = [];

  /** The offset the next record gets. */
  get end(): number {
    return this.#start + this.#records.length;
  }

  /** Records held (retained or waiting). */
  get held(): number {
    return this.#records.length;
  }

  get records(): readonly LoggedRecord[] {
    return this.#records;
  }

  at(offset: number): LoggedRecord | undefined {
    return this.#records[offset - this.#start];
  }

  append(record: LoggedRecord): void {
    this.#records.push(record);
  }

  /** Drops the records below `offset` (in steps, so a drop costs O(1) per record). */
  dropBelow(offset: number): void {
    const count = offset - this.#start;
    if (count <= 0) return;
    if (count < this.#records.length && count < 1_024 && count * 2 < this.#records.length) return;
    this.#records = count >= this.#records.length ? [] : this.#records.slice(count);
    this.#start = offset;
  }
}

/** A partition a program error stopped. */
export interface FailedTask {
  readonly subTopology: string;
  /** The processor whose record or punctuation failed. */
  readonly processor: string;
  readonly partition: number;
  readonly reason: string;
}

export type LoggedRecord = RawRecord;

export class TopicCapacityError extends Error {
  constructor(topic: string, max: number) {
    super(`in-memory topic ${topic} is full (${max} records)`);
    this.name = 'TopicCapacityError';
  }
}

class MemoryTable implements GlobalTable<unknown> {
  readonly rows = new Map<string, unknown>();
  get(key: string): unknown {
    return this.rows.get(key);
  }
  get size(): number {
    return this.rows.size;
  }
}

export interface PipeOptions {
  readonly timestampMs?: number;
  readonly headers?: Headers;
  readonly partition?: number;
}

export class MemoryDriver {
  readonly #topology: Topology;
  readonly #logs = new Map<string, PartitionLog[]>();
  /** Topic -> the next offsets of the sub-topologies reading it, per partition (retainLogs off). */
  readonly #readers = new Map<string, number[][]>();
  readonly #tables = new Map<string, MemoryTable>();
  readonly #subTopologies: readonly SubTopology[];
  readonly #options: MemoryDriverOptions;
  /** sub-topology -> partition -> task */
  readonly #tasks = new Map<string, SubTopologyTask[]>();
  /** sub-topology -> source topic -> partition -> next offset */
  readonly #positions = new Map<string, Map<string, number[]>>();
  readonly #maxRecords: number;
  readonly #backoff: BackoffPolicy;
  /** sub-topology -> partition -> the failure that stopped it */
  readonly #failed = new Map<string, Map<number, TaskFailedError>>();
  readonly health: ComponentHealth;
  #wallClockMs: number;
  #pump: Promise<void> = Promise.resolve();
  readonly #listeners: ((record: LoggedRecord) => void)[] = [];

  constructor(topology: Topology, options: MemoryDriverOptions = {}) {
    validateTopology(topology);
    this.#topology = topology;
    this.#wallClockMs = options.startWallClockMs ?? 0;
    this.#maxRecords = options.maxRecordsPerTopic ?? 1_000_000;
    this.#backoff = options.infrastructureBackoff ?? DEFAULT_RESTART_BACKOFF;
    this.health = options.health ?? new ComponentHealth();
    this.#options = options;
    for (const topic of topology.topics) {
      if (topic.inTask === true) continue;
      this.#logs.set(
        topic.name,
        Array.from({ length: topic.partitions }, () => new PartitionLog()),
      );
    }
    if (!this.#logs.has(topology.deadLetterTopic))
      this.#logs.set(topology.deadLetterTopic, [new PartitionLog()]);
    this.#subTopologies = subTopologiesOf(topology);
    for (const sub of this.#subTopologies) {
      for (const table of sub.globalTables) this.#tables.set(table, new MemoryTable());
      this.#tasks.set(
        sub.name,
        Array.from({ length: sub.partitions }, (_, partition) => this.#newTask(sub, partition)),
      );
      for (const store of sub.stores)
        this.#logs.set(
          store.changelogTopic,
          Array.from({ length: sub.partitions }, () => new PartitionLog()),
        );
      const positions = new Map(
        sub.sources.map((source) => [source, Array.from({ length: sub.partitions }, () => 0)]),
      );
      this.#positions.set(sub.name, positions);
      for (const [source, offsets] of positions)
        this.#readers.set(source, [...(this.#readers.get(source) ?? []), offsets]);
      this.#failed.set(sub.name, new Map());
      this.health.report(componentOf(sub.name), 'up');
    }
  }

  #newTask(sub: SubTopology, partition: number): SubTopologyTask {
    return new SubTopologyTask(sub, partition, {
      topology: this.#topology,
      wallClock: () => this.#wallClockMs,
      globalTable: (name) => this.#tables.get(name)!,
      ...(this.#options.retry === undefined ? {} : { retry: this.#options.retry }),
      ...(this.#options.observer === undefined ? {} : { observer: this.#options.observer }),
      ...(this.#options.storeBackend === undefined ? {} : { storeBackend: this.#options.storeBackend }),
    });
  }

  #subTopologyOf(processor: string): SubTopology {
    const sub = this.#subTopologies.find((s) => s.processors.some((p) => p.name === processor));
    if (sub === undefined) throw new Error(`no processor ${processor}`);
    return sub;
  }

  /** True while no partition is stopped and no record waits on infrastructure. */
  get ready(): boolean {
    return this.notReadyDetail === undefined;
  }

  /** What is not up, naming each processor and why; undefined when ready. */
  get notReadyDetail(): string | undefined {
    return this.health.describeNotUp(['subtopology:']);
  }

  /** Partitions stopped by a program error. */
  get failedTasks(): readonly FailedTask[] {
    return [...this.#failed].flatMap(([subTopology, partitions]) =>
      [...partitions].map(([partition, error]) => ({
        subTopology,
        processor: error.processor,
        partition,
        reason: error.message,
      })),
    );
  }

  get wallClockMs(): number {
    return this.#wallClockMs;
  }

  /** Serializes `value` with the topic's serde, appends it, and processes until every processor is idle. */
  async pipe(topic: string, key: string, value: unknown, options: PipeOptions = {}): Promise<void> {
    const bytes = await serdeOf(this.#topology, topic).serialize(value, topic);
    await this.pipeRaw(topic, key, bytes, options);
  }

  /** Appends raw bytes (e.g. a record no serde can read) and processes until idle. */
  async pipeRaw(topic: string, key: string, value: Buffer | null, options: PipeOptions = {}): Promise<void> {
    await this.#append({
      topic,
      key,
      value,
      headers: options.headers ?? {},
      timestampMs: options.timestampMs ?? this.#wallClockMs,
      ...(options.partition === undefined ? {} : { partition: options.partition }),
    });
    await this.runUntilIdle();
  }

  /** Moves the wall clock forward, fires the wall-clock punctuators due, and processes until idle. */
  async advanceWallClock(ms: number): Promise<void> {
    this.#wallClockMs += ms;
    await this.#serialized(async () => {
      for (const sub of this.#subTopologies) {
        // Most sub-topologies have no wall-clock punctuator: moving the clock costs them nothing.
        if (!sub.processors.some((p) => (p.punctuators ?? []).some((t) => t.type === 'wall-clock'))) continue;
        for (const task of this.#tasks.get(sub.name)!) {
          if (this.#isFailed(task)) continue;
          await this.#run(task, () => task.punctuateWallClock(this.#wallClockMs));
        }
      }
      await this.#drain();
    });
  }

  /** Processes every pending record of every processor, including what processing produces. */
  runUntilIdle(): Promise<void> {
    return this.#serialized(() => this.#drain());
  }

  /**
   * Calls `listener` with every record appended from now on, in append order (projections of the
   * embedded mode follow the log this way). A listener that throws fails the append.
   */
  onAppend(listener: (record: LoggedRecord) => void): void {
    this.#listeners.push(listener);
  }

  /** Every record of a topic, partition by partition, in offset order. */
  records(topic: string): readonly LoggedRecord[] {
    const partitions = this.#logs.get(topic);
    if (partitions === undefined) throw new Error(`unknown topic ${topic}`);
    return partitions.flatMap((log) => log.records);
  }

  /** Decoded values of a topic with their keys, partition by partition, in offset order. */
  async read<V>(
    topic: string,
  ): Promise<{ key: string; value: V; headers: Headers; partition: number; offset: number }[]> {
    const serde = serdeOf(this.#topology, topic);
    const out: { key: string; value: V; headers: Headers; partition: number; offset: number }[] = [];
    for (const record of this.records(topic)) {
      if (record.value === null) continue;
      out.push({
        key: record.key,
        value: (await serde.deserialize(record.value, topic)) as V,
        headers: record.headers,
        partition: record.partition,
        offset: record.offset,
      });
    }
    return out;
  }

  /** A processor's task for one partition (to inspect its stores). */
  task(processor: string, partition: number): ProcessorTask {
    const task = this.#tasks.get(this.#subTopologyOf(processor).name)?.[partition];
    if (task === undefined) throw new Error(`no task ${processor}/${partition}`);
    return task.task(processor);
  }

  /** Rebuilds a processor's task from its changelogs, as a new owner would after a crash. */
  async restoreTask(processor: string, partition: number): Promise<ProcessorTask> {
    if (this.#options.retainLogs === false)
      throw new Error('this driver keeps no changelogs to restore from');
    const sub = this.#subTopologyOf(processor);
    const fresh = this.#newTask(sub, partition);
    for (const store of sub.stores) {
      if (store.processor !== processor) continue;
      for (const record of this.#logs.get(store.changelogTopic)![partition]!.records)
        await fresh.restore(store.changelogTopic, record.key, record.value);
    }
    fresh.restored(new Map());
    return fresh.task(processor);
  }

  #serialized(work: () => Promise<void>): Promise<void> {
    const run = this.#pump.then(work);
    this.#pump = run.catch(() => undefined);
    return run;
  }

  async #drain(): Promise<void> {
    for (;;) {
      let progressed = false;
      for (const sub of this.#subTopologies) {
        const positions = this.#positions.get(sub.name)!;
        const tasks = this.#tasks.get(sub.name)!;
        for (const [topic, offsets] of positions) {
          const log = this.#logs.get(topic)!;
          for (let partition = 0; partition < offsets.length; partition += 1) {
            const records = log[partition]!;
            const task = tasks[partition]!;
            while (offsets[partition]! < records.end && !this.#isFailed(task)) {
              const record = records.at(offsets[partition]!)!;
              if (!(await this.#run(task, () => task.process([record])))) break;
              offsets[partition] = record.offset + 1;
              progressed = true;
            }
            if (this.#options.retainLogs === false) this.#dropConsumed(topic, partition);
          }
        }
      }
      if (!progressed) return;
    }
  }

  #isFailed(task: SubTopologyTask): boolean {
    return this.#failed.get(task.subTopology.name)!.has(task.partition);
  }

  /**
   * Runs one unit of a task's work and commits it. An infrastructure failure is tried again after
   * a capped backoff until it succeeds; a program error stops the partition (false: nothing of
   * the record was committed).
   */
  async #run(task: SubTopologyTask, work: () => Promise<ProducedRecord[]>): Promise<boolean> {
    const name = task.subTopology.name;
    const component = componentOf(name);
    for (let attempt = 1; ; attempt += 1) {
      let result: ProducedRecord[];
      try {
        result = await work();
      } catch (error) {
        task.abort();
        if (error instanceof TaskFailedError) {
          this.#failed.get(name)!.set(task.partition, error);
          this.health.report(component, 'failed', reasonOf(error));
          return false;
        }
        if (!(error instanceof RetriableError)) throw error;
        this.health.report(component, 'down', reasonOf(error));
        await new Promise((resolve) => setTimeout(resolve, backoffDelayMs(this.#backoff, attempt)));
        continue;
      }
      await this.#commit(task, result);
      if (attempt > 1 && this.#failed.get(name)!.size === 0) this.health.report(component, 'up');
      return true;
    }
  }

  /** Appends every record of one commit, or none of them (a full topic fails the whole commit). */
  async #commit(task: SubTopologyTask, produced: readonly ProducedRecord[]): Promise<void> {
    try {
      const changelog = this.#options.retainLogs === false ? [] : await task.changelog();
      if (produced.length > 0 || changelog.length > 0) await this.#appendAll([...produced, ...changelog]);
    } catch (error) {
      task.abort();
      throw error;
    }
    task.commit();
  }

  async #append(record: Omit<ProducedRecord, 'partition'> & { partition?: number }): Promise<void> {
    await this.#appendAll([record]);
  }

  /** Places every record and checks every bound first; appends only when all of them fit. */
  async #appendAll(
    records: readonly (Omit<ProducedRecord, 'partition'> & { partition?: number })[],
  ): Promise<void> {
    const placed: { log: PartitionLog; record: LoggedRecord }[] = [];
    const pending = new Map<PartitionLog, number>();
    for (const record of records) {
      const partitions = this.#logs.get(record.topic);
      if (partitions === undefined) throw new Error(`unknown topic ${record.topic}`);
      const partition = record.partition ?? partitionOfKey(record.key, partitions.length);
      const log = partitions[partition];
      if (log === undefined) throw new Error(`topic ${record.topic} has no partition ${partition}`);
      const before = pending.get(log) ?? 0;
      if (log.held + before >= this.#maxRecords) throw new TopicCapacityError(record.topic, this.#maxRecords);
      pending.set(log, before + 1);
      placed.push({
        log,
        record: {
          topic: record.topic,
          partition,
          offset: log.end + before,
          key: record.key,
          value: record.value,
          headers: record.headers,
          timestampMs: record.timestampMs,
        },
      });
    }
    for (const { log, record } of placed) log.append(record);
    for (const { record } of placed) {
      for (const listener of this.#listeners) listener(record);
      const table = this.#tables.get(record.topic);
      if (table !== undefined) {
        if (record.value === null) table.rows.delete(record.key);
        else
          table.rows.set(
            record.key,
            await serdeOf(this.#topology, record.topic).deserialize(record.value, record.topic),
          );
      }
      if (this.#options.retainLogs === false) this.#dropConsumed(record.topic, record.partition);
    }
  }

  /** Drops what every reader of the partition has processed: all of it when nothing reads it. */
  #dropConsumed(topic: string, partition: number): void {
    const log = this.#logs.get(topic)?.[partition];
    if (log === undefined) return;
    const readers = this.#readers.get(topic) ?? [];
    log.dropBelow(readers.reduce((least, offsets) => Math.min(least, offsets[partition] ?? 0), log.end));
  }
}

/** The health component of a sub-topology, named as the Kafka driver names it. */
function componentOf(subTopology: string): string {
  return `subtopology:${subTopology}`;
}
