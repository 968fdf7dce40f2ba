/**
 * The payment pipeline end to end: the main job (app/main.ts) in a child process, driven over its
 * HTTP API by parallel clients in the benchmark process; a payment's latency runs from sending
 * its `POST /v1/payments` to seeing its `PaymentCompleted` event (Kafka mode: a read_committed
 * consumer of `payments.events`; embedded mode: polling its status).
 *
 * Per mode: start the job, open and fund `BENCH_ACCOUNTS` fresh accounts, a warm-up, a bulk load
 * (`BENCH_PAYMENTS` payments by `BENCH_PAYMENT_CLIENTS` clients, for throughput) and a paced one
 * (`BENCH_PAYMENT_RATE`/s for `BENCH_SECONDS` s, for latency); then stop the job. The Kafka mode
 * uses the real topics of the default application id; nothing on the broker is deleted but the
 * consumer group of the benchmark's own consumer.
 */
import { randomInt, randomUUID } from 'node:crypto';

import type { Kafka } from 'kafkajs';

import type { BenchSettings } from './config.js';
import type { Leftovers } from './leftovers.js';
import { BenchError, Deadline, nowMs, sleep } from './limits.js';
import { percentiles } from './load.js';
import { MainJobProcess, type JobMode } from './main-job.js';
import { field, PaymentApi } from './payment-api.js';
import {
  EventObserver,
  PaymentTracker,
  StatusPoller,
  type Observer,
  type PhaseResult,
} from './payment-tracker.js';
import { ReadModelLag } from './read-model-lag.js';
import type { Measured } from './report.js';
import { snapshot, usage, type Snapshot } from './usage.js';

export const PAYMENT_LABELS: Readonly<Record<JobMode, string>> = {
  kafka: 'payments: main job, Kafka mode',
  embedded: 'payments: main job, embedded (polled)',
};

const WARMUP_PAYMENTS = 200;
/** Each account's deposit: far more than the payments can take out, so few are rejected. */
const FUNDING_MINOR = 100_000_000;
/** Payments are 0.01 to 9.99 EUR. */
const MAX_PAYMENT_MINOR = 999;
const CURRENCY = 'EUR';
const SETUP_WAIT_MS = 90_000;
const DEPOSIT_ATTEMPTS = 3;
const POLLERS = 4;
/** Bound on the wait for the read models to catch up after the bulk load. */
const LAG_WAIT_MS = 60_000;

/** Runs `work` on every item, `parallel` at a time. */
async function inParallel<T>(items: readonly T[], parallel: number, work: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, worker));
}

/** Repeats `check` on what is left of `items` until it holds for all of them, within `ms`. */
async function waitForAll<T>(
  items: readonly T[],
  what: string,
  ms: number,
  deadline: Deadline,
  check: (item: T) => Promise<boolean>,
): Promise<void> {
  let left = [...items];
  const until = Date.now() + ms;
  while (left.length > 0) {
    deadline.check(`waiting until ${what}`);
    if (Date.now() > until)
      throw new BenchError(`${left.length} of ${items.length} not done within ${ms / 1_000} s: ${what}`);
    const done = new Set<T>();
    await inParallel(left, 8, async (item) => {
      if (await check(item)) done.add(item);
    });
    left = left.filter((item) => !done.has(item));
    if (left.length > 0) await sleep(200);
  }
}

/** The load: payments between random pairs of the run's accounts. */
class PaymentLoad {
  constructor(
    private readonly api: PaymentApi,
    private readonly tracker: PaymentTracker,
    private readonly accounts: readonly string[],
    private readonly clients: number,
    private readonly deadline: Deadline,
  ) {}

  async #pay(phase: string): Promise<void> {
    const sender = randomInt(this.accounts.length);
    const recipient = (sender + 1 + randomInt(this.accounts.length - 1)) % this.accounts.length;
    const body = {
      senderAccountId: this.accounts[sender],
      recipientAccountId: this.accounts[recipient],
      amount: 1 + randomInt(MAX_PAYMENT_MINOR),
      currency: CURRENCY,
    };
    const key = randomUUID();
    const submission = this.tracker.submit(phase, key);
    const answer = await this.api.request('POST', '/v1/payments', 'producer', body, key);
    this.tracker.answered(submission, answer.status, answer.body);
  }

  /** `count` payments, as fast as `clients` clients each waiting for its 202 can send them. */
  async bulk(phase: string, count: number): Promise<void> {
    let sent = 0;
    const client = async () => {
      while (sent < count) {
        this.deadline.check(`sending the ${phase} payments`);
        sent += 1;
        await this.#pay(phase);
      }
    };
    await Promise.all(Array.from({ length: this.clients }, client));
  }

  /** `count` payments at `rate`/s, each sent when due, at most `clients` in flight. */
  async paced(phase: string, count: number, rate: number): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    const start = nowMs();
    let sent = 0;
    while (sent < count) {
      this.deadline.check(`sending the ${phase} payments`);
      const due = Math.min(count, Math.floor(((nowMs() - start) * rate) / 1_000) + 1);
      while (sent < due && inFlight.size < this.clients) {
        const request: Promise<void> = this.#pay(phase).finally(() => inFlight.delete(request));
        inFlight.add(request);
        sent += 1;
      }
      if (sent < due) await Promise.race(inFlight);
      else await sleep(Math.max(0, Math.min(5, start + (sent * 1_000) / rate - nowMs())));
    }
    await Promise.all(inFlight);
  }
}

