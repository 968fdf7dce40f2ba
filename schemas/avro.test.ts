import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

import {
  AVRO,
  AvroContractError,
  AvroEncodeError,
  backwardCompatibility,
  parseAvroSchema,
  plainAvroSerde,
  type AvroContract,
} from './avro.js';
import {
  REJECTION_CODES,
  type Account,
  type AccountCommand,
  type AccountCommandOutcome,
  type CreditInstruction,
  type LedgerPosting,
  type PaymentCommand,
  type PaymentEvent,
  type PaymentInFlight,
} from './types.js';

/** 2^53 + 1: not representable as a JavaScript number. */
const BEYOND_DOUBLE = 2n ** 53n + 1n;
const INT64_MAX = 2n ** 63n - 1n;
const AT = 1_767_225_600_123;

const command: PaymentCommand = {
  commandId: 'cmd-1',
  paymentId: 'pay-1',
  kind: 'TRANSFER',
  principal: 'merchant-7',
  idempotencyKey: 'idem-1',
  requestHash: 'a'.repeat(64),
  senderAccountId: 'acc-a',
  recipientAccountId: 'acc-b',
  amountMinor: BEYOND_DOUBLE,
  currency: 'EUR',
  reference: 'Invoice 42',
  device: { id: 'pos-9', ip: '2001:db8::1' },
  submittedAtMs: AT,
  authority: { kind: 'SERVICE', owners: ['*'] },
};

const debitPosting: LedgerPosting = {
  postingId: 'pay-1:debit',
  paymentId: 'pay-1',
  leg: 'DEBIT',
  currency: 'EUR',
  lines: [
    { accountId: 'acc-a', amountMinor: -BEYOND_DOUBLE },
    { accountId: 'transit:EUR:3', amountMinor: BEYOND_DOUBLE },
  ],
  postedAtMs: AT,
  recordedAtMs: AT + 40,
};

