/**
 * PAYFLOW_WORKERS=2 on the real stack: the pipeline in two worker processes under one primary.
 *
 * - `npm run processors`: both workers are members of every processor group, the primary's
 *   `/readyz` and `/metrics` cover both, and a SIGKILLed primary takes its workers down.
 * - `npm start` (the gateway in the primary, the pipeline and the read models in two workers)
 *   under a steady payment load over HTTP while one worker is SIGKILLed: the primary forks it
 *   again (counted in payflow_worker_restarts_total), every payment that got a 202 ends
 *   COMPLETED under its one payment id, and each account's balance is its deposit plus exactly
 *   the completed payments (nothing lost, nothing applied twice). SIGTERM then stops the primary
 *   and both workers.
 *
 * Workers are found as the primary's child processes running app/worker.ts (`ps --ppid`). Bounded: 6 accounts,
 * 4 clients at ~32 payments/s for ~16 s, at most 1,000 payments, loopback only, a deadline on
 * every wait.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { describe, test } from 'node:test';

import {
  ACCOUNTS_SUB_TOPOLOGY,
  PAYMENTS_SUB_TOPOLOGY,
  PIPELINE_APPLICATION_ID,
} from '../../processors/pipeline.js';
import { seededRandom } from '../../processors/test-fixtures.js';
import { kill, sleep } from '../support/eos-harness.js';
import {
  assertEndedAsSent,
  bearerTokens,
  expectedBalances,
  HttpProducer,
  randomTransfer,
  startMainJobProcess,
  type Transfer,
} from '../support/http-producer.js';
import { freePort, groupStates, startProcessorsProcess, waitHttpOk } from '../support/processes.js';
import { stackEnv, uniqueName, type StackEnv } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;

const WORKERS = 2;
/** One consumer group per sub-topology of the pipeline. */
const PROCESSOR_GROUPS = [ACCOUNTS_SUB_TOPOLOGY, PAYMENTS_SUB_TOPOLOGY].map(
  (name) => `${PIPELINE_APPLICATION_ID}-${name}`,
);
const READ_MODEL_GROUPS = ['payments', 'accounts', 'postings', 'balances'].map(
  (name) => `${PIPELINE_APPLICATION_ID}.read-model.${name}`,
);
const ACCOUNTS = 6;
const DEPOSIT = 1_000_000;
const MAX_AMOUNT = 10_000;
const CLIENTS = 4;
const PACE_MS = 125;
const MAX_PAYMENTS = 1_000;
const LOAD_BEFORE_KILL_MS = 6_000;
const LOAD_AFTER_KILL_MS = 10_000;
const READY_TIMEOUT_MS = 150_000;
const GROUPS_TIMEOUT_MS = 90_000;
const WORKERS_GONE_TIMEOUT_MS = 90_000;
const RESTART_TIMEOUT_MS = 90_000;
const SETTLE_TIMEOUT_MS = 120_000;
const BALANCE_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 150_000;
const TEST_TIMEOUT_MS = 540_000;

/** The pids of `pid`'s pipeline workers: its child processes running app/worker.ts (not, say, the loader's esbuild). */
function childPids(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(pid)], {
      encoding: 'utf8',
      timeout: 5_000,
    })
      .split('\n')
      .filter((line) => line.includes('app/worker.ts'))
      .map((line) => Number(line.trim().split(/\s+/, 1)[0]))
      .filter((child) => Number.isInteger(child) && child > 0);
  } catch {
    return []; // ps exits 1 when there is none
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline)
      assert.fail(
        `${what} within ${timeoutMs} ms${last === undefined ? '' : ` (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`}`,
      );
    await sleep(500);
  }
}

/** Waits until each group is Stable with exactly `members` members; returns the member counts. */
async function groupsWithMembers(
  stack: StackEnv,
  groups: readonly string[],
  members: number,
): Promise<Map<string, number>> {
  return until(`every group Stable with ${members} members`, GROUPS_TIMEOUT_MS, async () => {
    const states = await groupStates(stack, groups);
    const stable = groups.every(
      (id) => states.get(id)?.state === 'Stable' && states.get(id)?.members === members,
    );
    return stable ? new Map(groups.map((id) => [id, states.get(id)!.members])) : undefined;
  });
}

async function metricsText(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return response.text();
}

/** Waits until every pid has exited. */
async function gone(pids: readonly number[], timeoutMs: number): Promise<void> {
  await until(`processes ${pids.join(', ')} to exit`, timeoutMs, () =>
    Promise.resolve(pids.some(alive) ? undefined : true),
  );
}

