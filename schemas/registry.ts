/**
 * The contracts in the schema registry (Confluent-compatible API; locally Apicurio's
 * `/apis/ccompat/v7`). Every topic's value schema is registered under the subject
 * `<topic>-value` with BACKWARD compatibility: a new schema must read everything written with
 * the previous one, so consumers can upgrade before producers.
 *
 * Records on Kafka use the Confluent wire format: byte 0 (magic), the schema id as a 4-byte
 * big-endian integer, then the Avro binary body.
 */
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';

import { RetriableError, UndecodableError, type Serde } from './serde.js';
import { parseAvroSchema, type AvroContract } from './avro.js';

export const DEFAULT_REGISTRY_TIMEOUT_MS = 10_000;
const MAGIC_BYTE = 0;
const WIRE_HEADER_BYTES = 5;
const REGISTRY_CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export interface RegistryOptions {
  /** Bound on every HTTP call to the registry. */
  readonly timeoutMs?: number;
}

/** A topic whose values have a registered schema (the catalogue's topics satisfy this). */
export interface SchemaSubjectSource {
  readonly name: string;
  readonly value:
    | { readonly kind: 'avro'; readonly contract: Pick<AvroContract<unknown>, 'name' | 'schemaText'> }
    | { readonly kind: 'raw' };
}

export interface SchemaRegistration {
  readonly topic: string;
  readonly subject: string;
  readonly id: number;
}

export class SchemaRegistryError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SchemaRegistryError';
  }
}

/** The subject of a topic's value schema (Confluent TopicNameStrategy). */
export function valueSubject(topic: string): string {
  return `${topic}-value`;
}

type Middleware = NonNullable<ConstructorParameters<typeof SchemaRegistry>[0]['middlewares']>[number];

function timeoutMiddleware(timeoutMs: number): Middleware {
  return () => ({
    async prepareRequest(next) {
      const request = await next();
      return request.timeout() ? request : request.enhance({ timeout: timeoutMs });
    },
  });
}

/** A registry client whose every HTTP call is bounded by `timeoutMs`. */
export function createSchemaRegistry(registryUrl: string, options: RegistryOptions = {}): SchemaRegistry {
  return new SchemaRegistry({
    host: registryUrl,
    clientId: 'payflow',
    middlewares: [timeoutMiddleware(options.timeoutMs ?? DEFAULT_REGISTRY_TIMEOUT_MS)],
  });
}