const samples: {
  readonly [K in keyof typeof AVRO]: (typeof AVRO)[K] extends AvroContract<infer V> ? readonly V[] : never;
} = {
  PaymentCommand: [
    command,
    {
      ...command,
      kind: 'DEPOSIT',
      senderAccountId: 'funding:EUR',
      amountMinor: INT64_MAX,
      reference: null,
      device: null,
    },
    { ...command, device: { id: 'app-1', ip: null } },
  ],
  AccountCommand: [
    {
      type: 'OPEN',
      commandId: 'c-1',
      accountId: 'acc-a',
      ownerId: 'owner-1',
      currency: 'EUR',
      kycTier: 'TIER_2',
      iban: null,
      ibanMasked: 'DE****3000',
      ibanSealed: 'pii:v1:k1:AAAAAAAAAAAAAAAA:c2VhbGVkLWliYW4',
      issuedAtMs: AT,
    },
    {
      type: 'OPEN',
      commandId: 'c-2',
      accountId: 'acc-b',
      ownerId: 'owner-2',
      currency: 'USD',
      kycTier: 'TIER_0',
      iban: null,
      issuedAtMs: AT,
    },
    { type: 'CHANGE_STATUS', commandId: 'c-3', accountId: 'acc-a', status: 'FROZEN', issuedAtMs: AT + 1 },
  ] satisfies AccountCommand[],
  AccountCommandOutcome: [
    {
      commandId: 'c-1',
      accountId: 'acc-a',
      commandType: 'OPEN',
      outcome: 'APPLIED',
      code: null,
      detail: null,
      status: 'ACTIVE',
      decidedAtMs: AT,
    },
    {
      commandId: 'c-4',
      accountId: 'acc-z',
      commandType: 'CHANGE_STATUS',
      outcome: 'REFUSED',
      code: 'ACCOUNT_NOT_FOUND',
      detail: 'account acc-z does not exist',
      status: null,
      decidedAtMs: AT + 2,
    },
  ] satisfies AccountCommandOutcome[],
  Account: [
    {
      accountId: 'acc-a',
      ownerId: 'owner-1',
      currency: 'EUR',
      kycTier: 'TIER_3',
      iban: null,
      ibanMasked: 'SA****7519',
      ibanSealed: 'pii:v1:k1:AAAAAAAAAAAAAAAA:c2VhbGVkLWliYW4',
      status: 'CLOSED',
      openedAtMs: AT,
      updatedAtMs: AT + 5,
    },
  ] satisfies Account[],
  PaymentEvent: [
    {
      eventId: 'pay-1:0',
      paymentId: 'pay-1',
      type: 'PaymentInitiated',
      sequence: 0,
      occurredAtMs: AT,
      recordedAtMs: AT + 40,
      correlationId: 'corr-1',
      initiated: {
        kind: 'TRANSFER',
        principal: 'merchant-7',
        idempotencyKey: 'idem-1',
        senderAccountId: 'acc-a',
        recipientAccountId: 'acc-b',
        amountMinor: BEYOND_DOUBLE,
        currency: 'EUR',
        reference: null,
      },
      rejection: null,
      risk: null,
      review: null,
    },
    ...REJECTION_CODES.map((code, index): PaymentEvent => ({
      eventId: `pay-${index}:1`,
      paymentId: `pay-${index}`,
      type: 'PaymentRejected',
      sequence: 1,
      occurredAtMs: AT,
      recordedAtMs: index % 2 === 0 ? null : AT + 2_000,
      correlationId: null,
      initiated: null,
      rejection: { code, detail: index % 2 === 0 ? null : `because ${code}` },
      risk: null,
      review: null,
    })),
  ] satisfies PaymentEvent[],
  PaymentInFlight: [{ command, nextSequence: 3, velocity: null, risk: null }] satisfies PaymentInFlight[],
  CreditInstruction: [
    {
      paymentId: 'pay-1',
      recipientAccountId: 'acc-b',
      amountMinor: BEYOND_DOUBLE,
      currency: 'EUR',
      nextSequence: 3,
      correlationId: null,
    },
  ] satisfies CreditInstruction[],
  LedgerPosting: [
    debitPosting,
    { ...debitPosting, postingId: 'pay-1:credit', leg: 'CREDIT', recordedAtMs: null },
  ],
  AccountBalance: [
    {
      accountId: 'acc-a',
      currency: 'EUR',
      balanceMinor: BEYOND_DOUBLE,
      postingId: 'pay-1:credit',
      updatedAtMs: AT,
    },
    {
      accountId: 'funding:EUR',
      currency: 'EUR',
      balanceMinor: -BEYOND_DOUBLE,
      postingId: 'pay-2:debit',
      updatedAtMs: AT,
    },
  ],
  ReviewDecision: [
    {
      decisionId: 'd-1',
      paymentId: 'pay-1',
      senderAccountId: 'acc-a',
      decision: 'APPROVE',
      reviewer: 'reviewer-1',
      note: null,
      decidedAtMs: AT,
    },
    {
      decisionId: 'd-2',
      paymentId: 'pay-2',
      senderAccountId: 'acc-a',
      decision: 'DECLINE',
      reviewer: 'reviewer-1',
      note: 'called the customer',
      decidedAtMs: AT,
    },
  ],
  DenyListEntry: [
    { kind: 'DEVICE', value: 'dev-1', addedBy: 'admin-1', addedAtMs: AT },
    { kind: 'IP', value: '203.0.113.7', addedBy: 'admin-1', addedAtMs: AT },
    { kind: 'ACCOUNT', value: 'acc-x', addedBy: 'admin-1', addedAtMs: AT },
  ],
  DeviceSighting: [{ subject: 'DEVICE:dev-1', senderAccountId: 'acc-a', seenAtMs: AT }],
  DeviceProfile: [
    { subject: 'IP:203.0.113.7', senders: [] },
    {
      subject: 'DEVICE:dev-1',
      senders: [
        { accountId: 'acc-a', lastSeenMs: AT },
        { accountId: 'acc-b', lastSeenMs: AT - 1 },
      ],
    },
  ],
};

function roundTrip<V>(contract: AvroContract<V>, values: readonly V[]): void {
  for (const value of values) {
    const bytes = contract.encode(value);
    assert.deepStrictEqual(contract.decode(bytes), value);
    assert.deepStrictEqual(contract.encode(contract.decode(bytes)), bytes);
  }
}

