/**
 * The Avro contracts of PayFlow's records, loaded from the `.avsc` files beside this one.
 *
 * Mapping between Avro and the TypeScript types of `types.ts`:
 * - `long` is a `bigint` (the full signed 64-bit range, so amounts above 2^53 stay exact);
 * - `long` with logicalType `timestamp-millis` is a `number` of milliseconds since the epoch;
 * - `int` is a `number`; enums are their symbol as a string;
 * - `["null", T]` is `T | null`; records are plain objects, decoded as such (`PlainRecordType`).
 * `AccountCommand` is one flat Avro record whose `type` enum says which nullable fields are set;
 * here it becomes the TypeScript discriminated union (and back).
 *
 * For every contract, `decode(encode(x))` deep-equals `x`.
 */
import { readFileSync } from 'node:fs';

import avro from 'avsc';

import type { Serde } from './serde.js';
import type {
  Account,
  AccountCommand,
  AccountCommandOutcome,
  AccountStatus,
  CreditInstruction,
  CurrencyCode,
  KycTier,
  LedgerPosting,
  AccountBalance,
  DenyListEntry,
  DeviceProfile,
  DeviceSighting,
  PaymentCommand,
  PaymentEvent,
  PaymentInFlight,
  ReviewDecision,
} from './types.js';

export type AvroType = avro.Type;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const isInt64 = (value: unknown): value is bigint =>
  typeof value === 'bigint' && value >= INT64_MIN && value <= INT64_MAX;

/** Avro `long` as a JavaScript bigint, over the whole signed 64-bit range. */
const bigintLong = avro.types.LongType.__with({
  fromBuffer: (buffer: Buffer): bigint => buffer.readBigInt64LE(),
  toBuffer: (value: bigint): Buffer => {
    const buffer = Buffer.alloc(8);
    buffer.writeBigInt64LE(value);
    return buffer;
  },
  fromJSON: (value: unknown): bigint => BigInt(value as string | number),
  toJSON: (value: bigint): number => Number(value),
  isValid: isInt64,
  compare: (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0),
});

const TIMESTAMP_MILLIS = 'timestamp-millis';

function millisOf(value: bigint): number {
  const millis = Number(value);
  if (!Number.isSafeInteger(millis))
    throw new RangeError(`timestamp-millis ${value} is outside the safe integer range`);
  return millis;
}

/**
 * `long` + logicalType `timestamp-millis` as a number of milliseconds since the epoch. Its
 * underlying long is avsc's number long (safe integers only).
 */
class TimestampMillisType extends avro.types.LogicalType {
  protected override _fromValue(value: number): number {
    return value;
  }

  protected override _toValue(value: unknown): number | undefined {
    return typeof value === 'number' && Number.isSafeInteger(value) ? value : undefined;
  }

  /** Reads timestamps written as timestamp-millis or as a plain long. */
  protected override _resolve(writer: avro.Type): ((value: unknown) => unknown) | undefined {
    if (avro.Type.isType(writer, 'logical:timestamp-millis')) return (value) => value;
    if (avro.Type.isType(writer, 'long', 'abstract:long')) {
      return (value) => (typeof value === 'bigint' ? millisOf(value) : value);
    }
    return undefined;
  }
}

/**
 * A record decoded as a plain object. avsc builds each decoded record with
 * `new type.recordConstructor(...fieldValues)` (in its generated reader and in every resolver);
 * its own constructor makes an instance of a generated class, which the TS types are not. This
 * one returns an object literal instead (a constructor that returns an object gives that object
 * to `new`), with the same fields in the same order and the same defaults for fields a writer
 * lacks, so decoding allocates each record once and no copy is needed afterwards.
 */
class PlainRecordType extends avro.types.RecordType {
  /** Overrides avsc's `RecordType.prototype._createConstructor` (same generated-code approach). */
  _createConstructor(): unknown {
    const defaults: (() => unknown)[] = [];
    const values = this.fields.map((field, index) => {
      // avsc accepts only identifier-like field names ([A-Za-z_][A-Za-z0-9_]*), so they can be inlined.
      if (field.defaultValue() === undefined) return `${field.name}: v${index}`;
      defaults.push(() => field.defaultValue() as unknown);
      return `${field.name}: v${index} === undefined ? d${defaults.length - 1}() : v${index}`;
    });
    const parameters = this.fields.map((_, index) => `v${index}`).join(', ');
    const body = `return function plainRecord(${parameters}) { return { ${values.join(', ')} }; };`;
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated once per record type, as avsc does
    const factory = new Function(...defaults.map((_, index) => `d${index}`), body) as (
      ...d: (() => unknown)[]
    ) => unknown;
    return factory(...defaults);
  }
}

