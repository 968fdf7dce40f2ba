/**
 * The request body parser: JSON as RFC 8259 says interoperable JSON is, refusing what parsers
 * disagree on. A duplicate key is refused (JSON.parse keeps the last, others the first, so a
 * proxy or a signing layer could see another request than the one executed), as are invalid
 * UTF-8, NUL characters and lone surrogates in any string (they break C-string consumers,
 * PostgreSQL `text` and UTF-8 encoders downstream), and the prototype-poisoning keys `__proto__`
 * and `constructor.prototype`. Every refusal names the offending JSON pointer.
 *
 * The text is parsed by the runtime's JSON.parse first (grammar errors are its), then scanned
 * once for keys, so the cost is one extra linear pass over at most the body limit.
 */

import { isUtf8 } from 'node:buffer';

/** A body that is valid JSON but not acceptable; `pointer` is where (RFC 6901), "" the body. */
export class JsonInputError extends Error {
  constructor(
    readonly kind: 'malformed' | 'invalid-string',
    readonly pointer: string,
    message: string,
  ) {
    super(message);
    this.name = 'JsonInputError';
  }
}

/** Decodes, parses and checks a body; throws SyntaxError for bad JSON, JsonInputError otherwise. */
export function parseStrictJson(bytes: Uint8Array): unknown {
  if (!isUtf8(bytes)) throw new JsonInputError('malformed', '', 'the body is not valid UTF-8');
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  const value: unknown = JSON.parse(text);
  checkText(text);
  return value;
}

function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** An object or array being scanned; pointers are built only when something is refused. */
interface Frame {
  readonly parent: Frame | undefined;
  /** The key (object) or index (array) under which this value sits in its parent. */
  readonly at: string | number | undefined;
  /** Keys seen so far; undefined for an array. */
  readonly keys: Set<string> | undefined;
  /** Object: the current member's key. Array: the current element's index. */
  current: string | number;
  expectKey: boolean;
}

function pointerOf(frame: Frame | undefined, last?: string | number): string {
  const parts: string[] = [];
  if (last !== undefined) parts.push(escapePointer(String(last)));
  for (let node = frame; node?.at !== undefined; node = node.parent)
    parts.push(escapePointer(String(node.at)));
  return parts.length === 0 ? '' : `/${parts.reverse().join('/')}`;
}

/** Index of the quote closing the string that opens at `start` (a valid JSON string). */
function stringEnd(text: string, start: number): number {
  let end = text.indexOf('"', start + 1);
  for (;;) {
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes += 1;
    if (backslashes % 2 === 0) return end;
    end = text.indexOf('"', end + 1);
  }
}

/** With the `u` flag a surrogate pair is one code point, so this matches only lone halves. */
const LONE_SURROGATE = /\p{Cs}/u;

function stringProblem(value: string): string | undefined {
  if (value.includes('\u0000')) return 'must not contain NUL characters';
  if (LONE_SURROGATE.test(value)) return 'must not contain lone surrogates (not valid Unicode)';
  return undefined;
}

/** Where the string being checked sits: a member's key, or the current value of `frame`. */
function pointerAt(frame: Frame | undefined, key: string | undefined): string {
  if (frame === undefined) return '';
  return pointerOf(frame, key ?? frame.current);
}

/**
 * NUL and lone surrogates. In text that was valid UTF-8 they can only be written as `\u`
 * escapes, so only a string holding one is decoded and checked.
 */
function checkEscapes(raw: string, value: string, frame: Frame | undefined, key?: string): void {
  if (!raw.includes('\\u')) return;
  const problem = stringProblem(value);
  if (problem !== undefined) throw new JsonInputError('invalid-string', pointerAt(frame, key), problem);
}

function checkValueString(raw: string, frame: Frame | undefined): void {
  if (raw.includes('\\u')) checkEscapes(raw, JSON.parse(`"${raw}"`) as string, frame);
}

/** A key with any escape is decoded, so `"a"` and `"\u0061"` are the same key. */
function checkKey(frame: Frame, keys: Set<string>, raw: string): void {
  let key = raw;
  if (raw.includes('\\')) {
    key = JSON.parse(`"${raw}"`) as string;
    checkEscapes(raw, key, frame, key);
  }
  if (keys.has(key)) throw new JsonInputError('malformed', pointerOf(frame, key), 'is given more than once');
  if (key === '__proto__' || (key === 'prototype' && frame.at === 'constructor'))
    throw new JsonInputError('malformed', pointerOf(frame, key), 'is a reserved key');
  keys.add(key);
  frame.current = key;
  frame.expectKey = false;
}

function openFrame(parent: Frame | undefined, isObject: boolean): Frame {
  return {
    parent,
    at: parent?.current,
    keys: isObject ? new Set() : undefined,
    current: isObject ? '' : 0,
    expectKey: isObject,
  };
}

/**
 * One pass over text that JSON.parse accepted: every object's keys are distinct and no string
 * or key holds NUL or a lone surrogate.
 */
function checkText(text: string): void {
  let top: Frame | undefined;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (code === 0x22 /* " */) {
      const end = stringEnd(text, index);
      const raw = text.slice(index + 1, end);
      const frame = top;
      if (frame?.keys !== undefined && frame.expectKey) checkKey(frame, frame.keys, raw);
      else checkValueString(raw, frame);
      index = end;
    } else if (code === 0x7b /* { */ || code === 0x5b /* [ */) {
      top = openFrame(top, code === 0x7b);
    } else if (code === 0x7d /* } */ || code === 0x5d /* ] */) {
      top = top?.parent;
    } else if (code === 0x2c /* , */ && top !== undefined) {
      if (top.keys !== undefined) top.expectKey = true;
      else top.current = (top.current as number) + 1;
    }
  }
}

/** A string from outside the body (a token claim, a header) that must be clean text. */
export function textProblem(value: string): string | undefined {
  return stringProblem(value);
}
