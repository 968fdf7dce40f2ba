/**
 * The opaque cursors of paged lists: a position (a time in epoch ms and a payment id, the
 * list's order) as base64url JSON. A cursor this API did not give out is a 400 naming `/cursor`.
 */
import { invalidField } from './errors.js';

/** The range of a JavaScript Date; a position outside it was never given out. */
const MAX_TIME_MS = 8.64e15;
/** Payment ids are printable ASCII without spaces (UUIDs from the gateway): nothing a store refuses. */
const PAYMENT_ID = /^[\x21-\x7e]{1,128}$/;

export interface PagePosition {
  readonly atMs: number;
  readonly paymentId: string;
}

export function encodePageCursor(position: PagePosition): string {
  return Buffer.from(JSON.stringify([position.atMs, position.paymentId])).toString('base64url');
}

export function decodePageCursor(text: string): PagePosition {
  try {
    const value: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      Number.isSafeInteger(value[0]) &&
      Math.abs(value[0] as number) <= MAX_TIME_MS &&
      typeof value[1] === 'string' &&
      PAYMENT_ID.test(value[1])
    )
      return { atMs: value[0] as number, paymentId: value[1] };
  } catch {
    // falls through to the 400
  }
  throw invalidField('/cursor', 'is not a cursor this API gave out');
}