const isRecordSchema = (schema: object): boolean => (schema as { type?: unknown }).type === 'record';

/**
 * Every other `long` is a bigint: the name `long` through the registry, `{"type": "long"}`
 * through the hook. Inside the timestamp logical type the hook stands aside. Every record is a
 * plain object (`PlainRecordType`).
 */
function typeHook(schema: avro.Schema, options: avro.ForSchemaOptions): avro.Type | undefined {
  if (typeof schema !== 'object' || Array.isArray(schema)) return undefined;
  if (isRecordSchema(schema)) return new PlainRecordType(schema, options);
  const { type, logicalType } = schema as { type?: unknown; logicalType?: unknown };
  return type === 'long' && logicalType !== TIMESTAMP_MILLIS ? bigintLong : undefined;
}

/** Parsing options: fresh ones per call, since avsc records named types in `registry`. */
function avroOptions(): Partial<avro.ForSchemaOptions> {
  return {
    registry: { long: bigintLong },
    logicalTypes: { [TIMESTAMP_MILLIS]: TimestampMillisType },
    typeHook,
    wrapUnions: 'auto',
  };
}

/** Parses a self-contained Avro schema (e.g. a writer schema from the registry) with PayFlow's mapping. */
export function parseAvroSchema(schema: unknown): avro.Type {
  const parsed: unknown = typeof schema === 'string' ? JSON.parse(schema) : schema;
  return avro.Type.forSchema(parsed as avro.Schema, avroOptions());
}

export class AvroEncodeError extends Error {
  constructor(
    readonly typeName: string,
    readonly invalidPaths: readonly string[],
  ) {
    super(`value is not a valid ${typeName}: invalid at ${invalidPaths.join(', ') || '(root)'}`);
    this.name = 'AvroEncodeError';
  }
}

/** A record that decoded from Avro but breaks a rule the schema cannot express. */
export class AvroContractError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AvroContractError';
  }
}

/** A record type of the contract: its avsc type and the conversion to and from its TS type. */
export interface AvroContract<V> {
  /** Full Avro name, e.g. `io.payflow.PaymentCommand`. */
  readonly name: string;
  /** The `.avsc` file in schemas/ that defines it. */
  readonly file: string;
  /** The avsc type (bigint longs, millisecond timestamps). */
  readonly type: avro.Type;
  /** The self-contained schema (nested and shared types inlined), as registered. */
  readonly schemaText: string;
  encode(value: V): Buffer;
  /** Decodes bytes written with `writer` (default: this contract's own schema). */
  decode(bytes: Buffer, writer?: avro.Type): V;
}

/** The paths at which `record` breaks `type` (the slow path, only once a record is known invalid). */
function invalidPathsOf(type: avro.Type, record: unknown): string[] {
  const invalidPaths: string[] = [];
  type.isValid(record, { errorHook: (path: string[]) => invalidPaths.push(path.join('.')) });
  return invalidPaths;
}

/**
 * Encodes into one scratch buffer, then copies the bytes into a buffer of their size from Node's
 * buffer pool (`type.toBuffer` allocates a zero-filled buffer of its own for every record).
 */
const scratch = Buffer.allocUnsafeSlow(64 * 1024);

function encodeValid(type: avro.Type, record: unknown): Buffer {
  const length = type.encode(record, scratch, 0);
  if (length < 0) return type.toBuffer(record); // larger than the scratch buffer
  const bytes = Buffer.allocUnsafe(length);
  scratch.copy(bytes, 0, 0, length);
  return bytes;
}

