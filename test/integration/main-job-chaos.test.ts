/**
 * The main job on the real stack (`app/main.ts` in the Kafka mode: gateway, processors and the
 * PostgreSQL read models in one process) under a steady payment load over HTTP while, in turn,
 * the broker is stopped for 10 s and started again, PostgreSQL is stopped for 10 s and started
 * again, and the main job is SIGKILLed and started again. Producers behave as the API asks: an
 * answer that never came, 409, 429 or 503 is sent again with the same Idempotency-Key and body
 * until a 202.
 *
 * Afterwards, over HTTP only: every payment that got a 202 ends COMPLETED or REJECTED under its
 * one payment id (never a DUPLICATE_REQUEST of itself); each account's balance is its deposit plus
 * exactly the completed payments; every consumer group of the pipeline and of the read models
 * is Stable with members; and `/readyz` answered 503 while the broker was down. For the
 * diagnostic, the job's `component down` / `component recovered` log lines (pino JSON on its
 * stdout) give each component's time to resume after the broker came back.
 *
 * The servers are stopped and started with `scripts/stack down|up`, so this runs only against a
 * stack that script runs under this environment's PAYFLOW_HOME; the `finally` brings Kafka and
 * PostgreSQL up again whatever happened. A job that exits on its own is started again (as an
 * orchestrator would, with back-off, at most 20 times) so the rest still runs, and the exit fails the test. Bounded: 8 accounts, 4 clients at ~32 payments/s, at most
 * 6,000 payments, loopback only, a deadline on every wait.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';

import { PIPELINE_APPLICATION_ID } from '../../processors/pipeline.js';
import { seededRandom } from '../../processors/test-fixtures.js';
import { kill, sleep } from '../support/eos-harness.js';
import {
  assertEndedAsSent,
  bearerTokens,
  expectedBalances,
  HttpProducer,
  randomTransfer,
  startMainJobProcess,
  TERMINAL,
  type Answer,
  type Transfer,
} from '../support/http-producer.js';
import { freePort, groupStates, waitHttpOk, type GroupStates } from '../support/processes.js';
import { runStack, unmanagedReason } from '../support/stack-control.js';
import { stackEnv, uniqueName } from '../support/stack.js';

const env = stackEnv();

/** Skipped without a stack, or with one `scripts/stack` does not run here (unless it is required). */
function skipReason(): string | false {
  if ('skip' in env) return env.skip;
  const reason = unmanagedReason(env);
  if (reason === undefined) return false;
  if (process.env.PAYFLOW_REQUIRE_STACK === '1' && process.env.PAYFLOW_STACK !== 'external')
    throw new Error(reason);
  return reason;
}
const skip = skipReason();

const ACCOUNTS = 8;
const CLIENTS = 4;
/** Each client sends one payment at a time, at most one per PACE_MS: ~32 payments/s in all. */
const PACE_MS = 125;
const MAX_PAYMENTS = 6_000;
const DEPOSIT = 1_000_000;
const MAX_AMOUNT = 10_000;
const LOAD_MS = 5_000;
const DOWN_MS = 10_000;
const READYZ_POLL_MS = 250;
const READY_TIMEOUT_MS = 120_000;
const SEND_DEADLINE_MS = 150_000;
const SETTLE_TIMEOUT_MS = 180_000;
const BALANCE_TIMEOUT_MS = 60_000;
const GROUPS_TIMEOUT_MS = 60_000;
/** Bound on the payments accepted so far ending after a server came back, before the next step. */
const DRAIN_TIMEOUT_MS = 90_000;
const TEST_TIMEOUT_MS = 600_000;
/** A job that exits on its own is started again after 1, 2, 4 … 15 s, at most MAX_EXITS times. */
const RESTART_DELAY_MS = 1_000;
const RESTART_DELAY_MAX_MS = 15_000;
const MAX_EXITS = 20;
/** Payments accepted at least this long before a snapshot should have ended by then. */
const PROGRESS_AGE_MS = 3_000;
/** Kept free at the end of the test's time for bringing the stack back up. */
const CLEANUP_RESERVE_MS = 45_000;

