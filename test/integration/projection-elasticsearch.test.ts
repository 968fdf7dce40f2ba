/**
 * The Elasticsearch transactions projection against the real server: a new deployment's index
 * sits behind an alias and an older concrete index keeps working, documents follow each
 * payment's events, replays never move a document backwards, history search finds both sides
 * of a payment, and amounts keep all 64 bits.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Client } from '@elastic/elasticsearch';

import {
  ElasticsearchTransactionsProjection,
  TRANSACTIONS_MAPPINGS,
} from '../../projections/elasticsearch/transactions.js';
import type { ProjectedPaymentEvent } from '../../projections/payment-view.js';
import { assertSearchesLikeReference, searchFixture } from '../support/search-cases.js';
import { stackEnv, uniqueName } from '../support/stack.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;

function events(
  paymentId: string,
  sender: string,
  recipient: string,
  amountMinor: bigint,
): ProjectedPaymentEvent[] {
  const base = { paymentId, correlationId: null };
  return [
    {
      ...base,
      eventId: `${paymentId}-0`,
      type: 'PaymentInitiated',
      sequence: 0,
      occurredAtMs: Date.now(),
      initiated: {
        kind: 'TRANSFER',
        principal: 'm',
        senderAccountId: sender,
        recipientAccountId: recipient,
        amountMinor,
        currency: 'EUR',
        reference: 'Rent for November',
      },
    },
    {
      ...base,
      eventId: `${paymentId}-1`,
      type: 'PaymentRejected',
      sequence: 1,
      occurredAtMs: Date.now(),
      rejection: { code: 'INSUFFICIENT_FUNDS', detail: null },
    },
  ];
}

describe('Elasticsearch transactions projection', { skip }, () => {
  let client: Client;
  let projection: ElasticsearchTransactionsProjection;

  before(async () => {
    if ('skip' in env) return;
    client = new Client({ node: env.elasticsearchUrl, requestTimeout: 10_000, maxRetries: 2 });
    projection = new ElasticsearchTransactionsProjection(client, uniqueName('transactions'));
    await projection.migrate();
    await projection.migrate();
  });
  after(async () => {
    // The name is an alias; the indices are named after it.
    if (projection) await client.indices.delete({ index: `${projection.index}*` });
    await client?.close();
  });

  test('a new deployment writes through an alias: the index is <name>-v1 behind the alias <name>, whoever migrates first', async () => {
    const found = await client.indices.getAlias({ name: projection.index });
    assert.deepEqual(Object.keys(found), [`${projection.index}-v1`]);
    const name = uniqueName('transactions-race');
    const racing = [1, 2, 3].map(() => new ElasticsearchTransactionsProjection(client, name));
    try {
      await Promise.all(racing.map((p) => p.migrate()));
      assert.deepEqual(Object.keys(await client.indices.getAlias({ name })), [`${name}-v1`]);
    } finally {
      await client.indices.delete({ index: `${name}*` });
    }
  });

  test('an index from before the alias keeps its name and gets the newer mapping fields', async () => {
    const name = uniqueName('transactions-legacy');
    const older = Object.fromEntries(
      Object.entries(TRANSACTIONS_MAPPINGS.properties).filter(([field]) => field !== 'referenceWords'),
    );
    await client.indices.create({ index: name, mappings: { dynamic: 'strict', properties: older } });
    try {
      const legacy = new ElasticsearchTransactionsProjection(client, name);
      await legacy.migrate();
      const found = await client.indices.get({ index: name });
      assert.deepEqual(Object.keys(found), [name], 'still a concrete index under its own name');
      assert.deepEqual(found[name]?.aliases, {});
      assert.ok(found[name]?.mappings?.properties?.referenceWords, 'the newer field is added');
      const paymentId = uniqueName('pay');
      await legacy.apply(events(paymentId, 'acc-a', 'acc-b', 1n));
      assert.equal((await legacy.getPayment(paymentId))?.status, 'REJECTED');
    } finally {
      await client.indices.delete({ index: name });
    }
  });

  test('a payment document follows its events, keeps its exact amount and is not moved back by a replay', async () => {
    const paymentId = uniqueName('pay');
    const history = events(paymentId, 'acc-a', 'acc-b', 9_007_199_254_740_993n);
    await projection.apply(history);
    await projection.apply(history.slice(0, 1));
    const view = await projection.getPayment(paymentId);
    assert.equal(view?.status, 'REJECTED');
    assert.deepEqual(view?.rejection, { code: 'INSUFFICIENT_FUNDS', detail: null });
    assert.equal(view?.amountMinor, 9_007_199_254_740_993n);
    assert.equal(view?.events.length, 2);
  });

  test('an account history finds the payments it sent and received, newest first', async () => {
    const account = uniqueName('acc');
    const sent = uniqueName('pay');
    const received = uniqueName('pay');
    await projection.apply(events(sent, account, 'other', 100n));
    await new Promise((resolve) => setTimeout(resolve, 5));
    await projection.apply(events(received, 'other', account, 200n));
    await client.indices.refresh({ index: projection.index });
    const history = await projection.accountPayments({ accountId: account, limit: 10 });
    assert.deepEqual(
      history.map((p) => p.paymentId),
      [received, sent],
    );
  });

  test('the search answers every filter (reference words, amount range, currency, status, time, account) with exactly the matching set, newest first', async () => {
    const account = uniqueName('acc-search');
    const events = searchFixture(account, 600);
    await projection.apply(events);
    await client.indices.refresh({ index: projection.index });
    const matched = await assertSearchesLikeReference(projection, events, account);
    assert.ok(matched > 600, `the queries matched ${matched} payments`);
  });
});