/** Opens the run's accounts, funds each (again if a deposit is rejected) and waits for the balances. */
async function openAccounts(
  api: PaymentApi,
  tracker: PaymentTracker,
  accounts: readonly string[],
  owner: string,
  stallMs: number,
  deadline: Deadline,
): Promise<void> {
  await inParallel(accounts, 16, async (accountId) => {
    const body = { accountId, ownerId: owner, currency: CURRENCY, kycTier: 'TIER_1' };
    await api.expect(202, 'POST', '/v1/accounts', 'admin', body, randomUUID());
  });
  await waitForAll(accounts, 'the accounts can be read', SETUP_WAIT_MS, deadline, async (accountId) => {
    const answer = await api.request('GET', `/v1/accounts/${accountId}`, 'admin');
    return answer.status === 200;
  });

  let unfunded = [...accounts];
  for (let attempt = 1; unfunded.length > 0; attempt++) {
    if (attempt > DEPOSIT_ATTEMPTS)
      throw new BenchError(`the deposits into ${unfunded.join(', ')} failed ${DEPOSIT_ATTEMPTS} times`);
    const phase = `deposits-${attempt}`;
    const byKey = new Map<string, string>();
    await inParallel(unfunded, 16, async (accountId) => {
      const key = randomUUID();
      byKey.set(key, accountId);
      const submission = tracker.submit(phase, key);
      const body = { amount: FUNDING_MINOR, currency: CURRENCY };
      const answer = await api.request('POST', `/v1/accounts/${accountId}/deposits`, 'admin', body, key);
      tracker.answered(submission, answer.status, answer.body);
    });
    const result = await tracker.settle(phase, deadline, stallMs);
    unfunded = result.submissions.filter((s) => s.outcome !== 'COMPLETED').map((s) => byKey.get(s.key)!);
  }
  await waitForAll(
    accounts,
    'the deposits show in the balances',
    SETUP_WAIT_MS,
    deadline,
    async (accountId) => {
      const answer = await api.request('GET', `/v1/accounts/${accountId}`, 'admin');
      const balance = answer.status === 200 ? field(answer.body, 'balanceMinor') : undefined;
      return balance !== undefined && BigInt(balance) >= BigInt(FUNDING_MINOR);
    },
  );
}

const seconds = (ms: number): string => `${(ms / 1_000).toFixed(1)} s`;
const ms = (n: number): string => (Number.isFinite(n) ? n.toFixed(n < 10 ? 1 : 0) : 'n/a');

/** One line about a phase: outcomes, how fast the gateway answered, where the time went. */
function phaseNote(name: string, phase: PhaseResult, from: Snapshot, to: Snapshot): string {
  const accept = percentiles(phase.acceptLatencies());
  const reasons = phase.reasons();
  return (
    `  ${name}: ${phase.submissions.length.toLocaleString('en-US')} sent, ` +
    `${phase.completed.toLocaleString('en-US')} completed, ${phase.rejected} rejected, ` +
    `${phase.refused} refused, ${phase.stuck} stuck${reasons === '' ? '' : ` (${reasons})`}; ` +
    `202 after p50 ${ms(accept.p50)} / p99 ${ms(accept.p99)} ms; sending took ` +
    `${seconds(phase.lastSentAt - phase.firstSentAt)}, the last end seen after ` +
    `${seconds(phase.lastEndAt - phase.firstSentAt)}; ${usage(from, to)}`
  );
}

