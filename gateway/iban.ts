/** IBAN helpers. Full IBANs are personal data: logs only ever see the masked form. */

/** Electronic format: country, check digits, 11–30 alphanumerics (ISO 13616). */
export const IBAN_PATTERN = '^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$';
const IBAN_REGEX = new RegExp(IBAN_PATTERN);

/** Keeps the country code and the last four characters: `SA0380000000608010167519` -> `SA****7519`. */
export function maskIban(iban: string): string {
  const compact = iban.replaceAll(' ', '');
  if (compact.length <= 6) return '****';
  return `${compact.slice(0, 2)}****${compact.slice(-4)}`;
}

/** Shape and ISO 7064 mod-97 check digits. */
export function isValidIban(iban: string): boolean {
  if (!IBAN_REGEX.test(iban)) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (const char of rearranged) {
    const digits = char >= 'A' ? String(char.charCodeAt(0) - 55) : char;
    for (const digit of digits) remainder = (remainder * 10 + Number(digit)) % 97;
  }
  return remainder === 1;
}
