/**
 * The gateway's CommandPublisher for the Kafka mode: an idempotent producer (acks=all), keyed
 * so that all commands of a payment (or an account) share a partition, with the correlation id,
 * principal and idempotency key in headers.
 *
 * `publishPayment` resolves only once the broker has acknowledged the record on all in-sync
 * replicas, so a 202 from the gateway means the command is durable on the log.
 *
 * Commands are batched, like the Java producer's `linger.ms` / `batch.size`: each topic has a
 * queue of records in the order `publish*` was called and at most one produce call in flight.
 * Records published while a produce call is in flight, or within `lingerMs` of the first one
 * when none is, go out together in the next produce call (at most `maxBatchRecords` records and
 * `maxBatchBytes` bytes). Every caller's promise settles with the produce call that carried its
 * record: resolved when all in-sync replicas have it, rejected with that call's error otherwise.
 *
 * Bounds: a publish settles within `produceTimeoutMs` of the call (queueing, serialization and
 * the produce call included), rejecting with a `TimeoutError` when it did not make it (the record
 * may still land if its produce call was already under way: the dedupe processor drops a
 * retry's duplicate). Beyond `maxQueuedRecords` records waiting to be sent, a publish rejects at
 * once with a `PublishQueueFullError`. Either way the gateway answers 503 `PUBLISH_UNAVAILABLE`.
 *
 * Order per key: a topic's records are sent in call order, and a batch is sent only once the
 * previous batch of that topic was acknowledged or failed, so two records of one key (one
 * partition) are never on the wire at the same time and never change places. Topics have
 * separate queues, so a topic that fails (or does not exist) does not hold up the other one.
 */
import type { Kafka, Message, Producer } from 'kafkajs';

import type { AccountCommand, DenyListEntry, PaymentCommand, ReviewDecision } from '../schemas/types.js';
import { HEADER } from '../topics/headers.js';
import { TOPIC } from '../topics/names.js';
import { paymentCommandKey } from '../topics/keys.js';
import type { CommandHeaders, CommandPublisher } from './ports.js';
import { TimeoutError } from './timeout.js';
import { keyPartitioner } from '../topics/partitioner.js';

export interface CommandSerializer {
  serialize(topic: string, value: unknown): Promise<Buffer>;
}

export interface KafkaPublisherOptions {
  readonly kafka: Kafka;
  readonly serializer: CommandSerializer;
  readonly paymentsTopic: string;
  readonly accountsTopic: string;
  /**
   * Bound on one publish, from the call to the acknowledgement by all in-sync replicas:
   * queueing, serialization and the produce request included.
   */
  readonly produceTimeoutMs: number;
  /**
   * How long `publishDenyList` waits after the log acknowledged the change: the processors read
   * the deny list as a table, a few milliseconds behind the log (default 0).
   */
  readonly denyListPropagationMs?: number;
  /**
   * How long the first record of a batch waits for others when no produce call is in flight;
   * 0 sends at once. Default 2.
   */
  readonly lingerMs?: number;
  /** Records in one produce call at most. Default 500. */
  readonly maxBatchRecords?: number;
  /**
   * Bytes (keys, values, headers and per-record overhead, estimated) in one produce call at
   * most; a single larger record goes alone. Default 512 KiB, below the broker's default
   * `message.max.bytes` (1 MiB) for a partition's batch.
   */
  readonly maxBatchBytes?: number;
  /**
   * Records waiting to be sent (not counting the batches in flight) at most, over both topics;
   * beyond it publish rejects at once. Default 10,000.
   */
  readonly maxQueuedRecords?: number;
}

export const PUBLISHER_DEFAULTS = {
  lingerMs: 2,
  maxBatchRecords: 500,
  maxBatchBytes: 512 * 1024,
  maxQueuedRecords: 10_000,
} as const;

/** The publisher already holds `maxQueuedRecords` records waiting to be sent. */
export class PublishQueueFullError extends Error {
  constructor(readonly maxQueuedRecords: number) {
    super(`${maxQueuedRecords} commands are already waiting to be published`);
    this.name = 'PublishQueueFullError';
  }
}

/** `close()` was called: the publisher takes no more commands. */
export class PublisherClosedError extends Error {
  constructor() {
    super('the command publisher is closed');
    this.name = 'PublisherClosedError';
  }
}

/**
 * The Kafka headers of a command record (also used by the embedded log, so both modes carry the
 * same). A payment command carries its payment id too: a record the pipeline can't read still
 * names the payment it ends (PaymentFailed).
 */
export function commandRecordHeaders(headers: CommandHeaders, paymentId?: string): Record<string, string> {
  return {
    [HEADER.correlationId]: headers.correlationId,
    [HEADER.principal]: headers.principal,
    ...(headers.idempotencyKey === null ? {} : { [HEADER.idempotencyKey]: headers.idempotencyKey }),
    ...(paymentId === undefined ? {} : { [HEADER.paymentId]: paymentId }),
  };
}

/** Kafka's per-record framing (lengths, attributes, deltas), a generous estimate. */
const RECORD_OVERHEAD_BYTES = 64;

