/** IBAN helpers. Full IBANs are personal data: logs only ever see the masked form. */

/**
 * Electronic format: country, check digits, 11–30 alphanumerics (ISO 13616). The request schema
 * shows it in the OpenAPI document; the rule itself is `ibanProblem` (schemas/iban.ts), the one
 * the validator applies, and every IBAN it accepts has this shape.
 */
export const IBAN_PATTERN = '^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$';

/** The masked form (`SA****7519`), from the one place every component takes it. */
export { maskIban } from '../schemas/iban.js';
