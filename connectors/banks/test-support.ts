/** Test helpers: the three simulators on loopback ports and a router over their adapters. */
import { Registry } from 'prom-client';

import { startSimulator, type PartnerSimulator } from '../simulators/index.js';
import { PARTNER_NAMES, type Faults, type PartnerName } from '../simulators/index.js';
import { ADAPTERS, PartnerRouter, type PartnerRouterOptions, type RoutingConfig } from './index.js';

export type Simulators = Record<PartnerName, PartnerSimulator>;

export async function startSimulators(seed = 7): Promise<Simulators> {
  const started = await Promise.all(
    PARTNER_NAMES.map((partner, i) => startSimulator(partner, { seed: seed + i, hangMs: 10_000 })),
  );
  return Object.fromEntries(started.map((s) => [s.partner, s])) as Simulators;
}

export async function stopSimulators(simulators: Simulators): Promise<void> {
  await Promise.all(Object.values(simulators).map((s) => s.close()));
}

export function routerOver(
  simulators: Simulators,
  routing: RoutingConfig,
  options: Partial<PartnerRouterOptions> & { timeoutMs?: number } = {},
): PartnerRouter {
  const timeoutMs = options.timeoutMs ?? 1_000;
  return new PartnerRouter({
    registry: new Registry(),
    ...options,
    routing,
    adapters: PARTNER_NAMES.map((partner) =>
      ADAPTERS[partner]({ baseUrl: simulators[partner].url, timeoutMs }),
    ),
  });
}

/** Sets faults through the simulator's HTTP control API, as a test on a real stack would. */
export async function setFaults(
  simulator: PartnerSimulator,
  faults: Partial<Faults> & { seed?: number },
): Promise<void> {
  const response = await fetch(`${simulator.url}/__control/faults`, {
    method: 'PUT',
    body: JSON.stringify(faults),
  });
  if (response.status !== 200) throw new Error(`faults refused: ${await response.text()}`);
}

export const BENEFICIARY = { iban: 'DE89370400440532013000', name: 'Ada Lovelace' };
export const BAD_IBAN = { iban: 'DE89370400440532013001', name: 'Ada Lovelace' };
