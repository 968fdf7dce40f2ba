/**
 * Each adapter against its simulator over real HTTP on loopback: the round trip, the idempotent
 * repeat, the status query, and the classification of refusals, technical failures, silences and
 * an unreachable partner.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';

import { PARTNER_NAMES, type PartnerName } from '../simulators/index.js';
import { ADAPTERS, partnerReference, type BankAdapter } from './index.js';
import {
  BAD_IBAN,
  BENEFICIARY,
  setFaults,
  startSimulators,
  stopSimulators,
  type Simulators,
} from './test-support.js';

/** A loopback port nothing listens on (it was bound, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let simulators: Simulators;
const adapters = {} as Record<PartnerName, BankAdapter>;
let counter = 0;
const nextReference = () => partnerReference(`adapter-test-${(counter += 1)}`, 1);

before(async () => {
  simulators = await startSimulators();
  for (const partner of PARTNER_NAMES)
    adapters[partner] = ADAPTERS[partner]({ baseUrl: simulators[partner].url, timeoutMs: 300 });
});
after(() => stopSimulators(simulators));

/** A currency and amount each partner takes, in its own format's hard cases. */
const CASES: Record<PartnerName, { currency: string; amountMinor: bigint }[]> = {
  'bank-a': [
    { currency: 'EUR', amountMinor: 12_345n },
    { currency: 'JPY', amountMinor: 9_007_199_254_740_991n },
  ],
  'bank-b': [
    { currency: 'KWD', amountMinor: 1_250n },
    { currency: 'JPY', amountMinor: 1_000n },
    { currency: 'EUR', amountMinor: 5n },
  ],
  wallet: [
    { currency: 'EUR', amountMinor: 1_010n },
    { currency: 'USD', amountMinor: 9_007_199_254_740_993n },
  ],
};

