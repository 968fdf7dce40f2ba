/**
 * The currencies PayFlow moves money in, with their ISO 4217 minor unit exponent: an amount of
 * 1 in minor units is 10^-exponent of the major unit (1 EUR cent, 1 JPY, 0.001 KWD).
 * A payment in any other currency is rejected with UNSUPPORTED_CURRENCY. The list itself is
 * schemas/currencies.ts, the one the gateway validates with.
 */
export {
  isSupportedCurrency,
  SUPPORTED_CURRENCIES,
  SUPPORTED_MINOR_UNITS as MINOR_UNIT_EXPONENTS,
  type SupportedCurrency,
} from '../../schemas/currencies.js';
import {
  SUPPORTED_MINOR_UNITS as MINOR_UNIT_EXPONENTS,
  type SupportedCurrency,
} from '../../schemas/currencies.js';

/** The finest minor unit of the table (3: thousandths, for KWD and BHD). */
export const FINEST_EXPONENT = Math.max(...Object.values(MINOR_UNIT_EXPONENTS));

/** The largest Avro `long`. */
export const LONG_MAX = 2n ** 63n - 1n;

/**
 * The amount expressed in the finest minor unit of the table: 1 JPY is 1000, 1 EUR cent is 10,
 * 0.001 KWD is 1. Amounts of every currency are comparable and summable at this scale.
 */
export function atFinestScale(amountMinor: bigint, currency: SupportedCurrency): bigint {
  return amountMinor * 10n ** BigInt(FINEST_EXPONENT - MINOR_UNIT_EXPONENTS[currency]);
}

/** The largest amount in minor units of `currency` that still fits a long at the finest scale. */
export function maxAmountMinor(currency: SupportedCurrency): bigint {
  return LONG_MAX / 10n ** BigInt(FINEST_EXPONENT - MINOR_UNIT_EXPONENTS[currency]);
}

/** `1250n, 'EUR'` -> `12.50 EUR`; `-5n, 'KWD'` -> `-0.005 KWD`; `7n, 'JPY'` -> `7 JPY`. */
export function formatAmount(amountMinor: bigint, currency: SupportedCurrency): string {
  const exponent = MINOR_UNIT_EXPONENTS[currency];
  const sign = amountMinor < 0n ? '-' : '';
  const digits = (amountMinor < 0n ? -amountMinor : amountMinor).toString().padStart(exponent + 1, '0');
  const major = digits.slice(0, digits.length - exponent);
  const minor = digits.slice(digits.length - exponent);
  return `${sign}${exponent === 0 ? major : `${major}.${minor}`} ${currency}`;
}
