/**
 * Sealing of personal data (IBANs, names): AES-256-GCM with a key id in every sealed value, so a
 * value sealed under a retired key still opens after the active key changed (rotation never
 * rewrites old records or rows). The sealed format is part of the contract: it travels on
 * `accounts.commands` and `accounts` and rests in PostgreSQL.
 *
 *     pii:v1:<keyId>:<base64url 96-bit IV>:<base64url ciphertext + 128-bit tag>
 *
 * The additional authenticated data is `pii:v1:<keyId>:<purpose>:<owner>`: a value sealed as one
 * field (`iban`) does not open as another (`name`), a value copied into another record (another
 * account id) does not open there, and a key id edited in the value fails the tag.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { z } from 'zod';

const VERSION = 'pii:v1';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SEALED = /^pii:v1:([A-Za-z0-9_-]{1,64}):([A-Za-z0-9_-]+):([A-Za-z0-9_-]+)$/;

/** What a sealed value is: the label bound into its authentication tag. */
export type PiiPurpose = 'iban' | 'name';

/** The active key (new values) and every retired key still needed to open old values. */
export interface PiiKeyRing {
  readonly activeKeyId: string;
  readonly keys: ReadonlyMap<string, Buffer>;
}

/** A sealed value that cannot be opened: unknown key id, wrong format, or a failed tag. */
export class PiiSealError extends Error {
  override readonly name = 'PiiSealError';
}

/** Exactly 32 bytes in standard base64: 43 characters and one `=`; nothing skipped or guessed. */
const BASE64_KEY = /^[A-Za-z0-9+/]{43}=$/;
const base64Key = z.string().refine((text) => BASE64_KEY.test(text), 'must be 32 bytes in base64');

/** `{"active": "k2", "keys": {"k1": "<base64 32 bytes>", "k2": "..."}}`: the configured form. */
export const PII_KEY_RING_JSON = z
  .object({
    active: z.string().regex(KEY_ID, 'must be a key id (letters, digits, - and _)'),
    keys: z.record(z.string().regex(KEY_ID, 'must be a key id (letters, digits, - and _)'), base64Key),
  })
  .strict()
  .refine((ring) => ring.keys[ring.active] !== undefined, 'the active key id must be one of keys');

/** Parses the configured JSON text into a key ring; throws a message that never holds a key. */
export function parsePiiKeyRing(text: string): PiiKeyRing {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new PiiSealError('is not JSON of the form {"active": id, "keys": {id: base64 key}}');
  }
  const parsed = PII_KEY_RING_JSON.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // A path segment that is not a valid key id may be a key written where an id goes: never shown.
    const segments = (issue?.path ?? []).map((segment) =>
      typeof segment === 'string' && !KEY_ID.test(segment) && segment !== 'keys' && segment !== 'active'
        ? '<not a key id>'
        : String(segment),
    );
    const where = segments.length === 0 ? '' : `${segments.join('.')} `;
    throw new PiiSealError(`${where}${issue?.message ?? 'is not a key ring'}`);
  }
  const keys = new Map(Object.entries(parsed.data.keys).map(([id, key]) => [id, Buffer.from(key, 'base64')]));
  return { activeKeyId: parsed.data.active, keys };
}

/** A one-key ring with a random key: for the in-memory mode only, where nothing outlives the process. */
export function ephemeralPiiKeyRing(): PiiKeyRing {
  const activeKeyId = `ephemeral-${randomBytes(4).toString('hex')}`;
  return { activeKeyId, keys: new Map([[activeKeyId, randomBytes(KEY_BYTES)]]) };
}

/** The authenticated data: the format, the key id, the field and the record it belongs to. */
const aadOf = (keyId: string, purpose: PiiPurpose, owner: string) =>
  Buffer.from(`${VERSION}:${keyId}:${purpose}:${owner}`);

/**
 * Seals `plaintext` under the ring's active key with a fresh random IV, bound to `owner` (the
 * record it belongs to, such as the account id): copied into another record, it does not open.
 */
export function seal(plaintext: string, purpose: PiiPurpose, ring: PiiKeyRing, owner: string): string {
  const key = ring.keys.get(ring.activeKeyId);
  if (key === undefined) throw new PiiSealError(`the active key ${ring.activeKeyId} is not in the key ring`);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aadOf(ring.activeKeyId, purpose, owner));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${VERSION}:${ring.activeKeyId}:${iv.toString('base64url')}:${body.toString('base64url')}`;
}

/** The key id a sealed value was sealed under (what a rotation job selects old rows by). */
export function keyIdOf(sealed: string): string {
  const match = SEALED.exec(sealed);
  if (match?.[1] === undefined) throw new PiiSealError('is not a sealed value (pii:v1:<keyId>:<iv>:<data>)');
  return match[1];
}

/** Whether `text` has the sealed format (it says nothing of whether it opens). */
export const isSealed = (text: string): boolean => SEALED.test(text);

/** Opens a sealed value of `owner` with the key its key id names, active or retired. */
export function open(sealed: string, purpose: PiiPurpose, ring: PiiKeyRing, owner: string): string {
  const match = SEALED.exec(sealed);
  const [, keyId, ivText, bodyText] = match ?? [];
  if (keyId === undefined || ivText === undefined || bodyText === undefined)
    throw new PiiSealError('is not a sealed value (pii:v1:<keyId>:<iv>:<data>)');
  const key = ring.keys.get(keyId);
  if (key === undefined) throw new PiiSealError(`was sealed with key ${keyId}, which is not in the key ring`);
  const iv = Buffer.from(ivText, 'base64url');
  const body = Buffer.from(bodyText, 'base64url');
  if (iv.length !== IV_BYTES || body.length < TAG_BYTES) throw new PiiSealError('has a truncated IV or tag');
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aadOf(keyId, purpose, owner));
  decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
  try {
    return Buffer.concat([
      decipher.update(body.subarray(0, body.length - TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    throw new PiiSealError(
      `does not open as ${purpose} with key ${keyId} (altered, or another field's or record's value)`,
    );
  }
}
