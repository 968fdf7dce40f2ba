/**
 * One table of IBANs that every side applying the IBAN rule is tested with (schemas, gateway,
 * validator), so they cannot drift apart. `problem` matches the phrase `ibanProblem` answers.
 */
export interface IbanCase {
  readonly what: string;
  readonly iban: string;
  /** undefined: the IBAN is valid. */
  readonly problem: RegExp | undefined;
}

export const IBAN_TEST_TABLE: readonly IbanCase[] = [
  { what: 'a valid German IBAN', iban: 'DE89370400440532013000', problem: undefined },
  { what: 'a valid Saudi IBAN', iban: 'SA0380000000608010167519', problem: undefined },
  {
    what: 'a valid British IBAN with letters in its BBAN',
    iban: 'GB82WEST12345698765432',
    problem: undefined,
  },
  { what: 'a bad checksum', iban: 'DE89370400440532013001', problem: /mod-97/ },
  { what: 'an unknown country ZZ', iban: 'ZZ65123456789012', problem: /country that issues IBANs/ },
  // German IBANs are 22 characters, this one is 20 (its check digits are computed for its BBAN)
  { what: 'a wrong length for its country', iban: 'DE863704004405320130', problem: /registered length/ },
  { what: 'lower case', iban: 'de89370400440532013000', problem: /./ },
  { what: 'spaces', iban: 'DE89 3704 0044 0532 0130 00', problem: /./ },
];
