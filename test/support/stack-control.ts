/**
 * Stopping and starting services of the local stack from a test, with `scripts/stack down|up`
 * (which signals only the processes it started, by their recorded pid). A test may do so only
 * when the stack it talks to is the one `scripts/stack` runs under this environment's
 * PAYFLOW_HOME: the `stack.env` that home wrote names the same Kafka and PostgreSQL.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { StackEnv } from './stack.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The home `scripts/stack` uses under this environment (PAYFLOW_HOME, default `.payflow`). */
export function stackHome(): string {
  return process.env.PAYFLOW_HOME ?? join(REPO_ROOT, '.payflow');
}

/**
 * Undefined when `scripts/stack` under this environment manages the servers `stack` names;
 * otherwise why not (an external stack, or a home whose servers are other ones).
 */
export function unmanagedReason(stack: StackEnv): string | undefined {
  const file = join(stackHome(), 'stack.env');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return `${file} does not exist: the stack is not one scripts/stack runs under PAYFLOW_HOME=${stackHome()}`;
  }
  const written = new Map(
    text
      .split('\n')
      .map((line) => line.split('='))
      .filter((parts) => parts.length >= 2)
      .map(([name, ...value]) => [name!.trim(), value.join('=').trim()]),
  );
  const mine = {
    PAYFLOW_KAFKA_BROKERS: stack.kafkaBrokers.join(','),
    PAYFLOW_POSTGRES_URL: stack.postgresUrl,
  };
  for (const [name, value] of Object.entries(mine)) {
    if (written.get(name) !== value)
      return `${file} names ${name}=${written.get(name)}, but the test talks to ${value}: scripts/stack would stop other servers than this test's (set PAYFLOW_HOME and PAYFLOW_*_PORT as when the stack was brought up)`;
  }
  // `scripts/stack up` starts a service on the ports of this environment (default 9092, 5432).
  const ports = [
    ['PAYFLOW_KAFKA_PORT', '9092', new URL(`kafka://${stack.kafkaBrokers[0]}`).port],
    ['PAYFLOW_POSTGRES_PORT', '5432', new URL(stack.postgresUrl).port || '5432'],
  ] as const;
  for (const [name, fallback, port] of ports) {
    const value = process.env[name] ?? fallback;
    if (value !== port)
      return `${name} is ${value}, but the test talks to port ${port}: scripts/stack up would start the server on another port`;
  }
  return undefined;
}

/**
 * Runs `bash scripts/stack ARGS...` with this process's environment; its output goes to stderr.
 * Rejects when it exits non-zero or runs longer than `timeoutMs` (then it is killed).
 */
export function runStack(args: readonly string[], timeoutMs = 300_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(REPO_ROOT, 'scripts/stack'), ...args], {
      cwd: REPO_ROOT,
      env: process.env,
      stdio: ['ignore', process.stderr, process.stderr],
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`scripts/stack ${args.join(' ')} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`scripts/stack ${args.join(' ')} exited with ${code ?? signal}`));
    });
  });
}
