/**
 * Canonical JSON (RFC 8785 style: object keys sorted by code unit, no whitespace) and its
 * SHA-256. Two requests that differ only in key order or spacing get the same requestHash, so
 * an idempotent retry from a client that re-serializes its body still replays.
 */
import { hash } from 'node:crypto';

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const record = value as Record<string, unknown>;
  // The default sort orders strings by UTF-16 code unit, as RFC 8785 asks.
  const keys = Object.keys(record).sort();
  let json = '{';
  for (const key of keys) {
    const item = record[key];
    if (item === undefined) continue;
    json += `${json.length === 1 ? '' : ','}${JSON.stringify(key)}:${canonicalJson(item)}`;
  }
  return `${json}}`;
}

/** One-shot `crypto.hash`: no Hash object per request body. */
export function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}

export function requestHash(body: unknown): string {
  return sha256Hex(canonicalJson(body));
}
