/**
 * The main job (`startMainJob`, what `npm start` runs) in either mode, for end-to-end tests that
 * talk to it over HTTP like a producer and an operator would. The same tests run against both:
 *
 * - `embedded`: no servers; the harness reads the in-memory log for what it checks on the log;
 * - `kafka`: the real stack (Kafka, registry, PostgreSQL, Redis); the harness reads and writes
 *   the real topics with its own Kafka clients.
 *
 * Besides HTTP, a test can put a record straight onto the ingress topic (a producer's retry that
 * reaches the log twice) and count the debit postings on `ledger.postings`.
 */
import { randomUUID } from 'node:crypto';

import { Kafka, logLevel, Partitioners, type Consumer, type IHeaders, type Producer } from 'kafkajs';

import { requestHash } from '../../gateway/canonical.js';
import { connectRedis, RedisIdempotencyStore } from '../../gateway/index.js';
import { TEST_PII_KEYS, TEST_SECRET, token } from '../../gateway/test-support.js';
import { startMainJob, type MainJob } from '../../app/main.js';
import { AVRO } from '../../schemas/avro.js';
import { createSchemaRegistry, registryAvroSerde, valueSubject } from '../../schemas/registry.js';
import type { LedgerPosting, PaymentCommand } from '../../schemas/types.js';
import { TOPIC } from '../../topics/catalogue.js';
import { paymentCommandKey } from '../../topics/keys.js';
import type { Serde } from '../../processors/runtime/api.js';
import { LOAD_TEST_RATE_LIMITS, LOAD_TEST_VELOCITY_LIMITS, type StackEnv } from './stack.js';
import { sendWithRetryAfter, type HttpRetryPolicy } from './http-retry.js';

export type Mode = 'embedded' | 'kafka';

export interface HttpAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: Record<string, unknown>;
  readonly retryAfter: string | null;
}

export interface RequestOptions {
  readonly body?: unknown;
  /** Sent as-is instead of JSON.stringify(body). */
  readonly rawBody?: string;
  readonly idempotencyKey?: string;
  readonly headers?: Record<string, string>;
  /** How 429 and 503 with Retry-After are sent again (the default as a producer does). */
  readonly retry?: HttpRetryPolicy;
}

interface RawCommand {
  readonly key: string;
  readonly value: Buffer;
  readonly headers: Record<string, string>;
}

/** What the harness needs from the log beneath the job, per mode. */
interface LogAccess {
  /** The ingress record the gateway wrote for this payment, byte for byte. */
  ingressRecord(paymentId: string): Promise<RawCommand | undefined>;
  appendIngress(record: RawCommand): Promise<void>;
  encodeCommand(command: PaymentCommand): Promise<Buffer>;
  /** Debit posting records seen on ledger.postings per payment id (a duplicate counts twice). */
  debitPostings(): Promise<ReadonlyMap<string, number>>;
  close(): Promise<void>;
}

const LOG_WAIT_MS = 30_000;

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = LOG_WAIT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Follows the embedded pipeline's `payments.commands` and `ledger.postings` from the moment the
 * harness starts, as the Kafka harness follows the topics: the embedded job's logs are pipes
 * that drop what its processors consumed, so the records are kept here as they are appended.
 */
function embeddedLog(job: MainJob): LogAccess {
  const driver = job.embedded!.driver;
  const commandSerde = AVRO.PaymentCommand;
  const ingress = new Map<string, RawCommand>();
  const debits = new Map<string, number>();
  driver.onAppend((record) => {
    if (record.value === null) return;
    if (record.topic === TOPIC.paymentsCommands) {
      const { paymentId } = commandSerde.decode(record.value);
      if (!ingress.has(paymentId))
        ingress.set(paymentId, { key: record.key, value: record.value, headers: { ...record.headers } });
    } else if (record.topic === TOPIC.ledgerPostings) {
      const posting = AVRO.LedgerPosting.decode(record.value);
      if (posting.leg === 'DEBIT') debits.set(posting.paymentId, (debits.get(posting.paymentId) ?? 0) + 1);
    }
  });
  return {
    ingressRecord: (paymentId) => Promise.resolve(ingress.get(paymentId)),
    appendIngress: (record) =>
      driver.pipeRaw(TOPIC.paymentsCommands, record.key, record.value, { headers: record.headers }),
    encodeCommand: (command) => Promise.resolve(commandSerde.encode(command)),
    debitPostings: () => Promise.resolve(new Map(debits)),
    close: () => Promise.resolve(),
  };
}

function headerStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value !== undefined) out[name] = Buffer.isBuffer(value) ? value.toString() : String(value);
  }
  return out;
}

/**
 * Follows `payments.commands` and `ledger.postings` from the moment the harness starts (fresh
 * consumer groups at the end of the log), read_committed, and writes raw records to the ingress
 * topic with an idempotent producer.
 */
async function kafkaLog(stack: StackEnv): Promise<LogAccess> {
  const kafka = new Kafka({
    clientId: 'payflow-e2e',
    brokers: stack.kafkaBrokers,
    logLevel: logLevel.NOTHING,
  });
  const registry = createSchemaRegistry(stack.schemaRegistryUrl);
  const commandSerde: Serde<PaymentCommand> = registryAvroSerde(
    registry,
    valueSubject(TOPIC.paymentsCommands),
    AVRO.PaymentCommand,
  );
  const postingSerde: Serde<LedgerPosting> = registryAvroSerde(
    registry,
    valueSubject(TOPIC.ledgerPostings),
    AVRO.LedgerPosting,
  );
  const ingress = new Map<string, RawCommand>();
  const debits = new Map<string, number>();
  const consumers: Consumer[] = [];
  const follow = async (
    topic: string,
    onValue: (key: string, value: Buffer, headers: IHeaders | undefined) => Promise<void>,
  ) => {
    const consumer = kafka.consumer({ groupId: `payflow-e2e-${randomUUID()}`, readUncommitted: false });
    consumers.push(consumer);
    await consumer.connect();
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.subscribe({ topic, fromBeginning: false });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.value !== null)
          await onValue(message.key?.toString() ?? '', message.value, message.headers);
      },
    });
    await joined;
  };
  const producer: Producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  await follow(TOPIC.paymentsCommands, async (key, value, headers) => {
    const command = await commandSerde.deserialize(value, TOPIC.paymentsCommands);
    if (!ingress.has(command.paymentId))
      ingress.set(command.paymentId, { key, value, headers: headerStrings(headers) });
  });
  await follow(TOPIC.ledgerPostings, async (_key, value) => {
    const posting = await postingSerde.deserialize(value, TOPIC.ledgerPostings);
    if (posting.leg === 'DEBIT') debits.set(posting.paymentId, (debits.get(posting.paymentId) ?? 0) + 1);
  });
  return {
    ingressRecord: (paymentId) => until(`the ingress record of ${paymentId}`, () => ingress.get(paymentId)),
    appendIngress: async (record) => {
      await producer.send({
        topic: TOPIC.paymentsCommands,
        acks: -1,
        messages: [{ key: record.key, value: record.value, headers: record.headers }],
      });
    },
    encodeCommand: (command) => Promise.resolve(commandSerde.serialize(command, TOPIC.paymentsCommands)),
    debitPostings: () => Promise.resolve(debits),
    close: async () => {
      await Promise.all(consumers.map((consumer) => consumer.disconnect()));
      await producer.disconnect();
    },
  };
}

export class JobHarness {
  private constructor(
    readonly mode: Mode,
    readonly job: MainJob,
    private readonly log: LogAccess,
    readonly tokens: { readonly producer: string; readonly otherProducer: string; readonly admin: string },
    private readonly producerPrincipal: string,
    private readonly redisUrl: string | undefined,
  ) {}