describe('Avro contracts', () => {
  for (const [name, contract] of Object.entries(AVRO)) {
    test(`a ${name} survives encode and decode unchanged, bigint amounts above 2^53 included`, () => {
      roundTrip(contract as AvroContract<unknown>, samples[name as keyof typeof AVRO]);
    });
  }

  test('decoded records are plain objects at every depth, also when read through a resolver', () => {
    const notPlain: string[] = [];
    const visit = (value: unknown, path: string): void => {
      if (Array.isArray(value)) return value.forEach((item, index) => visit(item, `${path}[${index}]`));
      if (value === null || typeof value !== 'object') return;
      if (Object.getPrototypeOf(value) !== Object.prototype) notPlain.push(path);
      for (const [key, field] of Object.entries(value)) visit(field, `${path}.${key}`);
    };
    for (const [name, contract] of Object.entries(AVRO) as [string, AvroContract<unknown>][]) {
      const writer = parseAvroSchema(contract.schemaText);
      samples[name as keyof typeof AVRO].forEach((value, index) => {
        const bytes = contract.encode(value);
        visit(contract.decode(bytes), `${name}[${index}]`);
        visit(contract.decode(bytes, writer), `${name}[${index}] (resolved)`);
      });
    }
    assert.deepEqual(notPlain, []);
  });

  test('every schema is in namespace io.payflow and every field of every record has a doc', () => {
    const undocumented: string[] = [];
    const visit = (node: unknown, path: string): void => {
      if (Array.isArray(node)) node.forEach((branch, index) => visit(branch, `${path}[${index}]`));
      if (node === null || typeof node !== 'object') return;
      const schema = node as {
        type?: unknown;
        name?: string;
        fields?: { name: string; doc?: string; type: unknown }[];
        items?: unknown;
      };
      if (schema.name !== undefined && (schema.type === 'record' || schema.type === 'enum')) {
        assert.match(schema.name, /^io\.payflow\.\w+$/, `${path} is outside io.payflow`);
      }
      for (const field of schema.fields ?? []) {
        if (typeof field.doc !== 'string' || field.doc.trim() === '')
          undocumented.push(`${path}.${field.name}`);
        visit(field.type, `${path}.${field.name}`);
      }
      visit(schema.type, path);
      visit(schema.items, path);
    };
    for (const contract of Object.values(AVRO)) visit(JSON.parse(contract.schemaText), contract.name);
    assert.deepEqual(undocumented, []);
  });

  test('the RejectionCode enum has exactly the symbols of REJECTION_CODES, in order', () => {
    const text = readFileSync(new URL('./PaymentEvent.avsc', import.meta.url), 'utf8');
    const symbols = /"name": "RejectionCode"[\s\S]*?"symbols": (\[[^\]]*\])/.exec(text)?.[1];
    assert.deepEqual(JSON.parse(symbols ?? '[]'), [...REJECTION_CODES]);
  });

  test('amounts and timestamps use the Avro types the contract promises', () => {
    const schema = AVRO.PaymentCommand.schemaText;
    assert.match(schema, /"name":"amountMinor","type":"long"/);
    assert.match(schema, /"name":"submittedAtMs","type":\{"type":"long","logicalType":"timestamp-millis"\}/);
    assert.match(schema, /"name":"reference","type":\["null","string"\],"default":null/);
  });

  test('a value that breaks its schema is refused with the offending field named', () => {
    const wrongAmount = { ...command, amountMinor: 12 as unknown as bigint };
    assert.throws(
      () => AVRO.PaymentCommand.encode(wrongAmount),
      (error: unknown) => error instanceof AvroEncodeError && error.invalidPaths.includes('amountMinor'),
    );
    const unknownCode = {
      ...samples.PaymentEvent[1]!,
      rejection: { code: 'NOT_A_CODE', detail: null },
    } as unknown as PaymentEvent;
    assert.throws(() => AVRO.PaymentEvent.encode(unknownCode), AvroEncodeError);
    const fractionalTime = { ...command, submittedAtMs: 1.5 };
    assert.throws(() => AVRO.PaymentCommand.encode(fractionalTime), AvroEncodeError);
  });

  test('an OPEN account command without its OPEN fields is refused when decoded', () => {
    const flat = parseAvroSchema(AVRO.AccountCommand.schemaText);
    const bytes = flat.toBuffer({
      type: 'OPEN',
      commandId: 'c-9',
      accountId: 'acc-x',
      ownerId: null,
      currency: null,
      kycTier: null,
      iban: null,
      status: null,
      issuedAtMs: AT,
    });
    assert.throws(() => AVRO.AccountCommand.decode(bytes), AvroContractError);
  });

  test('the plain serde writes bare Avro binary and reads it back', async () => {
    const serde = plainAvroSerde(AVRO.PaymentCommand);
    const bytes = await serde.serialize(command, 'payments.commands');
    assert.deepStrictEqual(bytes, AVRO.PaymentCommand.encode(command));
    assert.deepStrictEqual(await serde.deserialize(bytes, 'payments.commands'), command);
  });
});

