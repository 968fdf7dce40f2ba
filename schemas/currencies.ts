/**
 * Currencies: the one list every part of PayFlow judges a currency code by. The gateway's
 * schemas use `SUPPORTED_CURRENCIES` as the enum of every `currency` field (so /openapi.json says
 * exactly what is accepted), and the validate processor rejects any other code with
 * UNSUPPORTED_CURRENCY (a command injected past the gateway).
 *
 * `ISO_4217_MINOR_UNITS` is ISO 4217 List One as published by SIX (the maintenance agency),
 * amendments up to 179 (2025): the codes of currencies in circulation with their minor unit
 * exponent. Kept explicitly here rather than read from the runtime's ICU data, which also knows
 * withdrawn codes (HRK, replaced by EUR in 2023; ZWL; CUC) and differs between Node builds.
 * Left out on purpose: fund codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW), precious metals
 * (XAU, XAG, XPD, XPT), the SDR and other units of account (XDR, XSU, XUA, XBA–XBD), and the
 * codes reserved for testing and "no currency" (XTS, XXX): none is money a wallet holds.
 */

/** Code -> minor unit exponent (1 minor unit = 10^-exponent of the major unit). */
export const ISO_4217_MINOR_UNITS: Readonly<Record<string, number>> = Object.freeze({
  ...twoDigits(
    'AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD CAD ' +
      'CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ ' +
      'GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL ' +
      'MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR ' +
      'PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT ' +
      'TOP TRY TTD TWD TZS UAH USD UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG',
  ),
  ...withExponent(0, 'BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF'),
  ...withExponent(3, 'BHD IQD JOD KWD LYD OMR TND'),
});

function withExponent(exponent: number, codes: string): Record<string, number> {
  return Object.fromEntries(codes.split(' ').map((code) => [code, exponent]));
}

function twoDigits(codes: string): Record<string, number> {
  return withExponent(2, codes);
}

/**
 * The currencies PayFlow moves money in (each has funding and settlement accounts), with their
 * ISO 4217 exponents. A code outside this list is refused: 400 at the gateway, UNSUPPORTED_CURRENCY
 * in the pipeline.
 */
export const SUPPORTED_MINOR_UNITS = {
  EUR: 2,
  USD: 2,
  GBP: 2,
  CHF: 2,
  SAR: 2,
  AED: 2,
  JPY: 0,
  KWD: 3,
  BHD: 3,
  SEK: 2,
  NOK: 2,
  DKK: 2,
  PLN: 2,
} as const satisfies Readonly<Record<string, number>>;

export type SupportedCurrency = keyof typeof SUPPORTED_MINOR_UNITS;

export const SUPPORTED_CURRENCIES: readonly SupportedCurrency[] = Object.keys(
  SUPPORTED_MINOR_UNITS,
) as SupportedCurrency[];

export function isSupportedCurrency(code: string): code is SupportedCurrency {
  return Object.hasOwn(SUPPORTED_MINOR_UNITS, code);
}