  /**
   * Starts the main job as `npm start` would with `env`, listening on a free loopback port, with
   * limits raised so that load tests measure the pipeline, not the per-principal rate limit.
   * With the stack, both modes keep idempotency keys in its Redis (as replicas of the gateway do).
   */
  static async start(
    mode: Mode,
    stack: StackEnv | undefined,
    env: Record<string, string> = {},
  ): Promise<JobHarness> {
    const jobEnv: Record<string, string> = {
      PAYFLOW_HTTP_PORT: '0',
      PAYFLOW_JWT_SECRET: TEST_SECRET,
      PAYFLOW_LOG_LEVEL: 'warn',
      PAYFLOW_RATE_LIMITS_FILE: LOAD_TEST_RATE_LIMITS,
      // Load from a few senders: the velocity tests set their own limits.
      PAYFLOW_VELOCITY_LIMITS_FILE: LOAD_TEST_VELOCITY_LIMITS,
      PAYFLOW_HTTP_MAX_IN_FLIGHT: '10000',
      PAYFLOW_PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '30000',
      ...(stack === undefined ? {} : { PAYFLOW_REDIS_URL: stack.redisUrl }),
      ...(mode === 'kafka' && stack !== undefined
        ? {
            PAYFLOW_KAFKA_BROKERS: stack.kafkaBrokers.join(','),
            PAYFLOW_SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
            PAYFLOW_POSTGRES_URL: stack.postgresUrl,
            PAYFLOW_PII_KEYS: TEST_PII_KEYS,
          }
        : {}),
      ...env,
    };
    if (mode === 'kafka' && stack === undefined) throw new Error('the Kafka mode needs the real stack');
    const job = await startMainJob(jobEnv);
    if (job.mode !== mode) throw new Error(`expected the ${mode} mode, the job started in ${job.mode}`);
    let log: LogAccess;
    try {
      log = mode === 'kafka' ? await kafkaLog(stack!) : embeddedLog(job);
    } catch (error) {
      await job.close();
      throw error;
    }
    const producerPrincipal = `merchant-${randomUUID()}`;
    const tokens = {
      producer: await token({ sub: producerPrincipal, roles: ['producer'] }, { expiresIn: '1h' }),
      otherProducer: await token(
        // Another merchant's service token: it acts for its own owners only, none of the tests'.
        { sub: `merchant-${randomUUID()}`, roles: ['producer'], owners: [`owner-of-${randomUUID()}`] },
        { expiresIn: '1h' },
      ),
      admin: await token({ sub: 'ops', roles: ['admin'] }, { expiresIn: '1h' }),
    };
    return new JobHarness(mode, job, log, tokens, producerPrincipal, jobEnv.PAYFLOW_REDIS_URL);
  }

