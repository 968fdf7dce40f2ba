/** The simulators' control API: fault settings are validated, seeded draws repeat, the executed list is exact. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { FaultControl } from './faults.js';
import { startSimulator, type PartnerSimulator } from './index.js';

let bank: PartnerSimulator;
before(async () => {
  bank = await startSimulator('bank-a', { seed: 5 });
});
after(() => bank.close());

const put = (body: unknown) =>
  fetch(`${bank.url}/__control/faults`, { method: 'PUT', body: JSON.stringify(body) });

test('fault settings out of range are refused with the field; PUT {} clears every fault', async () => {
  const bad = await put({ failureRate: 0.8, timeoutRate: 0.5, latencyMs: -1 });
  assert.equal(bad.status, 400);
  const { problems } = (await bad.json()) as { problems: string[] };
  assert.ok(problems.some((p) => p.startsWith('latencyMs:')));
  assert.equal((await put({ down: true, latencyMs: 5 })).status, 200);
  assert.equal((await put({})).status, 200);
  const current = (await (await fetch(`${bank.url}/__control/faults`)).json()) as Record<string, unknown>;
  assert.equal(current.down, false);
  assert.equal(current.latencyMs, 0);
});

test('the same seed draws the same faults in the same order', () => {
  const draws = (seed: number) => {
    const control = new FaultControl(seed);
    control.set({
      failureRate: 0.3,
      timeoutRate: 0.1,
      refusalRate: 0,
      timeoutExecutedShare: 0.5,
      latencyMs: 0,
      down: false,
    });
    return Array.from({ length: 50 }, () => control.draw('execute'));
  };
  assert.deepEqual(draws(9), draws(9));
  assert.notDeepEqual(draws(9), draws(10));
  const failures = draws(9).filter((d) => d === 'failure').length;
  assert.ok(failures > 5 && failures < 25, `about 30% failures (${failures}/50)`);
});

test('GET /__control/executed lists each executed reference once with its exact amount, currency and time', async () => {
  const body = JSON.stringify({
    reference: 'R-1',
    amount_minor: 9007199254740991,
    currency: 'EUR',
    creditor: { iban: 'DE89370400440532013000', name: 'Ada' },
  });
  for (let i = 0; i < 3; i += 1)
    await fetch(`${bank.url}/v2/payments`, { method: 'POST', headers: { 'Idempotency-Key': 'R-1' }, body });
  const listed = (await (await fetch(`${bank.url}/__control/executed`)).json()) as {
    executed: {
      reference: string;
      amountMinor: string;
      currency: string;
      executedAt: string;
      requests: number;
    }[];
  };
  assert.equal(listed.executed.length, 1);
  assert.deepEqual(
    { ...listed.executed[0], executedAt: undefined, partnerId: undefined },
    {
      reference: 'R-1',
      amountMinor: '9007199254740991',
      currency: 'EUR',
      requests: 3,
      executedAt: undefined,
      partnerId: undefined,
    },
  );
  assert.ok(!Number.isNaN(Date.parse(listed.executed[0]!.executedAt)));
  assert.equal((await fetch(`${bank.url}/__control/reset`, { method: 'POST' })).status, 204);
});

test('a request read after its deadline is not executed', async () => {
  const response = await fetch(`${bank.url}/v2/payments`, {
    method: 'POST',
    headers: { 'Idempotency-Key': 'R-late', 'Request-Deadline': new Date(Date.now() - 1_000).toISOString() },
    body: JSON.stringify({
      reference: 'R-late',
      amount_minor: 1,
      currency: 'EUR',
      creditor: { iban: 'DE89370400440532013000', name: 'Ada' },
    }),
  });
  assert.equal(response.status, 422);
  assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'REQUEST_EXPIRED');
  assert.equal(bank.executed().length, 0);
});