interface Settings {
  readonly produceTimeoutMs: number;
  readonly lingerMs: number;
  readonly maxBatchRecords: number;
  readonly maxBatchBytes: number;
  readonly maxQueuedRecords: number;
}

function settingsOf(options: KafkaPublisherOptions): Settings {
  const settings: Settings = {
    produceTimeoutMs: options.produceTimeoutMs,
    lingerMs: options.lingerMs ?? PUBLISHER_DEFAULTS.lingerMs,
    maxBatchRecords: options.maxBatchRecords ?? PUBLISHER_DEFAULTS.maxBatchRecords,
    maxBatchBytes: options.maxBatchBytes ?? PUBLISHER_DEFAULTS.maxBatchBytes,
    maxQueuedRecords: options.maxQueuedRecords ?? PUBLISHER_DEFAULTS.maxQueuedRecords,
  };
  for (const [name, value] of Object.entries(settings)) {
    const least = name === 'lingerMs' ? 0 : 1;
    if (!Number.isSafeInteger(value) || value < least)
      throw new RangeError(`KafkaPublisherOptions.${name} must be an integer ≥ ${least}, got ${value}`);
  }
  return settings;
}

/** One publish call, from the call until its promise settles. */
interface Pending {
  /** `queued` in its topic's queue, `sending` in a produce call, `settled` answered. */
  state: 'queued' | 'sending' | 'settled';
  /** Set once serialized. */
  record?: Message;
  bytes: number;
  /** Resolves once serialized or settled, whichever comes first; never rejects. */
  readonly ready: Promise<void>;
  /** Resolves once settled; never rejects. */
  readonly done: Promise<void>;
  /** Answers the caller (rejects when `error` is given); later calls do nothing. */
  settle(error?: unknown): void;
}

/** The records of one topic, in call order, and its one produce call. */
interface Lane {
  readonly topic: string;
  queue: Pending[];
  /** Entries of `queue` already settled (timed out, not serializable), dropped when reached. */
  dead: number;
  sending: boolean;
  linger: NodeJS.Timeout | undefined;
}

export class KafkaCommandPublisher implements CommandPublisher {
  readonly #producer: Producer;
  readonly #settings: Settings;
  readonly #lanes = new Map<string, Lane>();
  readonly #unsettled = new Set<Pending>();
  /** Records in state `queued`, over all topics. */
  #queued = 0;
  #closed: Promise<void> | undefined;

  private constructor(
    producer: Producer,
    private readonly options: KafkaPublisherOptions,
    settings: Settings,
  ) {
    this.#producer = producer;
    this.#settings = settings;
  }

  static async connect(options: KafkaPublisherOptions): Promise<KafkaCommandPublisher> {
    const settings = settingsOf(options);
    const producer = options.kafka.producer({
      // Java's murmur2 partitioner, as every other client of these topics uses.
      createPartitioner: keyPartitioner,
      idempotent: true,
      maxInFlightRequests: 5,
      allowAutoTopicCreation: false,
    });
    await producer.connect();
    return new KafkaCommandPublisher(producer, options, settings);
  }