describe('schema evolution', () => {
  const current = JSON.parse(AVRO.CreditInstruction.schemaText) as { fields: object[] };
  const withField = (field: object) => parseAvroSchema({ ...current, fields: [...current.fields, field] });
  const credit = samples.CreditInstruction[0]!;

  test('a new field without a default is an incompatible change: the new schema cannot read old records', () => {
    const next = withField({ name: 'merchantId', type: 'string', doc: 'new' });
    const verdict = backwardCompatibility(next, AVRO.CreditInstruction.type);
    assert.equal(verdict.compatible, false);
  });

  test('changing a field to another type is an incompatible change', () => {
    const stringAmount = parseAvroSchema({
      ...current,
      fields: current.fields.map((field) =>
        (field as { name: string }).name === 'amountMinor' ? { ...field, type: 'string' } : field,
      ),
    });
    assert.equal(backwardCompatibility(stringAmount, AVRO.CreditInstruction.type).compatible, false);
  });

  test('removing a field without a default passes BACKWARD but leaves consumers still on the old schema unable to read new records', () => {
    const withoutCurrency = parseAvroSchema({
      ...current,
      fields: current.fields.filter((field) => (field as { name: string }).name !== 'currency'),
    });
    assert.deepEqual(backwardCompatibility(withoutCurrency, AVRO.CreditInstruction.type), {
      compatible: true,
    });
    assert.equal(backwardCompatibility(AVRO.CreditInstruction.type, withoutCurrency).compatible, false);
  });

  test("a new nullable field with a default is compatible, and records written with it still decode into today's type with bigints intact", () => {
    const next = withField({ name: 'merchantId', type: ['null', 'string'], default: null, doc: 'new' });
    assert.deepEqual(backwardCompatibility(next, AVRO.CreditInstruction.type), { compatible: true });
    const newBytes = next.toBuffer({ ...credit, merchantId: 'm-1' });
    assert.deepStrictEqual(AVRO.CreditInstruction.decode(newBytes, next), credit);
  });
});

describe('recordedAtMs: when a step was decided', () => {
  const withoutRecordedAt = (contract: AvroContract<unknown>) => {
    const schema = JSON.parse(contract.schemaText) as { fields: { name: string }[] };
    return parseAvroSchema({
      ...schema,
      fields: schema.fields.filter((field) => field.name !== 'recordedAtMs'),
    });
  };
  const cases = [
    ['PaymentEvent', AVRO.PaymentEvent, samples.PaymentEvent[0]!],
    ['LedgerPosting', AVRO.LedgerPosting, samples.LedgerPosting[0]!],
  ] as const;

  for (const [name, contract, sample] of cases) {
    test(`a ${name} written before recordedAtMs existed still decodes, with recordedAtMs null and everything else intact`, () => {
      const old = withoutRecordedAt(contract);
      assert.deepEqual(backwardCompatibility(contract.type, old), { compatible: true });
      const { recordedAtMs, ...oldRecord } = sample;
      assert.notEqual(recordedAtMs, null);
      const decoded = contract.decode(old.toBuffer(oldRecord), old);
      assert.deepStrictEqual(decoded, { ...sample, recordedAtMs: null });
    });

    test(`a consumer still on the ${name} schema without recordedAtMs reads records that carry it`, () => {
      const old = withoutRecordedAt(contract);
      assert.deepEqual(backwardCompatibility(old, contract.type), { compatible: true });
      const oldView: Record<string, unknown> = { ...sample };
      delete oldView.recordedAtMs;
      const resolver = old.createResolver(contract.type);
      const read: unknown = old.fromBuffer(contract.encode(sample as never), resolver);
      // the same value: the old schema writes it to the same bytes as the record without the field
      assert.deepStrictEqual(old.toBuffer(read), old.toBuffer(oldView));
    });
  }

  test('recordedAtMs is a nullable timestamp-millis defaulting to null on PaymentEvent and LedgerPosting', () => {
    for (const contract of [AVRO.PaymentEvent, AVRO.LedgerPosting]) {
      const field = (
        JSON.parse(contract.schemaText) as { fields: { name: string; type: unknown; default?: unknown }[] }
      ).fields.find((f) => f.name === 'recordedAtMs');
      assert.deepEqual(
        field?.type,
        ['null', { type: 'long', logicalType: 'timestamp-millis' }],
        contract.name,
      );
      assert.equal(field?.default, null, contract.name);
    }
  });
});

describe('PaymentCommand.authority', () => {
  test('a PaymentCommand written before authority existed still decodes, with authority null and everything else intact', () => {
    const schema = JSON.parse(AVRO.PaymentCommand.schemaText) as { fields: { name: string }[] };
    const old = parseAvroSchema({
      ...schema,
      fields: schema.fields.filter((field) => field.name !== 'authority'),
    });
    assert.deepEqual(backwardCompatibility(AVRO.PaymentCommand.type, old), { compatible: true });
    const { authority, ...oldRecord } = command;
    assert.notEqual(authority, null);
    assert.deepStrictEqual(AVRO.PaymentCommand.decode(old.toBuffer(oldRecord), old), {
      ...command,
      authority: null,
    });
  });
});