for (const partner of PARTNER_NAMES) {
  describe(`${partner} adapter`, () => {
    test('executes a reference once: the repeat returns the same transaction, the partner lists one execution of the exact amount', async () => {
      for (const { currency, amountMinor } of CASES[partner]) {
        const request = { reference: nextReference(), amountMinor, currency, beneficiary: BENEFICIARY };
        const first = await adapters[partner].execute(request);
        assert.equal(first.kind, 'executed', JSON.stringify(first));
        const again = await adapters[partner].execute(request);
        assert.deepEqual(again, first);
        const status = await adapters[partner].status(request.reference);
        assert.deepEqual(status, first);
        const listed = simulators[partner].executed().filter((e) => e.reference === request.reference);
        assert.equal(listed.length, 1);
        assert.equal(listed[0]!.amountMinor, amountMinor);
        assert.equal(listed[0]!.currency, currency);
        assert.equal(listed[0]!.requests, 2);
      }
    });

    test('a reference the partner never saw is not-found', async () => {
      assert.deepEqual(await adapters[partner].status(nextReference()), { kind: 'not-found' });
    });

    test('refusals are not-retriable with the normalized reason, and the status query says the same', async () => {
      const badAccount = {
        reference: nextReference(),
        amountMinor: 100n,
        currency: 'EUR',
        beneficiary: BAD_IBAN,
      };
      const refusal = await adapters[partner].execute(badAccount);
      assert.equal(refusal.kind, 'not-retriable');
      assert.equal(refusal.kind === 'not-retriable' && refusal.reason, 'INVALID_BENEFICIARY');
      const status = await adapters[partner].status(badAccount.reference);
      assert.equal(status.kind === 'not-retriable' && status.reason, 'INVALID_BENEFICIARY');
      const currency = await adapters[partner].execute({
        ...badAccount,
        reference: nextReference(),
        currency: 'NOK',
        beneficiary: BENEFICIARY,
      });
      const expected = partner === 'bank-a' ? 'executed' : 'not-retriable';
      assert.equal(currency.kind, expected);
      if (currency.kind === 'not-retriable') assert.equal(currency.reason, 'UNSUPPORTED_CURRENCY');
    });

    test('the same reference with another amount is a REFERENCE_CONFLICT, and nothing more is executed', async () => {
      const request = {
        reference: nextReference(),
        amountMinor: 700n,
        currency: 'EUR',
        beneficiary: BENEFICIARY,
      };
      assert.equal((await adapters[partner].execute(request)).kind, 'executed');
      const conflict = await adapters[partner].execute({ ...request, amountMinor: 701n });
      assert.equal(conflict.kind === 'not-retriable' && conflict.reason, 'REFERENCE_CONFLICT');
      assert.equal(simulators[partner].executed().filter((e) => e.reference === request.reference).length, 1);
    });

    test('a technical failure is retriable and executes nothing; a partner that is down is retriable too', async () => {
      const request = {
        reference: nextReference(),
        amountMinor: 300n,
        currency: 'EUR',
        beneficiary: BENEFICIARY,
      };
      await setFaults(simulators[partner], { failureRate: 1 });
      assert.equal((await adapters[partner].execute(request)).kind, 'retriable');
      await setFaults(simulators[partner], { down: true });
      assert.equal((await adapters[partner].execute(request)).kind, 'retriable');
      assert.equal((await adapters[partner].status(request.reference)).kind, 'unavailable');
      await setFaults(simulators[partner], {});
      assert.deepEqual(await adapters[partner].status(request.reference), { kind: 'not-found' });
    });

    test('a timeout is an unknown outcome: executed before the silence, or never; only the status query tells', async () => {
      const executedThenSilent = {
        reference: nextReference(),
        amountMinor: 400n,
        currency: 'EUR',
        beneficiary: BENEFICIARY,
      };
      await setFaults(simulators[partner], { timeoutRate: 1, timeoutExecutedShare: 1 });
      assert.equal((await adapters[partner].execute(executedThenSilent)).kind, 'unknown-outcome');
      const neverExecuted = { ...executedThenSilent, reference: nextReference() };
      await setFaults(simulators[partner], { timeoutRate: 1, timeoutExecutedShare: 0 });
      assert.equal((await adapters[partner].execute(neverExecuted)).kind, 'unknown-outcome');
      await setFaults(simulators[partner], {});
      assert.equal((await adapters[partner].status(executedThenSilent.reference)).kind, 'executed');
      assert.deepEqual(await adapters[partner].status(neverExecuted.reference), { kind: 'not-found' });
    });

    test('a partner nobody listens for is retriable (nothing was sent)', async () => {
      const closed = ADAPTERS[partner]({ baseUrl: `http://127.0.0.1:${await freePort()}`, timeoutMs: 300 });
      const outcome = await closed.execute({
        reference: nextReference(),
        amountMinor: 1n,
        currency: 'EUR',
        beneficiary: BENEFICIARY,
      });
      assert.equal(outcome.kind, 'retriable');
    });
  });
}

test('Bank A refuses, before sending, an amount its integer format cannot carry exactly', async () => {
  const outcome = await adapters['bank-a'].execute({
    reference: nextReference(),
    amountMinor: 9_007_199_254_740_992n,
    currency: 'EUR',
    beneficiary: BENEFICIARY,
  });
  assert.equal(outcome.kind === 'not-retriable' && outcome.partnerCode, 'LOCAL');
});

test('the reference is P + the payment UUID in hex + a two-digit attempt: 35 characters, the same for the same inputs', () => {
  const reference = partnerReference('0192f3c4-5a6b-7c8d-9e0f-112233445566', 1);
  assert.equal(reference, 'P0192f3c45a6b7c8d9e0f11223344556601');
  assert.equal(reference.length, 35);
  assert.equal(
    partnerReference('0192f3c4-5a6b-7c8d-9e0f-112233445566', 2),
    'P0192f3c45a6b7c8d9e0f11223344556602',
  );
  assert.match(partnerReference('not-a-uuid', 3), /^H[0-9a-f]{32}03$/);
  assert.throws(() => partnerReference('x', 0), RangeError);
  assert.throws(() => partnerReference('x', 100), RangeError);
});