async function registryRequest(url: string, init: RequestInit, timeoutMs: number): Promise<unknown> {
  const response = await fetch(url, {
    ...init,
    headers: { accept: REGISTRY_CONTENT_TYPE, 'content-type': REGISTRY_CONTENT_TYPE },
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  if (!response.ok)
    throw new SchemaRegistryError(`${init.method ?? 'GET'} ${url} answered ${response.status}: ${text}`);
  return JSON.parse(text) as unknown;
}

/** Sets a subject's compatibility rule and reads it back, so a registry that ignores it is caught. */
export async function setBackwardCompatibility(
  registryUrl: string,
  subject: string,
  options: RegistryOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_REGISTRY_TIMEOUT_MS;
  const url = `${registryUrl.replace(/\/+$/, '')}/config/${encodeURIComponent(subject)}`;
  await registryRequest(
    url,
    { method: 'PUT', body: JSON.stringify({ compatibility: COMPATIBILITY.BACKWARD }) },
    timeoutMs,
  );
  const config = (await registryRequest(url, { method: 'GET' }, timeoutMs)) as {
    compatibilityLevel?: unknown;
  };
  if (config.compatibilityLevel !== COMPATIBILITY.BACKWARD) {
    throw new SchemaRegistryError(
      `the registry did not keep BACKWARD compatibility for ${subject} (it reports ${String(config.compatibilityLevel)})`,
    );
  }
}

/**
 * Registers every Avro topic's value schema under `<topic>-value` with BACKWARD compatibility.
 * Idempotent: an already registered schema keeps its id. A schema the registry refuses (an
 * incompatible change) fails with the subject named.
 */
export async function registerSchemas(
  registryUrl: string,
  catalogue: readonly SchemaSubjectSource[],
  options: RegistryOptions = {},
): Promise<readonly SchemaRegistration[]> {
  const registry = createSchemaRegistry(registryUrl, options);
  const registrations: SchemaRegistration[] = [];
  for (const topic of catalogue) {
    if (topic.value.kind !== 'avro') continue;
    const subject = valueSubject(topic.name);
    await setBackwardCompatibility(registryUrl, subject, options);
    try {
      const { id } = await registry.register(
        { type: SchemaType.AVRO, schema: topic.value.contract.schemaText },
        { subject, compatibility: COMPATIBILITY.BACKWARD, updateConfig: false },
      );
      registrations.push({ topic: topic.name, subject, id });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new SchemaRegistryError(
        `registering ${topic.value.contract.name} under ${subject} failed: ${reason}`,
        { cause: error },
      );
    }
  }
  return registrations;
}

/**
 * Whether a registry call failed because the registry answered that the schema does not exist
 * (HTTP 404), rather than because it could not be reached or could not serve (no answer, a
 * timeout, 5xx, 429).
 */
function isNotFound(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  // getRegistryIdBySchema wraps the registry's 404 in the library's base error class, without
  // the status; its other failures come through unwrapped.
  const is404 =
    (error as { status?: unknown }).status === 404 ||
    error.constructor.name === 'ConfluentSchemaRegistryError';
  // The registry's own answer names the subject or schema (40401, 40403); a 404 from a proxy in
  // front of it, or a wrong URL path, does not, and is waited out like any unreachable registry.
  return is404 && /\b(subject|schema)\b.*not found|\b4040[13]\b/i.test(error.message);
}

/**
 * A Serde in the Confluent wire format. It writes with the id the registry holds for this
 * contract's schema under `subject` (looked up once, the schema must be registered), and reads
 * records written with any schema id, resolving the writer schema to this contract's.
 *
 * Its failures say whose they are, as the runtime's failure classes need: bytes that are not in
 * the wire format, name a schema id the registry does not have, or don't decode with it are bad
 * data (UndecodableError, dead-lettered UNDECODABLE); a registry that can't be reached or can't serve is
 * infrastructure (RetriableError), so the record is retried and never dead-lettered.
 */
export function registryAvroSerde<V>(
  registry: SchemaRegistry,
  subject: string,
  contract: AvroContract<V>,
): Serde<V> {
  let writeId: Promise<number> | undefined;
  const writers = new Map<number, Promise<avro.Type>>();

  const idToWrite = (): Promise<number> => {
    writeId ??= registry
      .getRegistryIdBySchema(subject, { type: SchemaType.AVRO, schema: contract.schemaText })
      .catch((error: unknown) => {
        writeId = undefined;
        if (!isNotFound(error)) {
          throw new RetriableError(`the schema registry did not give the id of ${contract.name}`, {
            cause: error,
          });
        }
        throw new SchemaRegistryError(`${contract.name} is not registered under ${subject}`, {
          cause: error,
        });
      });
    return writeId;
  };

  const writerType = (id: number): Promise<avro.Type> => {
    let writer = writers.get(id);
    if (writer === undefined) {
      writer = registry.getSchema(id).then(
        (schema: unknown) => {
          if (!avro.Type.isType(schema)) throw new UndecodableError(`schema id ${id} is not an Avro schema`);
          return parseAvroSchema((schema as avro.Type).schema({ exportAttrs: true }));
        },
        (error: unknown) => {
          if (isNotFound(error))
            throw new UndecodableError(`schema id ${id} is not in the registry`, {
              cause: error,
            });
          throw new RetriableError(`the schema registry did not give schema id ${id}`, { cause: error });
        },
      );
      void writer.catch(() => writers.delete(id));
      writers.set(id, writer);
    }
    return writer;
  };

  return {
    async serialize(value) {
      const body = contract.encode(value);
      const header = Buffer.alloc(WIRE_HEADER_BYTES);
      header.writeUInt8(MAGIC_BYTE, 0);
      header.writeInt32BE(await idToWrite(), 1);
      return Buffer.concat([header, body]);
    },
    async deserialize(bytes, topic) {
      if (bytes.length < WIRE_HEADER_BYTES || bytes.readUInt8(0) !== MAGIC_BYTE) {
        throw new UndecodableError(
          `a record on ${topic} is not in the Confluent wire format (magic byte 0 + schema id)`,
        );
      }
      const writer = await writerType(bytes.readInt32BE(1));
      try {
        return contract.decode(bytes.subarray(WIRE_HEADER_BYTES), writer);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        throw new UndecodableError(`a record on ${topic} does not decode: ${message}`, {
          cause: error,
        });
      }
    },
  };
}
