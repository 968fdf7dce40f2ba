/**
 * The main job as a child process (`app/main.ts` in the Kafka mode on the real stack) and what a
 * producer and an operator do with it over HTTP only: open and fund accounts, pay as the API asks
 * (an answer that never came, 409, 429 or 503 is sent again with the same Idempotency-Key and
 * body until a 202), wait for a payment to end, and compare balances with the payments that
 * completed. Shared by the tests that kill or starve the main job under load.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';

import { TEST_PII_KEYS, TEST_SECRET, token } from '../../gateway/test-support.js';
import { sleep } from './eos-harness.js';
import { DEFAULT_HTTP_RETRY, retryWaitMs } from './http-retry.js';
import { LOAD_TEST_RATE_LIMITS, LOAD_TEST_VELOCITY_LIMITS } from './stack.js';

import type { StackEnv } from './stack.js';

export const RETRYABLE = new Set([0, 409, 429, 503]);
export const TERMINAL = new Set(['COMPLETED', 'REJECTED']);

export interface Answer {
  /** 0 when no answer came (the process was killed, or the port was closed, or it timed out). */
  readonly status: number;
  readonly body: Record<string, unknown>;
  /** The answer's Retry-After header, if it had one. */
  readonly retryAfter?: string | null;
  /** The answer was a replay of the key's stored response (Idempotent-Replayed: true). */
  readonly replayed?: boolean;
}

/** A 202 and how it was reached. */
export interface Accepted extends Answer {
  /** Sends of this request that got no answer before the 202. */
  readonly unanswered: number;
}

/** One payment a producer sends, under its own Idempotency-Key. */
export interface Transfer {
  readonly key: string;
  readonly sender: string;
  readonly recipient: string;
  readonly amount: number;
  /** The payment id of the 202 the producer finally got. */
  paymentId?: string;
  /** Sends of this payment that got no answer (the job killed with them in flight) before the 202. */
  unansweredSends?: number;
  /** The 202 was a replay of the response the first attempt stored. */
  replayed?: boolean;
}

/**
 * Starts `app/main.ts` in the Kafka mode on `port`. Its stdout (stderr) is piped when `stdout`
 * (`stderr`) is 'pipe' (the caller must then read it, or the child blocks on a full pipe); stderr
 * is inherited otherwise.
 */
export function startMainJobProcess(
  stack: StackEnv,
  port: number,
  options: {
    readonly stdout?: 'ignore' | 'pipe';
    readonly stderr?: 'inherit' | 'pipe';
    readonly env?: Readonly<Record<string, string>>;
  } = {},
): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'app/main.ts'], {
    env: {
      ...process.env,
      PAYFLOW_KAFKA_BROKERS: stack.kafkaBrokers.join(','),
      PAYFLOW_SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
      PAYFLOW_POSTGRES_URL: stack.postgresUrl,
      // The tests' rotated ring (t1 retired, t2 active), not the stack's file.
      PAYFLOW_PII_KEYS_FILE: '',
      PAYFLOW_PII_KEYS: TEST_PII_KEYS,
      PAYFLOW_REDIS_URL: stack.redisUrl,
      PAYFLOW_HTTP_HOST: '127.0.0.1',
      PAYFLOW_HTTP_PORT: String(port),
      PAYFLOW_JWT_SECRET: TEST_SECRET,
      PAYFLOW_LOG_LEVEL: 'warn',
      PAYFLOW_RATE_LIMITS_FILE: LOAD_TEST_RATE_LIMITS,
      // Load from a few senders: the velocity tests set their own limits.
      PAYFLOW_VELOCITY_LIMITS_FILE: LOAD_TEST_VELOCITY_LIMITS,
      // A key whose holder was killed is free again after 2 s instead of 30.
      PAYFLOW_IDEMPOTENCY_LOCK_TTL_MS: '2000',
      // One process unless `env` or the test's own PAYFLOW_WORKERS says otherwise, so a SIGKILL
      // of it is a crash of the pipeline too.
      PAYFLOW_WORKERS: process.env.PAYFLOW_WORKERS ?? '1',
      ...options.env,
    },
    stdio: ['ignore', options.stdout ?? 'ignore', options.stderr ?? 'inherit'],
  });
}

/** Bearer tokens for an hour: a producer (a merchant of its own) and an operator (admin). */
export async function bearerTokens(): Promise<{
  readonly producer: string;
  readonly admin: string;
  /** The principal (JWT `sub`) of `producer`. */
  readonly producerPrincipal: string;
}> {
  const producerPrincipal = `merchant-${randomUUID()}`;
  return {
    producer: await token({ sub: producerPrincipal, roles: ['producer'] }, { expiresIn: '1h' }),
    admin: await token({ sub: 'ops', roles: ['admin'] }, { expiresIn: '1h' }),
    producerPrincipal,
  };
}