function contract<V>(
  file: string,
  type: avro.Type,
  mapping: { toAvro(value: V): unknown; fromAvro(value: unknown): V },
): AvroContract<V> {
  const name = type.name ?? file;
  const resolvers = new WeakMap<avro.Type, avro.Resolver>();
  const resolverFor = (writer: avro.Type): avro.Resolver => {
    let resolver = resolvers.get(writer);
    if (resolver === undefined) {
      resolver = type.createResolver(writer);
      resolvers.set(writer, resolver);
    }
    return resolver;
  };
  return {
    name,
    file,
    type,
    schemaText: JSON.stringify(type.schema({ exportAttrs: true })),
    encode(value) {
      const record = mapping.toAvro(value);
      if (!type.isValid(record)) throw new AvroEncodeError(name, invalidPathsOf(type, record));
      return encodeValid(type, record);
    },
    decode(bytes, writer) {
      const decoded: unknown =
        writer === undefined || writer === type
          ? type.fromBuffer(bytes)
          : type.fromBuffer(bytes, resolverFor(writer));
      return mapping.fromAvro(decoded);
    },
  };
}

/**
 * The optional masked and sealed IBAN fields as the TypeScript side has them: absent when null
 * (an account without an IBAN, or a record of before sealing), so such values read as before.
 */
function sealedIbanFields(ibanMasked: string | null, ibanSealed: string | null) {
  return {
    ...(ibanMasked === null ? {} : { ibanMasked }),
    ...(ibanSealed === null ? {} : { ibanSealed }),
  };
}

/** `AccountCommand` as the flat Avro record. */
interface AccountCommandRecord {
  readonly type: AccountCommand['type'];
  readonly commandId: string;
  readonly accountId: string;
  readonly ownerId: string | null;
  readonly currency: CurrencyCode | null;
  readonly kycTier: KycTier | null;
  readonly iban: string | null;
  readonly ibanMasked: string | null;
  readonly ibanSealed: string | null;
  readonly status: AccountStatus | null;
  readonly issuedAtMs: number;
}

const accountCommandMapping = {
  toAvro(command: AccountCommand): AccountCommandRecord {
    const { type, commandId, accountId, issuedAtMs } = command;
    return command.type === 'OPEN'
      ? {
          type,
          commandId,
          accountId,
          ownerId: command.ownerId,
          currency: command.currency,
          kycTier: command.kycTier,
          iban: command.iban,
          ibanMasked: command.ibanMasked ?? null,
          ibanSealed: command.ibanSealed ?? null,
          status: null,
          issuedAtMs,
        }
      : {
          type,
          commandId,
          accountId,
          ownerId: null,
          currency: null,
          kycTier: null,
          iban: null,
          ibanMasked: null,
          ibanSealed: null,
          status: command.status,
          issuedAtMs,
        };
  },
  fromAvro(value: unknown): AccountCommand {
    const record = value as AccountCommandRecord;
    const { type, commandId, accountId, issuedAtMs } = record;
    if (type === 'OPEN') {
      const { ownerId, currency, kycTier, iban, ibanMasked, ibanSealed } = record;
      if (ownerId === null || currency === null || kycTier === null) {
        throw new AvroContractError(`AccountCommand ${commandId}: OPEN needs ownerId, currency and kycTier`);
      }
      const ibans = { iban, ...sealedIbanFields(ibanMasked, ibanSealed) };
      return { type, commandId, accountId, ownerId, currency, kycTier, ...ibans, issuedAtMs };
    }
    if (record.status === null)
      throw new AvroContractError(`AccountCommand ${commandId}: CHANGE_STATUS needs status`);
    return { type, commandId, accountId, status: record.status, issuedAtMs };
  },
};

/** Loads every `.avsc` file in dependency order into one set of named types. */
function loadTypes(files: readonly string[]): ReadonlyMap<string, avro.Type> {
  const options = avroOptions();
  return new Map(
    files.map((file) => {
      const text = readFileSync(new URL(file, import.meta.url), 'utf8');
      return [file, avro.Type.forSchema(JSON.parse(text) as avro.Schema, options)] as const;
    }),
  );
}

/** Shared named types come first: the record schemas refer to them by full name. */
const TYPES = loadTypes([
  'PaymentKind.avsc',
  'KycTier.avsc',
  'AccountStatus.avsc',
  'PaymentCommand.avsc',
  'AccountCommand.avsc',
  'AccountCommandOutcome.avsc',
  'Account.avsc',
  'RiskAssessment.avsc',
  'VelocityCounts.avsc',
  'PaymentEvent.avsc',
  'PaymentInFlight.avsc',
  'CreditInstruction.avsc',
  'LedgerPosting.avsc',
  'AccountBalance.avsc',
  'ReviewDecision.avsc',
  'DenyListEntry.avsc',
  'DeviceSighting.avsc',
  'DeviceProfile.avsc',
]);