/** The pipeline's sub-topologies, one consumer group each. */
const SUB_TOPOLOGIES = ['accounts', 'payments'];
const READ_MODELS = ['payments', 'accounts', 'postings', 'balances'];
const GROUPS = [
  ...SUB_TOPOLOGIES.map((name) => `${PIPELINE_APPLICATION_ID}-${name}`),
  ...READ_MODELS.map((name) => `${PIPELINE_APPLICATION_ID}.read-model.${name}`),
];

/** A `component down` or `component recovered` line of the job's log, as it arrived. */
interface ComponentEvent {
  readonly at: number;
  readonly msg: 'component down' | 'component recovered';
  readonly component: string;
  readonly downMs?: number;
  readonly reason?: string;
}

/** What the job logged on stdout (pino JSON, one object a line; other lines are ignored). */
class JobLog {
  readonly events: ComponentEvent[] = [];
  /** Other messages, counted, for the diagnostic. */
  readonly others = new Map<string, number>();

  watch(child: ChildProcess): void {
    createInterface({ input: child.stdout! }).on('line', (line) => this.take(line, Date.now()));
  }

  private take(line: string, at: number): void {
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      return;
    }
    if (typeof entry !== 'object' || entry === null) return;
    const { msg, component, downMs, reason } = entry as Record<string, unknown>;
    if ((msg === 'component down' || msg === 'component recovered') && typeof component === 'string') {
      this.events.push({
        at,
        msg,
        component,
        ...(typeof downMs === 'number' ? { downMs } : {}),
        ...(typeof reason === 'string' ? { reason } : {}),
      });
    } else if (typeof msg === 'string') {
      this.others.set(msg, (this.others.get(msg) ?? 0) + 1);
    }
  }

  /**
   * One line per 'component recovered' that arrived in [from, to): ms from `zero` (the time the
   * server was back) to the line's arrival, negative when it came before `scripts/stack up` returned.
   */
  recoveries(from: number, to: number, zero: number): string[] {
    return this.events
      .filter((event) => event.msg === 'component recovered' && event.at >= from && event.at < to)
      .map(
        (event) =>
          `  ${event.component.padEnd(36)} ${String(event.at - zero).padStart(7)} ms after it was back (downMs ${event.downMs ?? '?'})`,
      );
  }
}

/** One stop and start of a server (or of the job), as the test saw it (epoch ms). */
interface Outage {
  readonly what: string;
  /** When the stop began, when it had finished, and when the start returned. */
  readonly stopAt: number;
  downAt?: number;
  upAt?: number;
  readyzPolls: number;
  readyz503: number;
  /** Ms from `upAt` until /readyz answered 200; undefined when it did not within the deadline. */
  readyAfterMs?: number;
  /**
   * Ms from /readyz 200 until every payment accepted so far had ended, the same job still
   * running; undefined when they had not within DRAIN_TIMEOUT_MS (a consumer that never came back).
   */
  drainedAfterMs?: number;
}

const message = (error: unknown): string => (error instanceof Error ? error.message : JSON.stringify(error));

async function readyzStatus(base: string): Promise<number> {
  try {
    const response = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2_000) });
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  }
}

const hasMembers = (states: GroupStates, id: string) =>
  states.get(id)?.state === 'Stable' && states.get(id)!.members >= 1;
const groupLine = (states: GroupStates, id: string) =>
  `${id}: ${states.get(id)?.state ?? '?'}/${states.get(id)?.members ?? '?'}`;

/** Set once the test brought Kafka and PostgreSQL back up; the hook does it otherwise. */
let restored = true;
after(async () => {
  if (!restored) await runStack(['up', 'kafka', 'postgres']);
});

