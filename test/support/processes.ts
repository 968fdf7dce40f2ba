/**
 * Child processes a test starts and kills itself: a free loopback port to give one, and a wait
 * until it answers on HTTP. Tests stop only the processes they started, by their own handles.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

import { Kafka, logLevel } from 'kafkajs';

import { sleep } from './eos-harness.js';
import { LOAD_TEST_VELOCITY_LIMITS, uniqueName, type StackEnv } from './stack.js';

/**
 * `npm run processors` on the stack, its operations server on `opsPort`. One process unless
 * `env` or the test's own PAYFLOW_WORKERS says otherwise, so a SIGKILL of it is a crash of the
 * pipeline itself.
 */
export function startProcessorsProcess(
  stack: StackEnv,
  opsPort: number,
  env: Readonly<Record<string, string>> = {},
): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'app/processors.ts'], {
    env: {
      ...process.env,
      PAYFLOW_KAFKA_BROKERS: stack.kafkaBrokers.join(','),
      PAYFLOW_SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
      PAYFLOW_OPS_HOST: '127.0.0.1',
      PAYFLOW_OPS_PORT: String(opsPort),
      PAYFLOW_WORKERS: process.env.PAYFLOW_WORKERS ?? '1',
      // Load from a few senders: the tier limits would refuse it.
      PAYFLOW_VELOCITY_LIMITS_FILE: LOAD_TEST_VELOCITY_LIMITS,
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** A TCP port free on 127.0.0.1 at the time of the call. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

/** Resolves once `url` answers 2xx; fails when the child exits first or after `timeoutMs`. */
export async function waitHttpOk(child: ChildProcess, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`the process exited with ${child.exitCode} before ${url} answered`);
    const ok = await fetch(url, { signal: AbortSignal.timeout(1_000) })
      .then((response) => response.ok)
      .catch(() => false);
    if (ok) return;
    await sleep(200);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

export type GroupStates = ReadonlyMap<string, { readonly state: string; readonly members: number }>;

/** Each consumer group's state and member count, as the broker's `describeGroups` reports it. */
export async function groupStates(stack: StackEnv, groupIds: readonly string[]): Promise<GroupStates> {
  const admin = new Kafka({
    clientId: uniqueName('group-check'),
    brokers: stack.kafkaBrokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 2 },
  }).admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([...groupIds]);
    return new Map(
      groups.map((group) => [group.groupId, { state: group.state, members: group.members.length }]),
    );
  } finally {
    await admin.disconnect();
  }
}
