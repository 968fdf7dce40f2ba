/**
 * The accounts projection against the real PostgreSQL and Kafka: account records and ledger
 * postings, written in the registry's Avro wire format to their topics, are projected into
 * exact balances (above 2^53, and sums beyond 64 bits); a replay of both topics by a new
 * consumer group changes nothing; every currency's balances sum to zero; an older account record
 * never overwrites a newer one; unbalanced postings and tombstones are dead-lettered.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Kafka, logLevel, type Admin } from 'kafkajs';
import pg from 'pg';

import type { AccountView } from '../../gateway/index.js';
import { account } from '../../processors/test-fixtures.js';
import { runAccountsProjection } from '../../projections/accounts-runner.js';
import {
  migrateAccountsProjection,
  PostgresAccountsProjection,
} from '../../projections/postgres/accounts.js';
import { AVRO } from '../../schemas/avro.js';
import { seal } from '../../schemas/pii.js';
import { TEST_PII_KEY_RING } from '../../gateway/test-support.js';
import {
  createSchemaRegistry,
  registerSchemas,
  registryAvroSerde,
  valueSubject,
} from '../../schemas/registry.js';
import type { AccountBalance, AccountCommandOutcome, LedgerPosting } from '../../schemas/types.js';
import { retryTopicMetadataRace } from '../../topics/create.js';
import { stackEnv, uniqueName } from '../support/stack.js';
import { until } from '../support/until.js';

const env = stackEnv();
const skip = 'skip' in env ? env.skip : false;
/** ISO 4217's code for testing: no real money is ever in it. */
const CURRENCY = 'XTS';
const FUNDING = `funding:${CURRENCY}`;
const ABOVE_2_53 = 9_007_199_254_740_993n;

function posting(
  postingId: string,
  lines: readonly (readonly [string, bigint])[],
  postedAtMs = 1_795_000_000_000,
): LedgerPosting {
  return {
    postingId,
    paymentId: postingId.split(':')[0]!,
    leg: postingId.endsWith(':debit') ? 'DEBIT' : 'CREDIT',
    currency: CURRENCY,
    lines: lines.map(([accountId, amountMinor]) => ({ accountId, amountMinor })),
    postedAtMs,
    recordedAtMs: postedAtMs + 40,
  };
}

const deposit = (paymentId: string, accountId: string, amountMinor: bigint): LedgerPosting =>
  posting(`${paymentId}:credit`, [
    [FUNDING, -amountMinor],
    [accountId, amountMinor],
  ]);

/** A transfer's two legs, through the in-transit accounts of two ledger partitions. */
const transfer = (paymentId: string, from: string, to: string, amountMinor: bigint): LedgerPosting[] => [
  posting(`${paymentId}:debit`, [
    [from, -amountMinor],
    [`transit:${CURRENCY}:1`, amountMinor],
  ]),
  posting(`${paymentId}:credit`, [
    [`transit:${CURRENCY}:2`, -amountMinor],
    [to, amountMinor],
  ]),
];

const balanceOf = (projection: PostgresAccountsProjection, accountId: string): Promise<bigint> =>
  projection.journalBalanceOf(accountId);

/** What the ledger publishes on ledger.balances for these postings, applied in this order. */
function ledgerBalancesAfter(
  postings: readonly LedgerPosting[],
  start: ReadonlyMap<string, bigint>,
): AccountBalance[] {
  const running = new Map(start);
  return postings.flatMap((p) =>
    p.lines.map((line) => {
      const balanceMinor = (running.get(line.accountId) ?? 0n) + line.amountMinor;
      running.set(line.accountId, balanceMinor);
      return {
        accountId: line.accountId,
        currency: p.currency,
        balanceMinor,
        postingId: p.postingId,
        updatedAtMs: p.postedAtMs,
      };
    }),
  );
}

/** A pool whose statements are bounded, with the accounts tables in place. */
async function migratedPool(connectionString: string): Promise<pg.Pool> {
  const pool = new pg.Pool({
    connectionString,
    max: 4,
    connectionTimeoutMillis: 5_000,
    statement_timeout: 10_000,
  });
  await migrateAccountsProjection(pool);
  return pool;
}