describe('the main job on Kafka while the broker, PostgreSQL and the job itself restart', { skip }, () => {
  test(
    'payments over HTTP while the broker restarts (down 10 s), PostgreSQL restarts (down 10 s) and the main job is killed with SIGKILL: every accepted payment ends in one terminal state, balances are deposits plus completed payments exactly, every consumer group has members again, /readyz is 503 while the broker is down',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      if ('skip' in env) return;
      const stack = env;
      const hardDeadline = Date.now() + TEST_TIMEOUT_MS - CLEANUP_RESERVE_MS;
      /** A deadline `ms` from now, never past the time kept for cleanup. */
      const within = (ms: number) => Math.min(Date.now() + ms, hardDeadline);
      const random = seededRandom(20261203);
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const { producer, admin } = await bearerTokens();

      const loadAbort = new AbortController();
      let brokerDown = false;
      const retried = { unavailableWhileBrokerDown: 0, unavailable: 0 };
      const http = new HttpProducer(base, {
        sendDeadlineMs: SEND_DEADLINE_MS,
        settleTimeoutMs: SETTLE_TIMEOUT_MS,
        signal: loadAbort.signal,
        onRetry: (answer: Answer) => {
          if (answer.status !== 503) return;
          retried.unavailable += 1;
          if (brokerDown) retried.unavailableWhileBrokerDown += 1;
        },
      });

      // The job, its log, and exits the test did not cause (each followed by a new start).
      const log = new JobLog();
      const exits: string[] = [];
      const killedByTest = new WeakSet<ChildProcess>();
      let phase = 'start-up';
      let ending = false;
      let restartTimer: NodeJS.Timeout | undefined;
      const start = (): ChildProcess => {
        const child = startMainJobProcess(stack, port, { stdout: 'pipe' });
        log.watch(child);
        child.on('exit', (code, signal) => {
          if (killedByTest.has(child) || ending) return;
          exits.push(`during ${phase}: exited with ${code ?? signal}`);
          if (exits.length >= MAX_EXITS) return;
          const delay = Math.min(RESTART_DELAY_MS * 2 ** (exits.length - 1), RESTART_DELAY_MAX_MS);
          restartTimer = setTimeout(() => {
            if (!ending) job = start();
          }, delay);
        });
        return child;
      };
      let job = start();
      const killJob = async () => {
        killedByTest.add(job);
        await kill(job, 'SIGKILL');
      };
      /** Ms until /readyz answers 200, or undefined when it did not before the deadline. */
      const readyAfter = async (timeoutMs: number): Promise<number | undefined> => {
        const from = Date.now();
        const deadline = within(timeoutMs);
        while (Date.now() < deadline) {
          if ((await readyzStatus(base)) === 200) return Date.now() - from;
          await sleep(READYZ_POLL_MS);
        }
        return undefined;
      };

      const outages: Outage[] = [];
      /** Stops `service`, keeps it down DOWN_MS while polling /readyz, starts it, waits for ready. */
      const restartService = async (service: 'kafka' | 'postgres'): Promise<Outage> => {
        const outage: Outage = { what: service, stopAt: Date.now(), readyzPolls: 0, readyz503: 0 };
        outages.push(outage);
        phase = `${service} down`;
        restored = false;
        await runStack(['down', service]);
        outage.downAt = Date.now();
        if (service === 'kafka') brokerDown = true;
        let polling = true;
        const poller = (async () => {
          while (polling) {
            const status = await readyzStatus(base);
            outage.readyzPolls += 1;
            if (status === 503) outage.readyz503 += 1;
            await sleep(READYZ_POLL_MS);
          }
        })();
        await sleep(DOWN_MS);
        try {
          await runStack(['up', service]);
        } finally {
          outage.upAt = Date.now();
          brokerDown = false;
          polling = false;
          await poller;
        }
        restored = true;
        phase = `${service} back`;
        outage.readyAfterMs = await readyAfter(READY_TIMEOUT_MS);
        return outage;
      };
      /** When each payment got its 202, in that order. */
      const acceptedAt = new Map<Transfer, number>();
      /**
       * Between the phases, for the diagnostic only: the consumer groups, and where the last 40
       * payments accepted at least PROGRESS_AGE_MS ago are (ended ones show the pipeline moves).
       */
      const snapshot = async (when: string) => {
        const states = await groupStates(stack, GROUPS).catch((error: unknown) => message(error));
        t.diagnostic(
          `consumer groups ${when} (state/members): ${
            typeof states === 'string' ? states : GROUPS.map((id) => groupLine(states, id)).join(', ')
          }`,
        );
        const old = Date.now() - PROGRESS_AGE_MS;
        const sample = [...acceptedAt].filter(([, at]) => at < old).slice(-40);
        const counts = new Map<string, number>();
        for (const [transfer] of sample) {
          const view = await http.call('GET', `/v1/payments/${transfer.paymentId}`, admin);
          const status = view.status === 200 ? String(view.body.status) : `HTTP ${view.status}`;
          counts.set(status, (counts.get(status) ?? 0) + 1);
        }
        t.diagnostic(
          `the last ${sample.length} payments accepted ≥${PROGRESS_AGE_MS / 1000} s before ${when}: ${[
            ...counts,
          ]
            .map(([status, n]) => `${n} ${status}`)
            .join(', ')}`,
        );
      };

      /** Waits until every payment accepted so far has ended; the ms it took, undefined past the deadline. */
      const drained = async (): Promise<number | undefined> => {
        const began = Date.now();
        let open = [...acceptedAt.keys()];
        while (open.length > 0 && Date.now() < began + DRAIN_TIMEOUT_MS) {
          const still: Transfer[] = [];
          for (const transfer of open) {
            const view = await http.call('GET', `/v1/payments/${transfer.paymentId}`, admin);
            if (!(view.status === 200 && TERMINAL.has(String(view.body.status)))) still.push(transfer);
          }
          open = still;
          if (open.length > 0) await sleep(500);
        }
        return open.length === 0 ? Date.now() - began : undefined;
      };

      let stopping = false;
      const stopped: { error?: unknown } = {};
      const transfers: Transfer[] = [];
      try {
        await waitHttpOk(job, `${base}/readyz`, READY_TIMEOUT_MS);
        const accounts = await http.openAccounts(admin, uniqueName('jobchaos'), ACCOUNTS);
        await http.fundAccounts(admin, accounts, DEPOSIT);

        // The load: CLIENTS producers, one payment at a time each, paced, until told to stop.
        const client = async () => {
          while (!stopping && transfers.length < MAX_PAYMENTS) {
            const sent = Date.now();
            const transfer = randomTransfer(random, accounts, MAX_AMOUNT);
            transfers.push(transfer);
            await http.pay(producer, transfer);
            acceptedAt.set(transfer, Date.now());
            await sleep(Math.max(0, PACE_MS - (Date.now() - sent)));
          }
        };
        const loadStarted = Date.now();
        const load = Promise.all(
          Array.from({ length: CLIENTS }, () =>
            client().catch((error: unknown) => {
              stopped.error ??= error;
              stopping = true;
            }),
          ),
        );

        phase = 'load';
        await sleep(LOAD_MS);
        const kafka = await restartService('kafka');
        await sleep(LOAD_MS);
        await snapshot('5 s after the broker restart');
        kafka.drainedAfterMs = await drained();
        const postgres = await restartService('postgres');
        await sleep(LOAD_MS);
        await snapshot('5 s after the PostgreSQL restart');
        postgres.drainedAfterMs = await drained();
        phase = 'SIGKILL';
        const restart: Outage = {
          what: 'main job (SIGKILL)',
          stopAt: Date.now(),
          readyzPolls: 0,
          readyz503: 0,
        };
        outages.push(restart);
        await killJob();
        restart.downAt = Date.now();
        job = start();
        restart.upAt = Date.now();
        restart.readyAfterMs = await readyAfter(READY_TIMEOUT_MS);
        phase = 'last load';
        await sleep(LOAD_MS);
        stopping = true;
        await load;
        const loadMs = Date.now() - loadStarted;

        const accepted = transfers.filter((transfer) => transfer.paymentId !== undefined);
        t.diagnostic(
          `load: ${accepted.length} of ${transfers.length} payments accepted in ${loadMs} ms (${((accepted.length * 1000) / loadMs).toFixed(1)}/s); ` +
            `${http.unanswered} sends got no answer, ${retried.unavailable} got 503 (${retried.unavailableWhileBrokerDown} while the broker was down), all sent again`,
        );
        for (const outage of outages)
          t.diagnostic(
            `${outage.what}: stopped in ${(outage.downAt ?? outage.stopAt) - outage.stopAt} ms; /readyz polled ${outage.readyzPolls}× while down, 503 ${outage.readyz503}×; ready again ${
              outage.readyAfterMs === undefined
                ? `NOT within ${READY_TIMEOUT_MS} ms`
                : `${outage.readyAfterMs} ms`
            } after it was back`,
          );
        t.diagnostic(
          `the job exited on its own ${exits.length}×${exits.length === 0 ? '' : `: ${exits.join('; ')}`}`,
        );

        // Every accepted payment, polled until it ends (8 at a time) under one deadline for all.
        phase = 'settling';
        const settleDeadline = within(SETTLE_TIMEOUT_MS);
        const settledAt = Date.now();
        const views = new Map<Transfer, Answer>();
        let next = 0;
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            while (next < accepted.length) {
              const transfer = accepted[next]!;
              next += 1;
              views.set(transfer, await http.pollPayment(transfer.paymentId!, admin, settleDeadline));
            }
          }),
        );
        const ended = (transfer: Transfer) => {
          const view = views.get(transfer);
          return view !== undefined && view.status === 200 && TERMINAL.has(view.body.status as string);
        };
        const stuck = accepted.filter((transfer) => !ended(transfer));
        const completed = accepted.filter((transfer) => views.get(transfer)?.body.status === 'COMPLETED');
        t.diagnostic(
          `settled in ${Date.now() - settledAt} ms: ${completed.length} completed, ${accepted.length - completed.length - stuck.length} rejected, ${stuck.length} not ended`,
        );

        await t.test('producers got a 202 for every payment they sent', () => {
          assert.equal(stopped.error, undefined, `the load stopped early: ${message(stopped.error)}`);
          assert.equal(accepted.length, transfers.length);
        });

        await t.test(
          `the main job never exits on its own and is ready again within ${READY_TIMEOUT_MS / 1000} s after each restart`,
          () => {
            assert.deepEqual(exits, [], `the job exited ${exits.length}× on its own (and was started again)`);
            const late = outages.filter((outage) => outage.readyAfterMs === undefined).map((o) => o.what);
            assert.deepEqual(late, [], `/readyz did not answer 200 again after: ${late.join(', ')}`);
          },
        );

        await t.test(
          `after the broker and after PostgreSQL came back, every payment accepted so far ended within ${DRAIN_TIMEOUT_MS / 1000} s without restarting the job`,
          () => {
            for (const outage of [kafka, postgres]) {
              assert.notEqual(
                outage.drainedAfterMs,
                undefined,
                `payments stayed unfinished after the ${outage.what} restart: a consumer did not come back`,
              );
            }
          },
        );

        await t.test('every accepted payment ends COMPLETED or REJECTED under its one payment id', () => {
          const byStatus = new Map<string, string[]>();
          for (const transfer of stuck) {
            const view = views.get(transfer)!;
            const status = view.status === 200 ? String(view.body.status) : `HTTP ${view.status}`;
            byStatus.set(status, [...(byStatus.get(status) ?? []), transfer.paymentId!]);
          }
          assert.equal(
            stuck.length,
            0,
            `${stuck.length} of ${accepted.length} payments did not end within ${SETTLE_TIMEOUT_MS} ms: ${[
              ...byStatus,
            ]
              .map(([status, ids]) => `${ids.length} ${status} (e.g. ${ids.slice(0, 3).join(', ')})`)
              .join('; ')}`,
          );
          const wrong: string[] = [];
          for (const transfer of accepted) {
            try {
              assertEndedAsSent(views.get(transfer)!.body, transfer);
            } catch (error) {
              wrong.push(message(error));
            }
          }
          assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} payments ended otherwise than sent`);
          assert.equal(
            new Set(accepted.map((transfer) => transfer.paymentId)).size,
            accepted.length,
            'each key has its own payment',
          );
        });

        await t.test('each balance is its deposit plus exactly the completed payments', async () => {
          assert.equal(stuck.length, 0, `not checked: ${stuck.length} payments did not end`);
          const mismatches = await http.balanceMismatches(
            admin,
            expectedBalances(accounts, DEPOSIT, completed),
            Math.max(0, within(BALANCE_TIMEOUT_MS) - Date.now()),
          );
          assert.deepEqual(mismatches, [], mismatches.join('; '));
        });

        await t.test(
          'every consumer group of the pipeline and the read models is Stable with members',
          async () => {
            const deadline = within(GROUPS_TIMEOUT_MS);
            let last: GroupStates = new Map();
            let error: unknown;
            for (;;) {
              try {
                last = await groupStates(stack, GROUPS);
                error = undefined;
              } catch (caught) {
                error = caught;
              }
              if (GROUPS.every((id) => hasMembers(last, id)) || Date.now() >= deadline) break;
              await sleep(1_000);
            }
            t.diagnostic(
              `consumer groups at the end (state/members): ${GROUPS.map((id) => groupLine(last, id)).join(', ')}`,
            );
            assert.deepEqual(
              GROUPS.filter((id) => !hasMembers(last, id)).map((id) => `${groupLine(last, id)} members`),
              [],
              `not Stable with members within ${GROUPS_TIMEOUT_MS} ms${error === undefined ? '' : ` (describeGroups: ${message(error)})`}`,
            );
          },
        );

        await t.test('/readyz answered 503 while the broker was down', () => {
          assert.ok(
            kafka.readyz503 > 0,
            `/readyz was polled ${kafka.readyzPolls}× while the broker was down and never answered 503`,
          );
        });

        // The diagnostic: when each component logged that it resumed, after each server was back.
        const phases: [string, Outage, number][] = [
          ['the broker was back', kafka, postgres.stopAt],
          ['PostgreSQL was back', postgres, restart.stopAt],
        ];
        for (const [what, outage, to] of phases) {
          if (outage.upAt === undefined) continue;
          const lines = log.recoveries(outage.downAt ?? outage.stopAt, to, outage.upAt);
          t.diagnostic(
            `components resumed after ${what} (${lines.length} 'component recovered' lines):${lines.length === 0 ? ' none logged' : `\n${lines.join('\n')}`}`,
          );
        }
        const downs = log.events.filter((event) => event.msg === 'component down');
        t.diagnostic(
          `'component down' lines: ${downs.length} (${[...new Set(downs.map((event) => event.component))].join(', ') || 'none'})`,
        );
        const others = [...log.others].sort((a, b) => b[1] - a[1]).slice(0, 8);
        t.diagnostic(
          `other log messages (top ${others.length}): ${others.map(([msg, n]) => `${n}× ${msg}`).join(' | ')}`,
        );
      } finally {
        stopping = true;
        ending = true;
        clearTimeout(restartTimer);
        loadAbort.abort(new Error('the test ended'));
        await killJob();
        await runStack(['up', 'kafka', 'postgres']);
        restored = true;
      }
    },
  );
});
