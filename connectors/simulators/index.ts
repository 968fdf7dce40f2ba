/** The partner simulators: `startSimulator('bank-a')` in tests, `main.ts` from the command line. */
import { BANK_A } from './bank-a.js';
import { BANK_B } from './bank-b.js';
import type { Dialect, PartnerName } from './dialect.js';
import { PartnerSimulator, type SimulatorOptions } from './server.js';
import { WALLET } from './wallet.js';

export { PARTNER_NAMES, type Beneficiary, type Executed, type PartnerName } from './dialect.js';
export { FAULTS_SCHEMA, type Faults } from './faults.js';
export { PartnerSimulator, type SimulatorOptions } from './server.js';

export const DIALECTS: Readonly<Record<PartnerName, Dialect>> = {
  'bank-a': BANK_A,
  'bank-b': BANK_B,
  wallet: WALLET,
};

export function startSimulator(
  partner: PartnerName,
  options: SimulatorOptions = {},
): Promise<PartnerSimulator> {
  return PartnerSimulator.start(DIALECTS[partner], options);
}