/** Whether the group has committed every non-empty partition of the topic up to its end. */
async function caughtUp(admin: Admin, groupId: string, topic: string): Promise<boolean> {
  // The topics were created by this file: the broker may not know them yet.
  const ends = await retryTopicMetadataRace(() => admin.fetchTopicOffsets(topic));
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return ends.every(
    ({ partition, high, low }) =>
      high === low || committed?.partitions.find((p) => p.partition === partition)?.offset === high,
  );
}

describe('PostgreSQL accounts projection', { skip }, () => {
  let pool: pg.Pool;
  let projection: PostgresAccountsProjection;

  before(async () => {
    if ('skip' in env) return;
    pool = await migratedPool(env.postgresUrl);
    await migrateAccountsProjection(pool); // migrations are idempotent
    projection = new PostgresAccountsProjection(pool, { statementTimeoutMs: 5_000 });
  });
  after(async () => {
    await pool?.end();
  });

  test('postings applied again, whole or in part, move no balance twice; balances match their entries', async () => {
    const [a, b] = [uniqueName('acc'), uniqueName('acc')];
    const pay = uniqueName('pay');
    await projection.applyAccounts([account(a, { currency: CURRENCY }), account(b, { currency: CURRENCY })]);
    const fundingBefore = await balanceOf(projection, FUNDING);
    const postings = [deposit(`${pay}-1`, a, ABOVE_2_53), ...transfer(`${pay}-2`, a, b, 700n)];
    await projection.applyPostings(postings.slice(0, 2));
    await projection.applyPostings([...postings, postings[0]!]);
    await projection.applyPostings(postings);
    await projection.applyPosting(postings[2]!);
    assert.equal(await balanceOf(projection, a), ABOVE_2_53 - 700n);
    assert.equal(await balanceOf(projection, b), 700n);
    assert.equal((await balanceOf(projection, FUNDING)) - fundingBefore, -ABOVE_2_53);
    const { rows } = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM payflow.ledger_entries WHERE posting_id = ANY($1)',
      [postings.map((p) => p.postingId)],
    );
    assert.equal(rows[0]!.n, 6);
    assert.deepEqual(await projection.balanceMismatches([a, b, FUNDING, `transit:${CURRENCY}:1`]), []);
    assert.equal(await projection.totalOfAllBalances(CURRENCY), 0n);
  });

  test('a balance can grow beyond 64 bits and still reads back exactly', async () => {
    const [rich, poor] = [uniqueName('acc'), uniqueName('acc')];
    const pay = uniqueName('pay');
    const big = 2n ** 62n;
    await projection.applyAccount(account(rich, { currency: CURRENCY }));
    await projection.applyPostings(
      [1, 2, 3].map((n) =>
        posting(`${pay}-${n}:credit`, [
          [poor, -big],
          [rich, big],
        ]),
      ),
    );
    assert.equal(await balanceOf(projection, rich), 3n * big);
    assert.ok(3n * big > 2n ** 63n - 1n);
  });

  test('a batch holding an unbalanced posting commits nothing', async () => {
    const a = uniqueName('acc');
    await projection.applyAccount(account(a, { currency: CURRENCY }));
    const good = deposit(uniqueName('pay'), a, 5n);
    const bad = posting(`${uniqueName('pay')}:debit`, [
      [a, -5n],
      [FUNDING, 4n],
    ]);
    await assert.rejects(projection.applyPostings([good, bad]), { name: 'LedgerPostingError' });
    assert.equal(await balanceOf(projection, a), 0n);
  });

  test("the balance answered is the ledger's: it moves only to a record later in its partition, never back, whatever the journal says", async () => {
    const a = uniqueName('acc');
    await projection.applyAccount(account(a, { currency: CURRENCY, openedAtMs: 1_000, updatedAtMs: 1_000 }));
    const at = (offset: bigint, balanceMinor: bigint, partition = 2) => ({
      balance: {
        accountId: a,
        currency: CURRENCY,
        balanceMinor,
        postingId: `p${offset}`,
        updatedAtMs: 5_000,
      },
      partition,
      offset,
    });
    await projection.applyLedgerBalances([at(5n, 10n)]);
    await projection.applyLedgerBalances([at(3n, 99n)]); // replayed older record: ignored
    assert.equal((await projection.getAccount(a))?.balanceMinor, 10n);
    await projection.applyLedgerBalances([at(7n, 4n), at(6n, 8n)]); // the later one of a batch wins
    assert.equal((await projection.getAccount(a))?.balanceMinor, 4n);
    // A debit in the journal whose funding credit has not been read yet: the journal goes below
    // zero for a moment, the answered balance does not.
    await projection.applyPosting(
      posting(uniqueName('pay') + ':debit', [
        [a, -4n],
        [FUNDING, 4n],
      ]),
    );
    assert.equal(await projection.journalBalanceOf(a), -4n);
    assert.equal((await projection.getAccount(a))?.balanceMinor, 4n);
  });

  test('an account row only moves to a record that is not older; system accounts answer from their balance; unknown ids are undefined', async () => {
    const a = uniqueName('acc');
    const opened = account(a, {
      currency: CURRENCY,
      ibanMasked: 'DE****3000',
      ibanSealed: seal('DE89370400440532013000', 'iban', TEST_PII_KEY_RING, a),
      openedAtMs: 1_000,
      updatedAtMs: 1_000,
    });
    const frozen = { ...opened, status: 'FROZEN' as const, updatedAtMs: 2_000 };
    await projection.applyAccounts([opened, frozen]);
    await projection.applyAccount(opened); // late and older: ignored
    assert.deepEqual(await projection.getAccount(a), { ...frozen, balanceMinor: 0n });
    const closedSameMs = { ...frozen, status: 'CLOSED' as const };
    await projection.applyAccount(closedSameMs); // same millisecond, later in the log: wins
    assert.equal((await projection.getAccount(a))?.status, 'CLOSED');

    await projection.applyLedgerBalances([
      {
        balance: {
          accountId: FUNDING,
          currency: CURRENCY,
          balanceMinor: -1n,
          postingId: 'p:debit',
          updatedAtMs: 3_000,
        },
        partition: 0,
        offset: 0n,
      },
    ]);
    const funding = await projection.getAccount(FUNDING);
    assert.equal(funding?.ownerId, 'system');
    assert.equal(funding?.currency, CURRENCY);
    assert.equal(funding?.status, 'ACTIVE');
    assert.equal(await projection.getAccount(uniqueName('missing')), undefined);
    assert.equal(await projection.getAccount('funding:QQQ'), undefined);
  });

  test('no IBAN rests in clear: a row holds the masked and the sealed IBAN with its key id, and a record of before sealing is stored masked', async () => {
    const [sealedId, legacyId] = [uniqueName('acc'), uniqueName('acc')];
    const sealed = seal('SA0380000000608010167519', 'iban', TEST_PII_KEY_RING, sealedId);
    await projection.applyAccounts([
      account(sealedId, { currency: CURRENCY, ibanMasked: 'SA****7519', ibanSealed: sealed }),
      account(legacyId, { currency: CURRENCY, iban: 'DE89370400440532013000' }),
    ]);
    const { rows } = await pool.query<Record<string, string | null>>(
      'SELECT account_id, iban_masked, iban_sealed, iban_key_id FROM payflow.accounts WHERE account_id = ANY($1) ORDER BY account_id = $2 DESC',
      [[sealedId, legacyId], sealedId],
    );
    assert.deepEqual(rows, [
      { account_id: sealedId, iban_masked: 'SA****7519', iban_sealed: sealed, iban_key_id: 't2' },
      { account_id: legacyId, iban_masked: 'DE****3000', iban_sealed: null, iban_key_id: null },
    ]);
    const legacy = await projection.getAccount(legacyId);
    assert.equal(legacy?.iban, null);
    assert.equal(legacy?.ibanMasked, 'DE****3000');
  });

  test("an owner's highest KYC tier is the highest of its accounts that are not CLOSED; an owner without accounts has none", async () => {
    const owner = uniqueName('owner');
    const [low, high] = [uniqueName('acc'), uniqueName('acc')];
    await projection.applyAccounts([
      account(low, { currency: CURRENCY, ownerId: owner, kycTier: 'TIER_1' }),
      account(high, { currency: CURRENCY, ownerId: owner, kycTier: 'TIER_3' }),
    ]);
    assert.equal(await projection.highestTierOfOwner(owner), 'TIER_3');
    const closed = account(high, {
      currency: CURRENCY,
      ownerId: owner,
      kycTier: 'TIER_3',
      status: 'CLOSED',
      updatedAtMs: 1,
    });
    await projection.applyAccount(closed);
    assert.equal(await projection.highestTierOfOwner(owner), 'TIER_1');
    assert.equal(await projection.highestTierOfOwner(uniqueName('nobody')), undefined);
  });
});

