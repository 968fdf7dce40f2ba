/** Turns a topic's values into bytes and back (Avro via the registry, bare Avro, or JSON). */
export interface Serde<V> {
  serialize(value: V, topic: string): Buffer | Promise<Buffer>;
  deserialize(bytes: Buffer, topic: string): V | Promise<V>;
}