/** A random payment between two different accounts of `accounts`. */
export function randomTransfer(
  random: () => number,
  accounts: readonly string[],
  maxAmount: number,
): Transfer {
  const sender = accounts[Math.floor(random() * accounts.length)]!;
  const other = accounts.filter((accountId) => accountId !== sender);
  return {
    key: randomUUID(),
    sender,
    recipient: other[Math.floor(random() * other.length)]!,
    amount: 1 + Math.floor(random() * maxAmount),
  };
}

export interface HttpProducerOptions {
  /** How long one request may take before it counts as unanswered. */
  readonly requestTimeoutMs?: number;
  /** How long `until202` keeps sending one request again. */
  readonly sendDeadlineMs: number;
  /** How long `settle` waits for one payment to end. */
  readonly settleTimeoutMs: number;
  /** Told of every answer `until202` sends again after (status 0, 409, 429 or 503). */
  readonly onRetry?: (answer: Answer) => void;
  /** When aborted, `until202` stops sending again and throws. */
  readonly signal?: AbortSignal;
}

/** A producer's and an operator's view of the gateway at `base`. */
export class HttpProducer {
  /** Sends that got no answer (the job killed with them in flight, or not up yet) and were sent again. */
  unanswered = 0;

  constructor(
    readonly base: string,
    private readonly options: HttpProducerOptions,
  ) {}

