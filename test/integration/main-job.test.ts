/**
 * The README's main-job command (`npm start`, i.e. `tsx main.ts`) works on a fresh machine with
 * no servers and no configuration: it listens, prints development tokens, accepts a payment and
 * stops cleanly on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { test } from 'node:test';

const START_TIMEOUT_MS = 30_000;

function waitForOutput(child: ReturnType<typeof spawn>, pattern: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = output.match(pattern);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    });
  });
}

test('the main job starts with no servers or settings, accepts a payment with its development token, and exits 0 on SIGTERM', async () => {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const child = spawn(process.execPath, ['--import', 'tsx', 'main.ts'], {
    env: { PATH: process.env.PATH, PAYFLOW_HTTP_PORT: String(port), PAYFLOW_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const match = await waitForOutput(child, /producer: (\S+)\n\s+admin: +(\S+)/);
    const producerToken = match[1]!;
    const response = await fetch(`http://127.0.0.1:${port}/v1/payments`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${producerToken}`,
        'content-type': 'application/json',
        'idempotency-key': randomUUID(),
      },
      body: JSON.stringify({ senderAccountId: 'acc-a', recipientAccountId: 'acc-b', amount: 1250, currency: 'EUR' }),
    });
    assert.equal(response.status, 202);
    const body = (await response.json()) as { paymentId: string; status: string };
    assert.equal(body.status, 'INITIATED');

    const unauthenticated = await fetch(`http://127.0.0.1:${port}/v1/payments/${body.paymentId}`);
    assert.equal(unauthenticated.status, 401);
    assert.match(unauthenticated.headers.get('content-type') ?? '', /application\/problem\+json/);
  } finally {
    child.kill('SIGTERM');
  }
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0);
});
