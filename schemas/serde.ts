/**
 * Turns a topic's values into bytes and back (Avro via the registry, bare Avro, or JSON).
 *
 * A serde's failures say whose they are, because the runtime treats them differently: bytes
 * that are not a record of the contract are the record's fault (any error but RetriableError,
 * e.g. UndecodableError: the record is dead-lettered UNDECODABLE); a dependency that can't be
 * reached or can't serve, such as the schema registry, is infrastructure (RetriableError: the
 * record is retried and never dead-lettered).
 */
export interface Serde<V> {
  serialize(value: V, topic: string): Buffer | Promise<Buffer>;
  deserialize(bytes: Buffer, topic: string): V | Promise<V>;
}

/**
 * An infrastructure failure (the registry, the broker or a store can't be reached): the runtime
 * retries the record with capped exponential backoff for as long as it takes and never
 * dead-letters it. The task retries in place first; after that the driver fails the task and
 * reads the uncommitted record again once it has restarted it (the Kafka driver's supervisor).
 * Thrown by serdes and processors alike.
 */
export class RetriableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RetriableError';
  }
}

/** Bytes that are not a record of the contract: the runtime dead-letters them UNDECODABLE. */
export class UndecodableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UndecodableError';
  }
}