  async request(
    tokenValue: string | undefined,
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<HttpAnswer> {
    return sendWithRetryAfter(() => this.#requestOnce(tokenValue, method, path, options), options.retry);
  }

  async #requestOnce(
    tokenValue: string | undefined,
    method: string,
    path: string,
    options: RequestOptions,
  ): Promise<HttpAnswer> {
    const hasBody = options.body !== undefined || options.rawBody !== undefined;
    const response = await fetch(`${this.job.address}${path}`, {
      method,
      headers: {
        ...(tokenValue === undefined ? {} : { authorization: `Bearer ${tokenValue}` }),
        ...(hasBody ? { 'content-type': 'application/json' } : {}),
        ...(options.idempotencyKey === undefined ? {} : { 'idempotency-key': options.idempotencyKey }),
        ...options.headers,
      },
      ...(hasBody ? { body: options.rawBody ?? JSON.stringify(options.body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    let body: Record<string, unknown> = {};
    if (text.length > 0) body = JSON.parse(text) as Record<string, unknown>;
    return {
      status: response.status,
      contentType: response.headers.get('content-type') ?? '',
      body,
      retryAfter: response.headers.get('retry-after'),
    };
  }

  /** Opens an ACTIVE account (admin API) and waits until the read model shows it. */
  async openAccount(accountId: string, currency = 'EUR', extra: Record<string, unknown> = {}): Promise<void> {
    const answer = await this.request(this.tokens.admin, 'POST', '/v1/accounts', {
      body: { accountId, ownerId: `owner-${accountId}`, currency, kycTier: 'TIER_1', ...extra },
      idempotencyKey: randomUUID(),
    });
    if (answer.status !== 202)
      throw new Error(`opening ${accountId}: ${answer.status} ${JSON.stringify(answer.body)}`);
    await this.account(accountId, (view) => view.status === 'ACTIVE');
  }

  /** Opens a payer (funded with `deposit`) and an empty payee, with unique ids. */
  async openFundedPair(deposit: number, currency = 'EUR'): Promise<[payer: string, payee: string]> {
    const payer = `payer-${randomUUID()}`;
    const payee = `payee-${randomUUID()}`;
    await this.openAccount(payer, currency);
    await this.openAccount(payee, currency);
    await this.deposit(payer, deposit, currency);
    return [payer, payee];
  }

  /** Freezes an account and waits until the read model shows it FROZEN. */
  async freeze(accountId: string): Promise<void> {
    const answer = await this.request(this.tokens.admin, 'PATCH', `/v1/accounts/${accountId}`, {
      body: { status: 'FROZEN' },
      idempotencyKey: randomUUID(),
    });
    if (answer.status !== 202)
      throw new Error(`freezing ${accountId}: ${answer.status} ${JSON.stringify(answer.body)}`);
    await this.account(accountId, (view) => view.status === 'FROZEN');
  }

  /** Deposits and returns the deposit's payment id once it has COMPLETED. */
  async deposit(accountId: string, amount: number, currency = 'EUR'): Promise<string> {
    const answer = await this.request(this.tokens.admin, 'POST', `/v1/accounts/${accountId}/deposits`, {
      body: { amount, currency },
      idempotencyKey: randomUUID(),
    });
    if (answer.status !== 202)
      throw new Error(`deposit to ${accountId}: ${answer.status} ${JSON.stringify(answer.body)}`);
    const paymentId = String(answer.body.paymentId);
    const done = await this.settled(paymentId);
    if (done.status !== 'COMPLETED') throw new Error(`deposit ${paymentId} ended ${JSON.stringify(done)}`);
    return paymentId;
  }

  /** Submits a payment as the producer; returns the HTTP answer. */
  pay(
    body: Record<string, unknown>,
    idempotencyKey: string = randomUUID(),
    tokenValue = this.tokens.producer,
  ): Promise<HttpAnswer> {
    return this.request(tokenValue, 'POST', '/v1/payments', { body, idempotencyKey });
  }

  /** The payment once it is COMPLETED, REJECTED or FAILED (waits while the pipeline works), read as admin. */
  settled(paymentId: string, timeoutMs = LOG_WAIT_MS): Promise<Record<string, unknown>> {
    return until(
      `payment ${paymentId} to settle`,
      async () => {
        const answer = await this.request(this.tokens.admin, 'GET', `/v1/payments/${paymentId}`);
        const status = answer.body.status;
        return answer.status === 200 &&
          (status === 'COMPLETED' || status === 'REJECTED' || status === 'FAILED')
          ? answer.body
          : undefined;
      },
      timeoutMs,
    );
  }

  /** The account's view once `ready(view)` holds. */
  account(
    accountId: string,
    ready: (view: Record<string, unknown>) => boolean = () => true,
  ): Promise<Record<string, unknown>> {
    return until(`account ${accountId}`, async () => {
      const answer = await this.request(this.tokens.admin, 'GET', `/v1/accounts/${accountId}`);
      return answer.status === 200 && ready(answer.body) ? answer.body : undefined;
    });
  }

  /** The decision an account command's status URL shows, once it is no longer PENDING. */
  commandOutcome(statusUrl: string): Promise<Record<string, unknown>> {
    return until(`the decision on ${statusUrl}`, async () => {
      const answer = await this.request(this.tokens.admin, 'GET', statusUrl);
      return answer.status === 200 && answer.body.outcome !== 'PENDING' ? answer.body : undefined;
    });
  }

  async balance(accountId: string): Promise<bigint> {
    return BigInt(String((await this.account(accountId)).balanceMinor));
  }

  /** Appends an exact copy of the ingress record the gateway wrote for this payment. */
  async duplicateIngressRecord(paymentId: string): Promise<void> {
    const record = await this.log.ingressRecord(paymentId);
    if (record === undefined) throw new Error(`no ingress record for ${paymentId}`);
    await this.log.appendIngress(record);
  }

  /** Puts a command straight onto the ingress topic, past the gateway's checks. */
  async injectCommand(command: PaymentCommand): Promise<void> {
    await this.log.appendIngress({
      key: paymentCommandKey(command),
      value: await this.log.encodeCommand(command),
      headers: { 'payflow-correlation-id': randomUUID(), 'payflow-principal': command.principal },
    });
  }

  /**
   * Plays another gateway replica that has begun the producer's `POST /v1/payments` with this key
   * and body and not finished: it holds the key's in-flight lock in the shared Redis until
   * `release()`. Undefined without Redis (the in-memory store is not shared).
   */
  async holdInFlight(key: string, body: unknown): Promise<{ release(): Promise<void> } | undefined> {
    if (this.redisUrl === undefined) return undefined;
    const redis = await connectRedis({
      url: this.redisUrl,
      commandTimeoutMs: 2_000,
      connectTimeoutMs: 5_000,
    });
    const store = new RedisIdempotencyStore(redis, {
      ttlMs: 86_400_000,
      lockTtlMs: 60_000,
      commandTimeoutMs: 2_000,
    });
    const scope = { principal: this.producerPrincipal, key };
    const begun = await store.begin(scope, `POST /v1/payments ${requestHash(body)}`);
    if (begun.outcome !== 'acquired') {
      await redis.quit();
      throw new Error(`the key is not free: ${begun.outcome}`);
    }
    return {
      release: async () => {
        await store.release(scope, begun.lockToken);
        await redis.quit();
      },
    };
  }

  /**
   * Debit posting records of these payments on ledger.postings. With `waitForEach` (payments known
   * to be debited) it first waits until the log reader has seen one for each, then a moment more
   * so a duplicate written after it would be counted too.
   */
  async debitPostingsOf(
    paymentIds: readonly string[],
    options: { readonly waitForEach?: boolean } = {},
  ): Promise<{ readonly total: number; readonly duplicated: readonly string[] }> {
    if (options.waitForEach ?? true) {
      await until(
        `debit postings of ${paymentIds.length} payments on the log`,
        async () => {
          const seen = await this.log.debitPostings();
          return paymentIds.every((id) => (seen.get(id) ?? 0) > 0) ? true : undefined;
        },
        120_000,
      );
      await new Promise((resolve) => setTimeout(resolve, this.mode === 'kafka' ? 2_000 : 0));
    }
    const seen = await this.log.debitPostings();
    const counts = paymentIds.map((id) => [id, seen.get(id) ?? 0] as const);
    return {
      total: counts.reduce((sum, [, n]) => sum + n, 0),
      duplicated: counts.filter(([, n]) => n > 1).map(([id]) => id),
    };
  }

  /** Debit posting records on ledger.postings per payment id, since the harness started. */
  debitPostings(): Promise<ReadonlyMap<string, number>> {
    return this.log.debitPostings();
  }

  async close(): Promise<void> {
    await this.log.close();
    await this.job.close();
  }
}