describe('Kafka to PostgreSQL accounts projection', { skip }, () => {
  let kafka: Kafka;
  let admin: Admin;
  let pool: pg.Pool;
  let projection: PostgresAccountsProjection;
  const topics = {
    accounts: uniqueName('accounts'),
    outcomes: uniqueName('accounts-outcomes'),
    postings: uniqueName('ledger-postings'),
    balances: uniqueName('ledger-balances'),
  };

  before(async () => {
    if ('skip' in env) return;
    kafka = new Kafka({
      clientId: 'accounts-projection-test',
      brokers: env.kafkaBrokers,
      logLevel: logLevel.NOTHING,
    });
    pool = await migratedPool(env.postgresUrl);
    projection = new PostgresAccountsProjection(pool);
    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [
        {
          topic: topics.accounts,
          numPartitions: 3,
          configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
        },
        { topic: topics.outcomes, numPartitions: 3 },
        { topic: topics.postings, numPartitions: 3 },
        {
          topic: topics.balances,
          numPartitions: 3,
          configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
        },
      ],
      waitForLeaders: true,
    });
    await registerSchemas(env.schemaRegistryUrl, [
      { name: topics.accounts, value: { kind: 'avro', contract: AVRO.Account } },
      { name: topics.outcomes, value: { kind: 'avro', contract: AVRO.AccountCommandOutcome } },
      { name: topics.postings, value: { kind: 'avro', contract: AVRO.LedgerPosting } },
      { name: topics.balances, value: { kind: 'avro', contract: AVRO.AccountBalance } },
    ]);
  });
  after(async () => {
    await admin?.disconnect();
    await pool?.end();
  });

  test("accounts and postings are projected to exact balances, every account command's decision is kept once, a replay by a new group changes nothing, and the currency sums to zero", async () => {
    if ('skip' in env) return;
    const registry = createSchemaRegistry(env.schemaRegistryUrl);
    const accountSerde = registryAvroSerde(registry, valueSubject(topics.accounts), AVRO.Account);
    const outcomeSerde = registryAvroSerde(
      registry,
      valueSubject(topics.outcomes),
      AVRO.AccountCommandOutcome,
    );
    const postingSerde = registryAvroSerde(registry, valueSubject(topics.postings), AVRO.LedgerPosting);
    const balanceSerde = registryAvroSerde(registry, valueSubject(topics.balances), AVRO.AccountBalance);

    const [a, b, c] = [uniqueName('acc'), uniqueName('acc'), uniqueName('acc')];
    const opened = (accountId: string) =>
      account(accountId, { currency: CURRENCY, openedAtMs: 1_000, updatedAtMs: 1_000 });
    const accountRecords = [
      opened(a),
      opened(b),
      opened(c),
      { ...opened(c), status: 'FROZEN' as const, updatedAtMs: 2_000 },
      { ...opened(c), updatedAtMs: 1_500 }, // stale: must not unfreeze c
    ];
    const pay = uniqueName('pay');
    const postings = [
      deposit(`${pay}-1`, a, ABOVE_2_53),
      deposit(`${pay}-2`, b, 1_000n),
      ...transfer(`${pay}-3`, a, c, 700n),
      ...transfer(`${pay}-4`, b, a, 250n),
    ];
    const unbalanced = posting(`${pay}-5:debit`, [
      [a, -1n],
      [FUNDING, 2n],
    ]);
    const fundingBefore = await balanceOf(projection, FUNDING);

    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({
      topic: topics.accounts,
      messages: [
        ...(await Promise.all(
          accountRecords.map(async (r) => ({
            key: r.accountId,
            value: await accountSerde.serialize(r, topics.accounts),
          })),
        )),
        { key: 'tombstoned', value: null },
      ],
    });
    const refusedCommand = uniqueName('cmd');
    const refusal: AccountCommandOutcome = {
      commandId: refusedCommand,
      accountId: c,
      commandType: 'OPEN',
      outcome: 'REFUSED',
      code: 'ACCOUNT_EXISTS',
      detail: `account ${c} is already open with another owner or currency`,
      status: null,
      decidedAtMs: 3_000,
    };
    // The same decision twice (a replayed batch): one row.
    await producer.send({
      topic: topics.outcomes,
      messages: await Promise.all(
        [refusal, refusal].map(async (o) => ({
          key: o.accountId,
          value: await outcomeSerde.serialize(o, topics.outcomes),
        })),
      ),
    });
    // A posting delivered twice (an at-least-once writer) and an unbalanced one among them.
    await producer.send({
      topic: topics.postings,
      messages: await Promise.all(
        [...postings, postings[0]!, unbalanced].map(async (p) => ({
          key: p.paymentId,
          value: await postingSerde.serialize(p, topics.postings),
        })),
      ),
    });
    // The ledger's balances, in the order it applied the postings (the funding account's own
    // history is shared with other tests, so it starts from what is there).
    const balances = ledgerBalancesAfter(postings, new Map([[FUNDING, fundingBefore]]));
    await producer.send({
      topic: topics.balances,
      messages: await Promise.all(
        balances.map(async (balance) => ({
          key: balance.accountId,
          value: await balanceSerde.serialize(balance, topics.balances),
        })),
      ),
    });
    await producer.disconnect();

    const deadLetters: string[] = [];
    const run = async (groupId: string) => {
      const running = await runAccountsProjection({
        kafka,
        projection,
        groupId,
        topics,
        accountSerde,
        outcomeSerde,
        postingSerde,
        balanceSerde,
        deadLetter: (topic, message, _partition, reason) => {
          deadLetters.push(
            `${topic === topics.accounts ? 'accounts' : 'postings'} ${message.key?.toString()}: ${reason.name}`,
          );
          return Promise.resolve();
        },
        retry: { initialDelayMs: 50, maxDelayMs: 500 },
      });
      try {
        await until(
          async () =>
            (await caughtUp(admin, `${groupId}.accounts`, topics.accounts)) &&
            (await caughtUp(admin, `${groupId}.outcomes`, topics.outcomes)) &&
            (await caughtUp(admin, `${groupId}.postings`, topics.postings)) &&
            (await caughtUp(admin, `${groupId}.balances`, topics.balances)),
          `${groupId} to commit the four topics to their ends`,
        );
      } finally {
        await running.disconnect();
      }
    };
    const views = () => Promise.all([a, b, c].map((id) => projection.getAccount(id)));

    await run(uniqueName('accounts-projection'));
    const [viewA, viewB, viewC] = await views();
    assert.equal(viewA?.balanceMinor, ABOVE_2_53 - 700n + 250n);
    assert.equal(viewB?.balanceMinor, 1_000n - 250n);
    assert.equal(viewC?.balanceMinor, 700n);
    assert.equal(viewC?.status, 'FROZEN');
    assert.deepEqual(await projection.getAccountCommand(c, refusedCommand), refusal);
    assert.equal(await projection.getAccountCommand(a, refusedCommand), undefined, 'another account');
    assert.equal(viewA?.currency, CURRENCY);
    for (const id of [a, b, c]) {
      assert.equal(await projection.journalBalanceOf(id), (await projection.getAccount(id))?.balanceMinor);
    }
    assert.equal((await balanceOf(projection, FUNDING)) - fundingBefore, -(ABOVE_2_53 + 1_000n));
    assert.equal(await projection.totalOfAllBalances(CURRENCY), 0n);
    assert.deepEqual(deadLetters.sort(), [
      `accounts tombstoned: TombstoneError`,
      `postings ${pay}-5: LedgerPostingError`,
    ]);

    // The projector rebuilt from the beginning by a new group: every row stays as it was.
    const fundingAfterFirstRun = await projection.getAccount(FUNDING);
    await run(uniqueName('accounts-projection-replay'));
    const replayed: (AccountView | undefined)[] = await views();
    assert.deepEqual(replayed, [viewA, viewB, viewC]);
    assert.deepEqual(await projection.getAccount(FUNDING), fundingAfterFirstRun);
    assert.equal(await projection.totalOfAllBalances(CURRENCY), 0n);
    assert.deepEqual(await projection.balanceMismatches([a, b, c]), []);
  });
});
