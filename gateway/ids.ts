import { randomUUID } from 'node:crypto';

const MAX_UNIX_MS = 2 ** 48 - 1;

/**
 * UUID version 7 (RFC 9562): 48-bit Unix milliseconds then random bits. Payment ids sort by
 * creation time, which keeps database indexes and log searches local. The random bits are those
 * of a version 4 UUID (`randomUUID` draws them from a buffered CSPRNG pool, where `randomBytes`
 * would make a call into it per id): its first 48 bits and its version nibble are replaced, its
 * variant bits are already RFC 9562's.
 */
export function uuidv7(nowMs: number = Date.now()): string {
  if (!Number.isInteger(nowMs) || nowMs < 0 || nowMs > MAX_UNIX_MS)
    throw new RangeError(`uuidv7: ${nowMs} is not a 48-bit Unix millisecond time`);
  const time = nowMs.toString(16).padStart(12, '0');
  // randomUUID(): xxxxxxxx-xxxx-4xxx-Nxxx-xxxxxxxxxxxx; from index 15 on, its bits stay.
  return `${time.slice(0, 8)}-${time.slice(8)}-7${randomUUID().slice(15)}`;
}

const UUIDV7 = /^([0-9a-f]{8})-([0-9a-f]{4})-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** The Unix milliseconds a UUID version 7 was made at, or undefined for any other string. */
export function uuidv7TimeOf(id: string): number | undefined {
  const match = UUIDV7.exec(id);
  return match === null ? undefined : Number.parseInt(`${match[1]}${match[2]}`, 16);
}