export async function measurePayments(
  mode: JobMode,
  runId: string,
  settings: BenchSettings,
  kafka: Kafka,
  deadline: Deadline,
  leftovers: Leftovers,
): Promise<Measured> {
  const label = PAYMENT_LABELS[mode];
  const { payments: config } = settings;
  const stallMs = config.stallSeconds * 1_000;
  const job = await MainJobProcess.start(
    { mode, brokers: settings.brokers, services: config.services, lifetimeMs: deadline.remainingMs + 60_000 },
    deadline,
  );
  leftovers.processes.set(job, 'the main job');
  const api = await PaymentApi.connect(
    job.baseUrl,
    job.jwtSecret,
    `${runId}-${mode}`,
    deadline.remainingMs / 1_000 + 600,
    config.clients + POLLERS,
  );
  const tracker = new PaymentTracker();
  let observer: Observer;
  if (mode === 'kafka') {
    if (config.services === undefined) throw new BenchError('the Kafka mode needs the stack servers');
    const consumer = new EventObserver(
      kafka,
      `${runId}-payments-observer`,
      config.services.registryUrl,
      tracker,
    );
    leftovers.groups.add(consumer.groupId);
    observer = consumer;
  } else {
    observer = new StatusPoller(api, tracker, POLLERS);
  }
  leftovers.processes.set(observer, 'the payment observer');
  try {
    await observer.start();
    const accounts = Array.from(
      { length: config.accounts },
      (_, i) => `${runId}-${mode}-${i.toString().padStart(4, '0')}`,
    );
    await openAccounts(api, tracker, accounts, `${runId}-owner`, stallMs, deadline);
    const load = new PaymentLoad(api, tracker, accounts, config.clients, deadline);

    await load.bulk('warmup', Math.min(WARMUP_PAYMENTS, config.payments));
    const warmup = await tracker.settle('warmup', deadline, stallMs);
    if (warmup.stuck > 0 || warmup.refused > 0)
      throw new BenchError(
        `${label}: of ${warmup.submissions.length} warm-up payments ${warmup.stuck} never ended and ` +
          `${warmup.refused} were refused (${warmup.reasons()}); the main job said:\n${job.outputTail()}`,
      );

    const lag = mode === 'kafka' ? new ReadModelLag(`${job.baseUrl}/metrics`) : undefined;
    lag?.start();
    const bulkStart = await snapshot({ job });
    await load.bulk('bulk', config.payments);
    const bulk = await tracker.settle('bulk', deadline, stallMs);
    const bulkEnd = await snapshot({ job });
    const caught = await lag?.caughtUp(bulk.lastEndAt, LAG_WAIT_MS);
    await lag?.stop();

    const pacedCount = config.rate * settings.seconds;
    await load.paced('paced', pacedCount, config.rate);
    const paced = await tracker.settle('paced', deadline, stallMs);
    const pacedEnd = await snapshot({ job });

    const bulkEnded = bulk.completed + bulk.rejected;
    const bulkRate = (bulkEnded * 1_000) / (bulk.lastEndAt - bulk.firstSentAt);
    const bulkLatency = percentiles(bulk.completionLatencies());
    const pacedLatency = percentiles(paced.completionLatencies());
    const offered = pacedCount / Math.max(0.001, (paced.lastSentAt - paced.firstSentAt) / 1_000);
    const notes = [
      `${label}: seen by ${observer.description}`,
      phaseNote(`bulk (${config.clients} clients)`, bulk, bulkStart, bulkEnd),
      phaseNote(`paced (offered ${Math.round(offered).toLocaleString('en-US')}/s)`, paced, bulkEnd, pacedEnd),
    ];
    if (lag !== undefined && caught !== undefined) notes.push(...lag.notes(caught));
    if (mode === 'embedded')
      notes.push(`  completion is the answer of the poll that saw it, up to one polling round late`);
    if (config.rate > 0.8 * bulkRate)
      notes.push(
        `  the paced rate is over 80% of this path's bulk throughput: its latency is mostly queueing`,
      );
    const stuck = bulk.stuck + paced.stuck;
    return {
      row: {
        path: stuck > 0 ? `${label}, ${stuck} STUCK` : label,
        bulkRecords: config.payments,
        bulkRate,
        bulkP50: bulkLatency.p50,
        bulkP99: bulkLatency.p99,
        pacedRate: config.rate,
        pacedSeconds: settings.seconds,
        pacedP50: pacedLatency.p50,
        pacedP99: pacedLatency.p99,
        pacedMax: pacedLatency.max,
        duplicates: bulk.duplicates + paced.duplicates,
        stuck,
      },
      notes,
    };
  } finally {
    await observer.stop().catch(() => undefined);
    leftovers.processes.delete(observer);
    api.close();
    await job.stop();
    leftovers.processes.delete(job);
  }
}
