import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';

import { keyIdOf, open, parsePiiKeyRing, PiiSealError, seal } from './pii.js';

const key = () => randomBytes(32).toString('base64');
const k1 = key();
const k2 = key();
const ringText = (active: string, keys: Record<string, string>) => JSON.stringify({ active, keys });
const IBAN = 'SA0380000000608010167519';

test('a sealed IBAN opens to itself and shows neither the IBAN nor its last digits', () => {
  const ring = parsePiiKeyRing(ringText('k1', { k1 }));
  const sealed = seal(IBAN, 'iban', ring, 'acc-1');
  assert.match(sealed, /^pii:v1:k1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+$/);
  assert.ok(!sealed.includes('7519'));
  assert.equal(open(sealed, 'iban', ring, 'acc-1'), IBAN);
  assert.notEqual(seal(IBAN, 'iban', ring, 'acc-1'), sealed, 'a fresh IV each time');
});

test('after rotation new values use the new key and values sealed with the retired key still open', () => {
  const before = parsePiiKeyRing(ringText('k1', { k1 }));
  const old = seal(IBAN, 'iban', before, 'acc-1');
  const after = parsePiiKeyRing(ringText('k2', { k1, k2 }));
  assert.equal(open(old, 'iban', after, 'acc-1'), IBAN);
  const fresh = seal(IBAN, 'iban', after, 'acc-1');
  assert.equal(keyIdOf(fresh), 'k2');
  assert.equal(keyIdOf(old), 'k1');
});

test('a value sealed with a key id the ring does not hold fails naming the key id', () => {
  const sealed = seal(IBAN, 'iban', parsePiiKeyRing(ringText('k9', { k9: k1 })), 'acc-1');
  assert.throws(
    () => open(sealed, 'iban', parsePiiKeyRing(ringText('k2', { k2 })), 'acc-1'),
    (error: unknown) =>
      error instanceof PiiSealError && /key k9, which is not in the key ring/.test(error.message),
  );
});

test("a value does not open as another field, as another record's, nor after its key id or data was edited", () => {
  const ring = parsePiiKeyRing(ringText('k1', { k1, k2: k1 }));
  const sealed = seal('Jane Doe', 'name', ring, 'acc-1');
  assert.throws(() => open(sealed, 'iban', ring, 'acc-1'), PiiSealError);
  assert.throws(() => open(sealed.replace(':k1:', ':k2:'), 'name', ring, 'acc-1'), PiiSealError);
  const last = sealed.at(-2) === 'A' ? 'B' : 'A';
  assert.throws(
    () => open(`${sealed.slice(0, -2)}${last}${sealed.at(-1)}`, 'name', ring, 'acc-1'),
    PiiSealError,
  );
  assert.throws(() => open('SA****7519', 'iban', ring, 'acc-1'), /not a sealed value/);
  assert.throws(() => open(sealed, 'name', ring, 'acc-2'), /another field's or record's value/);
});

test('a bad key ring is refused with a message that names the problem and holds no key', () => {
  assert.throws(() => parsePiiKeyRing('nope'), /not JSON/);
  assert.throws(() => parsePiiKeyRing(ringText('k2', { k1 })), /active key id must be one of keys/);
  const short = Buffer.alloc(16).toString('base64');
  assert.throws(
    () => parsePiiKeyRing(ringText('k1', { k1: short })),
    (error: unknown) =>
      error instanceof Error &&
      /keys\.k1 must be 32 bytes/.test(error.message) &&
      !error.message.includes(short),
  );
  // A key written where its id goes (id and key swapped) is never repeated in the message.
  const swapped = JSON.stringify({ active: 'k1', keys: { [k1]: 'k1' } });
  assert.throws(
    () => parsePiiKeyRing(swapped),
    (error: unknown) => error instanceof PiiSealError && !error.message.includes(k1.slice(0, 8)),
  );
  // Nothing skipped or guessed: a key with stray characters is refused, not decoded to another key.
  assert.throws(() => parsePiiKeyRing(ringText('k1', { k1: `!!${k1}` })), /must be 32 bytes/);
});