describe('PAYFLOW_WORKERS=2: the pipeline in two supervised worker processes', { skip }, () => {
  test(
    'npm run processors runs two workers, each a member of every processor group; /readyz and /metrics cover both; a SIGKILLed primary takes both workers down',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      if ('skip' in env) return;
      const opsPort = await freePort();
      const primary = startProcessorsProcess(env, opsPort, {
        PAYFLOW_LOG_LEVEL: 'warn',
        PAYFLOW_WORKERS: String(WORKERS),
      });
      const ops = `http://127.0.0.1:${opsPort}`;
      let workers: number[] = [];
      try {
        await waitHttpOk(primary, `${ops}/readyz`, READY_TIMEOUT_MS);
        workers = childPids(primary.pid!);
        assert.equal(workers.length, WORKERS, 'two worker processes');
        const members = await groupsWithMembers(env, PROCESSOR_GROUPS, WORKERS);
        assert.deepEqual(
          [...members.values()],
          PROCESSOR_GROUPS.map(() => WORKERS),
        );
        const text = await metricsText(`${ops}/metrics`);
        for (const worker of ['1', '2'])
          assert.match(
            text,
            new RegExp(
              `^payflow_component_up\\{component="subtopology:payments",worker="${worker}"\\} 1$`,
              'm',
            ),
          );
      } finally {
        await kill(primary, 'SIGKILL');
      }
      await gone(workers, WORKERS_GONE_TIMEOUT_MS);
    },
  );

  test(
    'npm start with two workers under load, one worker SIGKILLed: it is forked again, every accepted payment completes once, balances are deposits plus completed payments exactly, SIGTERM stops all',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      if ('skip' in env) return;
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const job = startMainJobProcess(env, port, { env: { PAYFLOW_WORKERS: String(WORKERS) } });
      const { producer, admin } = await bearerTokens();
      const http = new HttpProducer(base, { sendDeadlineMs: 120_000, settleTimeoutMs: SETTLE_TIMEOUT_MS });
      const random = seededRandom(20261202);
      const transfers: Transfer[] = [];
      let workers: number[] = [];
      try {
        await waitHttpOk(job, `${base}/readyz`, READY_TIMEOUT_MS);
        workers = childPids(job.pid!);
        assert.equal(workers.length, WORKERS, 'two worker processes beside the gateway');
        await groupsWithMembers(env, [...PROCESSOR_GROUPS, ...READ_MODEL_GROUPS], WORKERS);
        const accounts = await http.openAccounts(admin, uniqueName('workers'), ACCOUNTS);
        await http.fundAccounts(admin, accounts, DEPOSIT);

        let stopping = false;
        const failure: { error?: unknown } = {};
        const client = async () => {
          while (!stopping && transfers.length < MAX_PAYMENTS) {
            const sent = Date.now();
            const transfer = randomTransfer(random, accounts, MAX_AMOUNT);
            transfers.push(transfer);
            await http.pay(producer, transfer);
            await sleep(Math.max(0, PACE_MS - (Date.now() - sent)));
          }
        };
        const load = Promise.all(
          Array.from({ length: CLIENTS }, () =>
            client().catch((error: unknown) => {
              failure.error ??= error;
              stopping = true;
            }),
          ),
        );
        await sleep(LOAD_BEFORE_KILL_MS);
        const victim = workers[0]!;
        const killedAt = Date.now();
        process.kill(victim, 'SIGKILL');
        await sleep(LOAD_AFTER_KILL_MS);
        stopping = true;
        await load;
        assert.equal(failure.error, undefined, `the load stopped early: ${String(failure.error)}`);

        const restarted = await until('the killed worker forked again', RESTART_TIMEOUT_MS, () => {
          const now = childPids(job.pid!);
          return Promise.resolve(now.length === WORKERS && !now.includes(victim) ? now : undefined);
        });
        workers = restarted;
        await until('/readyz 200 again', READY_TIMEOUT_MS, async () => {
          const response = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2_000) });
          await response.body?.cancel();
          return response.status === 200 ? true : undefined;
        });
        const text = await metricsText(`${base}/metrics`);
        assert.match(text, /^payflow_worker_restarts_total\{worker="\d"\} 1$/m, 'one restart counted');
        t.diagnostic(
          `worker ${victim} SIGKILLed ${LOAD_BEFORE_KILL_MS} ms into the load; ready again ${Date.now() - killedAt} ms later`,
        );

        const accepted = transfers.filter((transfer) => transfer.paymentId !== undefined);
        assert.equal(accepted.length, transfers.length, 'every payment sent got a 202');
        const settleDeadline = Date.now() + SETTLE_TIMEOUT_MS;
        const notCompleted: string[] = [];
        for (const transfer of accepted) {
          const view = await http.pollPayment(transfer.paymentId!, admin, settleDeadline);
          if (view.status === 200 && view.body.status === 'COMPLETED') assertEndedAsSent(view.body, transfer);
          else notCompleted.push(`${transfer.paymentId}: ${view.status} ${JSON.stringify(view.body.status)}`);
        }
        t.diagnostic(
          `${accepted.length} payments accepted, ${accepted.length - notCompleted.length} completed`,
        );
        assert.deepEqual(notCompleted, [], 'every accepted payment completed');
        const mismatches = await http.balanceMismatches(
          admin,
          expectedBalances(accounts, DEPOSIT, accepted),
          BALANCE_TIMEOUT_MS,
        );
        assert.deepEqual(mismatches, [], 'each balance is its deposit plus exactly the completed payments');
        await groupsWithMembers(env, [...PROCESSOR_GROUPS, ...READ_MODEL_GROUPS], WORKERS);

        const stopped = once(job, 'exit');
        const stopBegan = Date.now();
        job.kill('SIGTERM');
        const [code] = (await Promise.race([
          stopped,
          sleep(STOP_TIMEOUT_MS).then(() => ['did not exit']),
        ])) as [number | string | null];
        assert.equal(code, 0, 'the primary exits 0 on SIGTERM');
        await gone(workers, 5_000);
        t.diagnostic(`SIGTERM: the primary and both workers stopped in ${Date.now() - stopBegan} ms`);
      } finally {
        await kill(job, 'SIGKILL');
        await gone(workers, WORKERS_GONE_TIMEOUT_MS).catch(() => {
          for (const pid of workers.filter(alive)) process.kill(pid, 'SIGKILL');
        });
      }
    },
  );
});
