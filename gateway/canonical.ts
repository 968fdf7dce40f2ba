/**
 * Canonical JSON (RFC 8785 style: object keys sorted by code unit, no whitespace) and its
 * SHA-256. Two requests that differ only in key order or spacing get the same requestHash, so
 * an idempotent retry from a client that re-serializes its body still replays.
 */
import { createHash } from 'node:crypto';

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function requestHash(body: unknown): string {
  return sha256Hex(canonicalJson(body));
}