  async call(method: string, path: string, bearer: string, body?: unknown, key?: string): Promise<Answer> {
    try {
      const response = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${bearer}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(key === undefined ? {} : { 'idempotency-key': key }),
        },
        body: body === undefined ? null : JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 10_000),
      });
      return {
        status: response.status,
        body: (await response.json()) as Record<string, unknown>,
        retryAfter: response.headers.get('retry-after'),
        replayed: response.headers.get('idempotent-replayed') === 'true',
      };
    } catch {
      return { status: 0, body: {} };
    }
  }

  /**
   * Waits before sending again after `answer`: its Retry-After when it is a 429 or 503 that
   * carries one (at most the shared retry policy's longest wait), `fallbackMs` otherwise; never
   * past `deadline` (epoch ms).
   */
  async #pause(answer: Answer, fallbackMs: number, deadline: number): Promise<void> {
    const asked = retryWaitMs(answer.status, answer.retryAfter);
    const wait = asked === undefined ? fallbackMs : Math.min(asked, DEFAULT_HTTP_RETRY.maxWaitMs);
    await sleep(Math.max(0, Math.min(wait, deadline - Date.now())));
  }

  /** Sends until a 202, as a well-behaved producer does; returns the payment id it names. */
  async until202(path: string, bearer: string, body: unknown, key: string): Promise<string> {
    return (await this.untilAccepted(path, bearer, body, key)).body.paymentId as string;
  }

  /**
   * Sends until a 202, waiting each Retry-After a 429 or 503 asks for; anything else but a
   * retryable answer fails, and so does no 202 within the send deadline.
   */
  async untilAccepted(path: string, bearer: string, body: unknown, key: string): Promise<Accepted> {
    const deadline = Date.now() + this.options.sendDeadlineMs;
    let unanswered = 0;
    for (;;) {
      this.options.signal?.throwIfAborted();
      const answer = await this.call('POST', path, bearer, body, key);
      if (answer.status === 202) return { ...answer, unanswered };
      if (answer.status === 0) {
        this.unanswered += 1;
        unanswered += 1;
      }
      assert.ok(
        RETRYABLE.has(answer.status),
        `POST ${path}: ${answer.status} ${JSON.stringify(answer.body)}`,
      );
      this.options.onRetry?.(answer);
      assert.ok(
        Date.now() < deadline,
        `POST ${path} was not accepted within ${this.options.sendDeadlineMs} ms`,
      );
      await this.#pause(answer, 200, deadline);
    }
  }

  /** Sends `transfer` until a 202 and records the payment id it got. */
  async pay(bearer: string, transfer: Transfer): Promise<string> {
    const accepted = await this.untilAccepted(
      '/v1/payments',
      bearer,
      {
        senderAccountId: transfer.sender,
        recipientAccountId: transfer.recipient,
        amount: transfer.amount,
        currency: 'EUR',
      },
      transfer.key,
    );
    transfer.paymentId = accepted.body.paymentId as string;
    transfer.unansweredSends = accepted.unanswered;
    transfer.replayed = accepted.replayed === true;
    return transfer.paymentId;
  }

  /** The payment's last answer: terminal, or whatever it was when `deadline` (epoch ms) passed. */
  async pollPayment(paymentId: string, bearer: string, deadline: number): Promise<Answer> {
    for (;;) {
      const answer = await this.call('GET', `/v1/payments/${paymentId}`, bearer);
      if (answer.status === 200 && TERMINAL.has(answer.body.status as string)) return answer;
      if (Date.now() >= deadline) return answer;
      await this.#pause(answer, 250, deadline);
    }
  }

  /** The payment once it ended; fails when it did not end within the settle timeout. */
  async settle(paymentId: string, bearer: string): Promise<Record<string, unknown>> {
    const answer = await this.pollPayment(paymentId, bearer, Date.now() + this.options.settleTimeoutMs);
    assert.ok(
      answer.status === 200 && TERMINAL.has(answer.body.status as string),
      `payment ${paymentId} did not end within ${this.options.settleTimeoutMs} ms (last: ${answer.status} ${JSON.stringify(answer.body.status)})`,
    );
    return answer.body;
  }

  /** Opens `count` EUR accounts named `<prefix>-<i>` and waits until each is readable. */
  async openAccounts(admin: string, prefix: string, count: number): Promise<string[]> {
    const accounts = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
    for (const accountId of accounts) {
      await this.untilAccepted(
        '/v1/accounts',
        admin,
        { accountId, ownerId: `owner-${accountId}`, currency: 'EUR', kycTier: 'TIER_2' },
        randomUUID(),
      );
    }
    for (const accountId of accounts) {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const answer = await this.call('GET', `/v1/accounts/${accountId}`, admin);
        if (answer.status === 200) break;
        assert.ok(Date.now() < deadline, `account ${accountId} is readable within 60 s`);
        await this.#pause(answer, 250, deadline);
      }
    }
    return accounts;
  }

  /** Deposits `amount` into each account until the deposit completes. */
  async fundAccounts(admin: string, accounts: readonly string[], amount: number): Promise<void> {
    // Validation reads the accounts table too; a deposit before it has the account is sent again.
    for (const accountId of accounts) {
      for (let attempt = 0; ; attempt += 1) {
        const paymentId = await this.until202(
          `/v1/accounts/${accountId}/deposits`,
          admin,
          { amount, currency: 'EUR' },
          randomUUID(),
        );
        if ((await this.settle(paymentId, admin)).status === 'COMPLETED') break;
        assert.ok(attempt < 20, `the deposit to ${accountId} completes`);
        await sleep(500);
      }
    }
  }

  /**
   * Waits until every account's balance is the expected one; returns one line per account that
   * still differs when `timeoutMs` passed (empty when all match).
   */
  async balanceMismatches(
    admin: string,
    expected: ReadonlyMap<string, bigint>,
    timeoutMs: number,
  ): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    const pending = new Map(expected);
    const seen = new Map<string, unknown>();
    for (;;) {
      for (const [accountId, balance] of pending) {
        const answer = await this.call('GET', `/v1/accounts/${accountId}`, admin);
        seen.set(accountId, answer.status === 200 ? answer.body.balanceMinor : `HTTP ${answer.status}`);
        if (answer.status === 200 && BigInt(answer.body.balanceMinor as string) === balance)
          pending.delete(accountId);
      }
      if (pending.size === 0 || Date.now() >= deadline)
        return [...pending].map(
          ([accountId, balance]) =>
            `balance of ${accountId}: ${JSON.stringify(seen.get(accountId))}, expected ${balance}`,
        );
      await sleep(250);
    }
  }
}

/**
 * Checks one ended payment against what its producer sent: a retry whose first attempt reached
 * the log republishes the same command, so it is never a DUPLICATE_REQUEST of itself.
 */
export function assertEndedAsSent(view: Record<string, unknown>, transfer: Transfer): void {
  const rejection = view.rejection as { code: string; detail: string | null } | null;
  assert.notEqual(
    rejection?.code,
    'DUPLICATE_REQUEST',
    `payment ${transfer.paymentId} is not a duplicate of itself`,
  );
  assert.equal(view.senderAccountId, transfer.sender);
  assert.equal(view.amount, transfer.amount);
}

/** Each account's deposit plus exactly the completed transfers (sender − amount, recipient + amount). */
export function expectedBalances(
  accounts: readonly string[],
  deposit: number,
  completed: Iterable<Transfer>,
): Map<string, bigint> {
  const expected = new Map(accounts.map((accountId) => [accountId, BigInt(deposit)]));
  for (const transfer of completed) {
    expected.set(transfer.sender, expected.get(transfer.sender)! - BigInt(transfer.amount));
    expected.set(transfer.recipient, expected.get(transfer.recipient)! + BigInt(transfer.amount));
  }
  return expected;
}
