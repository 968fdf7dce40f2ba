/**
 * The one IBAN rule of PayFlow, shared by the gateway (which refuses an account with an IBAN that
 * breaks it) and the validator (which rejects a payment touching such an account). ISO 13616 via
 * ibantools: electronic format (upper case, no spaces), a country that issues IBANs, that
 * country's length and BBAN format, and mod-97 check digits.
 */
import { isValidIBAN, validateIBAN, ValidationErrorsIBAN } from 'ibantools';

const IBAN_PROBLEMS: Readonly<Record<ValidationErrorsIBAN, string>> = {
  [ValidationErrorsIBAN.NoIBANProvided]: 'is empty',
  [ValidationErrorsIBAN.NoIBANCountry]: 'does not start with a country that issues IBANs',
  [ValidationErrorsIBAN.WrongBBANLength]: "does not have its country's registered length",
  [ValidationErrorsIBAN.WrongBBANFormat]: "does not match its country's registered format",
  [ValidationErrorsIBAN.ChecksumNotNumber]: 'has check digits that are not digits',
  [ValidationErrorsIBAN.WrongIBANChecksum]: 'fails the ISO 13616 mod-97 check',
  [ValidationErrorsIBAN.WrongAccountBankBranchChecksum]: "fails its country's national check digits",
  [ValidationErrorsIBAN.QRIBANNotAllowed]: 'is a QR-IBAN',
};

/**
 * Why an IBAN breaks the rule, as a phrase to follow "the IBAN" (`'fails the ISO 13616 mod-97
 * check'`), or undefined when it is valid. The IBAN itself never appears in the answer: it is
 * personal data, and rejections are published on public topics.
 */
export function ibanProblem(iban: string): string | undefined {
  const result = validateIBAN(iban);
  if (result.valid) return undefined;
  return result.errorCodes.map((code) => IBAN_PROBLEMS[code]).join(', and ') || 'is not a valid IBAN';
}

/**
 * The one masked form of an IBAN, for logs, public topics and read models: the country code and
 * the last four characters (`SA0380000000608010167519` -> `SA****7519`).
 */
export function maskIban(iban: string): string {
  const compact = iban.replaceAll(' ', '');
  if (compact.length <= 6) return '****';
  return `${compact.slice(0, 2)}****${compact.slice(-4)}`;
}

/**
 * A run that may hold an IBAN: two letters, two digits, then 11–30 characters, maybe grouped by
 * separators (spaces, no-break spaces, dots, dashes; up to two in a row). No word boundary is
 * asked for on either side: an IBAN glued to other text (`refSA03…`, a length byte of a binary
 * record before it, another IBAN after it) is still one.
 */
const IBAN_CANDIDATE = /[A-Za-z]{2}[0-9]{2}(?:[ .\u00a0-]{0,2}[A-Za-z0-9]){11,30}/g;
const SEPARATORS = /[ .\u00a0-]/g;

/** Where one IBAN sits in a text, and its electronic form (upper case, no separators). */
export interface IbanInText {
  readonly start: number;
  readonly end: number;
  readonly iban: string;
}

/**
 * Every valid IBAN written anywhere in `text` (free text such as a payment reference, a log, a
 * database dump, the bytes of a record): in electronic form or printed in groups
 * (`SA03 8000 0000 …`), in either case. At each place the longest valid IBAN wins (a country's
 * IBANs have one length, so there is at most one); a run that is not one is tried again from
 * its next character. A number that merely looks like an IBAN (bad check digits, unknown
 * country, wrong length) is not one and is left alone.
 */
export function findIbans(text: string): IbanInText[] {
  const found: IbanInText[] = [];
  const candidates = new RegExp(IBAN_CANDIDATE);
  for (let match = candidates.exec(text); match !== null; match = candidates.exec(text)) {
    const start = match.index;
    const iban = longestIbanAt(match[0]);
    if (iban === undefined) {
      // Not an IBAN from here: one may still start inside this run (`AB12 SA03 8000 …`).
      candidates.lastIndex = start + 1;
      continue;
    }
    found.push({ start, end: start + iban.length, iban: iban.electronic });
    candidates.lastIndex = start + iban.length;
  }
  return found;
}

function longestIbanAt(run: string): { length: number; electronic: string } | undefined {
  for (let length = run.length; length >= 15; length -= 1) {
    if (/[ .\u00a0-]/.test(run.charAt(length - 1))) continue;
    const electronic = run.slice(0, length).replace(SEPARATORS, '').toUpperCase();
    if (isValidIBAN(electronic)) return { length, electronic };
  }
  return undefined;
}

/** `text` with every IBAN in it masked (`SA****7519`); a text without one comes back as it was. */
export function maskIbansIn(text: string): string {
  const ibans = findIbans(text);
  if (ibans.length === 0) return text;
  let masked = '';
  let from = 0;
  for (const { start, end, iban } of ibans) {
    masked += text.slice(from, start) + maskIban(iban);
    from = end;
  }
  return masked + text.slice(from);
}