  publishPayment(command: PaymentCommand, headers: CommandHeaders): Promise<void> {
    // Keyed by the idempotency scope, so dedupe sees every retry of a request in one partition.
    return this.#publish(
      this.options.paymentsTopic,
      paymentCommandKey(command),
      command,
      headers,
      command.submittedAtMs,
      command.paymentId,
    );
  }

  publishAccount(command: AccountCommand, headers: CommandHeaders): Promise<void> {
    return this.#publish(this.options.accountsTopic, command.accountId, command, headers, command.issuedAtMs);
  }

  publishReviewDecision(decision: ReviewDecision, headers: CommandHeaders): Promise<void> {
    return this.#publish(
      TOPIC.reviewsDecisions,
      decision.senderAccountId,
      decision,
      headers,
      decision.decidedAtMs,
    );
  }

  async publishDenyList(
    key: string,
    entry: DenyListEntry | null,
    headers: CommandHeaders,
    atMs: number,
  ): Promise<void> {
    await this.#publish(TOPIC.riskDenylist, key, entry, headers, atMs);
    const wait = this.options.denyListPropagationMs ?? 0;
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }

  /**
   * Stops taking commands (publish rejects with `PublisherClosedError`), sends what is queued,
   * waits until every publish has settled (each within its `produceTimeoutMs`), then disconnects.
   */
  close(): Promise<void> {
    this.#closed ??= this.#flushAndDisconnect();
    return this.#closed;
  }

  async #flushAndDisconnect(): Promise<void> {
    // Called once `#closed` is set, so nothing lingers any more.
    await Promise.resolve();
    for (const lane of this.#lanes.values()) this.#schedule(lane);
    await Promise.all([...this.#unsettled].map((pending) => pending.done));
    await this.#producer.disconnect();
  }

  #publish(
    topic: string,
    key: string,
    value: unknown,
    headers: CommandHeaders,
    timestampMs: number,
    paymentId?: string,
  ) {
    return new Promise<void>((resolve, reject) => {
      if (this.#closed !== undefined) return reject(new PublisherClosedError());
      if (this.#queued >= this.#settings.maxQueuedRecords)
        return reject(new PublishQueueFullError(this.#settings.maxQueuedRecords));
      const lane = this.#lane(topic);
      let markDone!: () => void;
      const done = new Promise<void>((resolveDone) => (markDone = resolveDone));
      const timer = setTimeout(
        () => pending.settle(new TimeoutError('publish command', this.#settings.produceTimeoutMs)),
        this.#settings.produceTimeoutMs,
      );
      const serialized = this.#serialize(topic, value).then(
        (encoded) => {
          const recordHeaders = commandRecordHeaders(headers, paymentId);
          pending.record = { key, value: encoded, headers: recordHeaders, timestamp: String(timestampMs) };
          pending.bytes = RECORD_OVERHEAD_BYTES + Buffer.byteLength(key) + (encoded?.length ?? 0);
          for (const [name, text] of Object.entries(recordHeaders))
            pending.bytes += Buffer.byteLength(name) + Buffer.byteLength(text);
        },
        (error: unknown) => pending.settle(error),
      );
      const pending: Pending = {
        state: 'queued',
        bytes: 0,
        ready: Promise.race([serialized, done]),
        done,
        settle: (error?: unknown) => {
          if (pending.state === 'settled') return;
          if (pending.state === 'queued') this.#dropQueued(lane);
          pending.state = 'settled';
          clearTimeout(timer);
          this.#unsettled.delete(pending);
          markDone();
          if (error === undefined) resolve();
          else reject(error instanceof Error ? error : new Error('publishing failed', { cause: error }));
        },
      };
      lane.queue.push(pending);
      this.#queued += 1;
      this.#unsettled.add(pending);
      this.#schedule(lane);
    });
  }

  /** A null value is a tombstone (a compacted topic's delete). */
  async #serialize(topic: string, value: unknown): Promise<Buffer | null> {
    if (value === null) return null;
    return this.options.serializer.serialize(topic, value);
  }

  #lane(topic: string): Lane {
    let lane = this.#lanes.get(topic);
    if (lane === undefined) {
      lane = { topic, queue: [], dead: 0, sending: false, linger: undefined };
      this.#lanes.set(topic, lane);
    }
    return lane;
  }

  /** A queued record settled before it was sent: it stops counting; dead records leave the queue in bulk. */
  #dropQueued(lane: Lane): void {
    this.#queued -= 1;
    lane.dead += 1;
    if (lane.dead > 64 && lane.dead * 2 > lane.queue.length) {
      lane.queue = lane.queue.filter((pending) => pending.state === 'queued');
      lane.dead = 0;
    }
  }

  /** Starts the lane's next produce call now (batch full, closing, no linger) or after the linger. */
  #schedule(lane: Lane): void {
    if (lane.sending || lane.queue.length === lane.dead) return;
    const now =
      this.#settings.lingerMs === 0 ||
      this.#closed !== undefined ||
      lane.queue.length - lane.dead >= this.#settings.maxBatchRecords;
    if (!now) {
      lane.linger ??= setTimeout(() => this.#drain(lane), this.#settings.lingerMs);
      return;
    }
    this.#drain(lane);
  }

  #drain(lane: Lane): void {
    clearTimeout(lane.linger);
    lane.linger = undefined;
    if (lane.sending) return;
    lane.sending = true;
    void (async () => {
      try {
        for (let batch = await this.#collect(lane); batch.length > 0; batch = await this.#collect(lane))
          await this.#send(lane.topic, batch);
      } catch (error) {
        // Not expected (collect and send handle their failures); never strand a caller.
        for (const pending of lane.queue) pending.settle(error);
      } finally {
        lane.sending = false;
      }
      // Records queued while the last collect was returning.
      this.#schedule(lane);
    })();
  }

  /** Takes the next batch off the lane's queue, in order, within the record and byte bounds. */
  async #collect(lane: Lane): Promise<Pending[]> {
    const batch: Pending[] = [];
    let bytes = 0;
    while (batch.length < this.#settings.maxBatchRecords && lane.queue.length > 0) {
      const head = lane.queue[0]!;
      if (head.state !== 'queued') {
        lane.queue.shift();
        lane.dead -= 1;
        continue;
      }
      await head.ready;
      // Settled meanwhile (timed out, or not serializable): dropped on the next turn.
      if (head.state !== 'queued') continue;
      if (batch.length > 0 && bytes + head.bytes > this.#settings.maxBatchBytes) break;
      lane.queue.shift();
      head.state = 'sending';
      this.#queued -= 1;
      batch.push(head);
      bytes += head.bytes;
    }
    return batch;
  }

  /** One produce call for the batch; every caller in it gets its outcome. */
  async #send(topic: string, batch: readonly Pending[]): Promise<void> {
    const live = batch.filter((pending) => pending.state === 'sending');
    if (live.length === 0) return;
    try {
      await this.#producer.send({
        topic,
        acks: -1,
        timeout: this.#settings.produceTimeoutMs,
        messages: live.map((pending) => pending.record!),
      });
    } catch (error) {
      for (const pending of live) pending.settle(error);
      return;
    }
    for (const pending of live) pending.settle();
  }
}
