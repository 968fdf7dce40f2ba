/**
 * JSON with exact integers: bigint values are written as `{"$bigint":"<digits>"}` and read back
 * as bigint, so amounts in state stores and test topics never pass through a float.
 */
import type { Serde } from './api.js';

const TAG = '$bigint';

export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? { [TAG]: v.toString() } : v));
}

export function fromJson<V>(text: string): V {
  // The reviver costs several times the parse: skip it when no key can be the tag (none spells
  // "bigint", none has an escape that could).
  if (!text.includes('bigint') && !text.includes('\\u')) return JSON.parse(text) as V;
  return JSON.parse(text, (_key, v: unknown) => {
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const keys = Object.keys(v);
      const tagged = (v as Record<string, unknown>)[TAG];
      if (keys.length === 1 && typeof tagged === 'string') return BigInt(tagged);
    }
    return v;
  }) as V;
}

export function jsonSerde<V>(): Serde<V> {
  return {
    serialize: (value) => Buffer.from(toJson(value)),
    deserialize: (bytes) => fromJson<V>(bytes.toString('utf8')),
  };
}