function typeOf(file: string): avro.Type {
  const type = TYPES.get(file);
  if (type === undefined) throw new Error(`schema file ${file} was not loaded`);
  return type;
}

const plainMapping = <V>() => ({
  toAvro: (value: V): unknown => value,
  fromAvro: (value: unknown): V => value as V,
});

/** Every record contract of PayFlow's topics. */
export const AVRO = {
  PaymentCommand: contract<PaymentCommand>(
    'PaymentCommand.avsc',
    typeOf('PaymentCommand.avsc'),
    plainMapping(),
  ),
  AccountCommand: contract<AccountCommand>(
    'AccountCommand.avsc',
    typeOf('AccountCommand.avsc'),
    accountCommandMapping,
  ),
  AccountCommandOutcome: contract<AccountCommandOutcome>(
    'AccountCommandOutcome.avsc',
    typeOf('AccountCommandOutcome.avsc'),
    plainMapping(),
  ),
  Account: contract<Account>('Account.avsc', typeOf('Account.avsc'), {
    // Records of before sealing, and values built without the sealed fields, carry null there.
    toAvro: (account: Account): unknown => ({
      ...account,
      ibanMasked: account.ibanMasked ?? null,
      ibanSealed: account.ibanSealed ?? null,
    }),
    fromAvro: (value: unknown): Account => {
      const { ibanMasked, ibanSealed, ...account } = value as Account;
      return { ...account, ...sealedIbanFields(ibanMasked ?? null, ibanSealed ?? null) };
    },
  }),
  PaymentEvent: contract<PaymentEvent>('PaymentEvent.avsc', typeOf('PaymentEvent.avsc'), plainMapping()),
  PaymentInFlight: contract<PaymentInFlight>(
    'PaymentInFlight.avsc',
    typeOf('PaymentInFlight.avsc'),
    plainMapping(),
  ),
  CreditInstruction: contract<CreditInstruction>(
    'CreditInstruction.avsc',
    typeOf('CreditInstruction.avsc'),
    plainMapping(),
  ),
  LedgerPosting: contract<LedgerPosting>('LedgerPosting.avsc', typeOf('LedgerPosting.avsc'), plainMapping()),
  AccountBalance: contract<AccountBalance>(
    'AccountBalance.avsc',
    typeOf('AccountBalance.avsc'),
    plainMapping(),
  ),
  ReviewDecision: contract<ReviewDecision>(
    'ReviewDecision.avsc',
    typeOf('ReviewDecision.avsc'),
    plainMapping(),
  ),
  DenyListEntry: contract<DenyListEntry>('DenyListEntry.avsc', typeOf('DenyListEntry.avsc'), plainMapping()),
  DeviceSighting: contract<DeviceSighting>(
    'DeviceSighting.avsc',
    typeOf('DeviceSighting.avsc'),
    plainMapping(),
  ),
  DeviceProfile: contract<DeviceProfile>('DeviceProfile.avsc', typeOf('DeviceProfile.avsc'), plainMapping()),
} as const;

/** The avsc type of each record, by its TypeScript name. */
export const AVRO_TYPES: { readonly [K in keyof typeof AVRO]: avro.Type } = Object.fromEntries(
  Object.entries(AVRO).map(([name, { type }]) => [name, type]),
) as { readonly [K in keyof typeof AVRO]: avro.Type };

/**
 * Whether a consumer using `reader` can read everything written with `writer` (Avro schema
 * resolution). A BACKWARD-compatible change keeps the previous schema readable by the new one.
 */
export function backwardCompatibility(
  reader: avro.Type,
  writer: avro.Type,
): { readonly compatible: true } | { readonly compatible: false; readonly reason: string } {
  try {
    reader.createResolver(writer);
    return { compatible: true };
  } catch (error) {
    return { compatible: false, reason: error instanceof Error ? error.message : String(error) };
  }
}

/** A Serde writing bare Avro binary (no registry, no header): the embedded in-memory mode's. */
export function plainAvroSerde<V>(avroContract: AvroContract<V>): Serde<V> {
  return {
    serialize: (value) => avroContract.encode(value),
    deserialize: (bytes) => avroContract.decode(bytes),
  };
}
