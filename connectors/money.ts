/**
 * Exact conversions between PayFlow's amounts (bigint minor units) and the formats partners put
 * on the wire: a decimal string of major units (`"123.45"`) or a JSON number literal of major
 * units (`123.45`). No float ever holds an amount: JSON numbers are written with `JSON.rawJSON`
 * and read from their source text (`parseJsonExact`), so `0.1 + 0.2` never happens to money.
 */
import { ISO_4217_MINOR_UNITS } from '../schemas/currencies.js';

/** The minor unit exponent of an ISO 4217 code, or undefined for a code outside List One. */
export function exponentOf(currency: string): number | undefined {
  return Object.hasOwn(ISO_4217_MINOR_UNITS, currency) ? ISO_4217_MINOR_UNITS[currency] : undefined;
}

/** `12345n, 2` → `"123.45"`; `5n, 2` → `"0.05"`; `7n, 0` → `"7"`. Negative amounts are a programmer error. */
export function minorToDecimal(amountMinor: bigint, exponent: number): string {
  if (amountMinor < 0n) throw new RangeError(`a partner amount is never negative (got ${amountMinor})`);
  if (exponent === 0) return amountMinor.toString();
  const digits = amountMinor.toString().padStart(exponent + 1, '0');
  return `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}

const DECIMAL = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/;

/**
 * The minor units of a plain decimal of major units, or undefined when the text is not one
 * (sign, exponent notation, leading zeros) or has more fraction digits than the currency has.
 * `exact: true` also requires exactly `exponent` fraction digits (Bank B's format).
 */
export function decimalToMinor(text: string, exponent: number, exact = false): bigint | undefined {
  const match = DECIMAL.exec(text);
  if (match === null) return undefined;
  const fraction = match[2] ?? '';
  if (fraction.length > exponent) return undefined;
  if (exact && fraction.length !== exponent) return undefined;
  if (exponent === 0 && match[2] !== undefined) return undefined;
  return BigInt(match[1]! + fraction.padEnd(exponent, '0'));
}

/** A JSON number kept as its source text, so no precision is lost on the way in. */
export class JsonNumber {
  constructor(readonly source: string) {}
}

type Reviver = (this: unknown, key: string, value: unknown, context: { source?: string }) => unknown;

/** JSON.parse where every number becomes a JsonNumber holding its exact source text. */
export function parseJsonExact(text: string): unknown {
  const reviver: Reviver = (_key, value, context) =>
    typeof value === 'number' ? new JsonNumber(context.source ?? String(value)) : value;
  return JSON.parse(text, reviver as Parameters<typeof JSON.parse>[1]);
}

interface JsonWithRaw {
  rawJSON(text: string): unknown;
}

/** A value JSON.stringify writes as the given number literal, verbatim. */
export function rawJsonNumber(literal: string): unknown {
  if (!/^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/.test(literal)) throw new RangeError(`not a JSON number: ${literal}`);
  return (JSON as unknown as JsonWithRaw).rawJSON(literal);
}
