/**
 * Checks that JSON Schema can't express compactly. They run in the handler after schema
 * validation and answer 400 naming the field, like the schema checks do.
 */
import { isIP } from 'node:net';
import { invalidField } from './errors.js';
import { ibanProblem } from '../schemas/iban.js';

export function assertIpAddress(field: string, address: string): void {
  if (isIP(address) === 0) throw invalidField(field, 'must be an IPv4 or IPv6 address');
}

/** The validator's own IBAN rule: an account the gateway opens never fails INVALID_IBAN later. */
export function assertIban(field: string, iban: string): void {
  const problem = ibanProblem(iban);
  if (problem !== undefined) throw invalidField(field, `the IBAN ${problem}`);
}
