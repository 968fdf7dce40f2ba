/**
 * The API against its own contract: schemathesis (PyPI, pinned) generates requests from
 * `/openapi.json` of the embedded main job and runs every check it has — no server error, every
 * response in the documented schema, content type and headers, no undocumented status code,
 * schema-valid data accepted and invalid data refused, missing auth refused — once per role, each
 * with a token of that role. The number of examples is fixed (not a time budget), so a busy
 * machine makes the run slower, never shorter or flaky; every wait has a bound.
 *
 * schemathesis is installed on first use into the git-ignored cache
 * (`$PAYFLOW_HOME/cache/schemathesis-<version>`, PAYFLOW_HOME defaulting to `.payflow`), with
 * `python3 -m pip --target`, like the stack's other Python packages.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { SignJWT } from 'jose';

import { ROLES } from '../../gateway/fastify-types.js';
import { LOAD_TEST_RATE_LIMITS } from '../support/stack.js';

const SCHEMATHESIS_VERSION = '4.32.5';
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CONFIG = join(dirname(fileURLToPath(import.meta.url)), 'schemathesis.toml');
const CACHE = join(
  resolve(REPO, process.env.PAYFLOW_HOME ?? '.payflow'),
  'cache',
  `schemathesis-${SCHEMATHESIS_VERSION}`,
);
const SECRET = 'fuzz-secret-of-at-least-thirty-two-characters';
/** Examples per operation and phase: enough to reach every documented status, bounded in time. */
const MAX_EXAMPLES = 40;
const INSTALL_TIMEOUT_MS = 300_000;
const START_TIMEOUT_MS = 90_000;
const RUN_TIMEOUT_MS = 420_000;

interface Ran {
  readonly code: number | null;
  readonly output: string;
}

/** Runs a command to its end (or kills it at `timeoutMs`), with its output. */
function run(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number },
): Promise<Ran> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? REPO,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      fail(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, output });
    });
  });
}

async function installSchemathesis(): Promise<void> {
  const stamp = join(CACHE, '.installed');
  if (existsSync(stamp)) return;
  mkdirSync(CACHE, { recursive: true });
  const pip = await run(
    'python3',
    [
      '-m',
      'pip',
      'install',
      '--quiet',
      '--disable-pip-version-check',
      '--no-input',
      '--upgrade',
      '--target',
      CACHE,
      `schemathesis==${SCHEMATHESIS_VERSION}`,
    ],
    { timeoutMs: INSTALL_TIMEOUT_MS },
  );
  assert.equal(pip.code, 0, `pip could not install schemathesis==${SCHEMATHESIS_VERSION}:\n${pip.output}`);
  writeFileSync(stamp, `${SCHEMATHESIS_VERSION}\n`);
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null ? done(address.port) : fail(new Error('no port')),
      );
    });
  });
}

/** The embedded main job: no PAYFLOW_* variable of the environment (a stack's Kafka, Redis) leaks in. */
function embeddedEnv(port: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env))
    if (!name.startsWith('PAYFLOW_')) env[name] = value;
  return {
    ...env,
    PAYFLOW_JWT_SECRET: SECRET,
    PAYFLOW_HTTP_HOST: '127.0.0.1',
    PAYFLOW_HTTP_PORT: String(port),
    PAYFLOW_LOG_LEVEL: 'warn',
    // The fuzzer's thousands of requests per role are not throttled (429 stays documented).
    PAYFLOW_RATE_LIMITS_FILE: LOAD_TEST_RATE_LIMITS,
  };
}

async function waitUntilHealthy(base: string, job: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    assert.equal(job.exitCode, null, `the main job exited early:\n${log()}`);
    try {
      if ((await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2_000) })).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((wait) => setTimeout(wait, 250));
  }
  assert.fail(`the main job was not healthy within ${START_TIMEOUT_MS} ms:\n${log()}`);
}

function tokenOf(role: string): Promise<string> {
  // A producer acts for every owner, as the main job's development token does.
  return new SignJWT({ roles: [role], ...(role === 'producer' ? { owners: ['*'] } : {}) })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(`fuzz-${role}`)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));
}

describe(
  'the API against its OpenAPI document (schemathesis, every check, every role)',
  { timeout: INSTALL_TIMEOUT_MS + START_TIMEOUT_MS + RUN_TIMEOUT_MS * ROLES.length },
  () => {
    let job: ChildProcess | undefined;
    let jobLog = '';
    let base = '';

    before(async () => {
      await installSchemathesis();
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      job = spawn(process.execPath, ['--import', 'tsx', 'app/main.ts'], {
        cwd: REPO,
        env: embeddedEnv(port),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      job.stdout?.on('data', (chunk: Buffer) => (jobLog = (jobLog + chunk.toString('utf8')).slice(-20_000)));
      job.stderr?.on('data', (chunk: Buffer) => (jobLog = (jobLog + chunk.toString('utf8')).slice(-20_000)));
      await waitUntilHealthy(base, job, () => jobLog);
    });

    after(async () => {
      if (job === undefined || job.exitCode !== null) return;
      const exited = new Promise((done) => job?.once('exit', done));
      job.kill('SIGTERM');
      const timer = setTimeout(() => job?.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    });

    for (const role of ROLES) {
      test(`with the ${role} role's token: no server error, no response outside the documented schema, no undocumented status`, async (t) => {
        const result = await run(
          'python3',
          [
            '-m',
            'schemathesis.cli',
            '--config-file',
            CONFIG,
            '--no-color',
            'run',
            `${base}/openapi.json`,
            '--checks',
            'all',
            '--header',
            `Authorization: Bearer ${await tokenOf(role)}`,
            '--max-examples',
            String(MAX_EXAMPLES),
            '--seed',
            '15',
            '--workers',
            '1',
            '--request-timeout',
            '30',
            '--suppress-health-check',
            'too_slow',
          ],
          {
            cwd: CACHE,
            env: {
              ...process.env,
              PYTHONPATH: CACHE,
              PYTHONDONTWRITEBYTECODE: '1',
            },
            timeoutMs: RUN_TIMEOUT_MS,
          },
        );
        const summary = result.output.split('\n').slice(-25).join('\n');
        const cases = /(\d+) generated/.exec(result.output)?.[1];
        t.diagnostic(`${role}: ${cases ?? '?'} test cases generated`);
        assert.equal(
          result.code,
          0,
          `schemathesis found failures with a ${role} token:\n${result.output.slice(-15_000)}`,
        );
        assert.match(summary, /test cases:|Test cases:/i, summary);
        assert.equal(job?.exitCode, null, `the main job died during the run:\n${jobLog}`);
      });
    }
  },
);
