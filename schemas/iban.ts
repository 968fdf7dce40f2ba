/**
 * The one IBAN rule of PayFlow, shared by the gateway (which refuses an account with an IBAN that
 * breaks it) and the validator (which rejects a payment touching such an account). ISO 13616 via
 * ibantools: electronic format (upper case, no spaces), a country that issues IBANs, that
 * country's length and BBAN format, and mod-97 check digits.
 */
import { validateIBAN, ValidationErrorsIBAN } from 'ibantools';

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
