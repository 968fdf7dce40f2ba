/**
 * Routing: which partners may carry a payment of a kind and currency, and in which order. The
 * configuration is a JSON document (PAYFLOW_PARTNER_ROUTING_FILE), validated here; a bad one is
 * refused with the path of the offending field:
 *
 *   {
 *     "partners": { "bank-a": { "fees": { "EUR": { "bps": 15, "fixedMinor": "20" }, "*": { "bps": 25 } } }, ... },
 *     "routes": [
 *       { "kind": "payout", "currency": "EUR", "strategy": "cheapest", "partners": ["bank-a", "bank-b"] },
 *       { "kind": "payout", "currency": "*",   "strategy": "success-rate", "partners": ["bank-a", "bank-b", "wallet"] }
 *     ]
 *   }
 *
 * The first route whose kind matches and whose currency is the payment's (or `*`) applies.
 * Strategies order its partners:
 * - `cheapest`      by the fee of this amount (bps of the amount, rounded up, + the fixed part), from the fee table;
 * - `fastest`       by the measured median latency; unmeasured partners after measured ones;
 * - `success-rate`  by the executed share of the last calls, highest first; unmeasured partners count as 1.
 * Ties keep the route's order, which is also the failover order.
 */
import { z } from 'zod';

import { PARTNER_NAMES, type PartnerName } from '../simulators/index.js';

export const STRATEGIES = ['cheapest', 'fastest', 'success-rate'] as const;
export type Strategy = (typeof STRATEGIES)[number];
export const KINDS = ['payout', 'topup'] as const;
export type PaymentKindAtPartner = (typeof KINDS)[number];

const currencyKey = z.string().regex(/^([A-Z]{3}|\*)$/, 'must be an ISO 4217 code or *');
const partnerName = z.enum(PARTNER_NAMES as [PartnerName, ...PartnerName[]]);

const FEE = z
  .object({
    bps: z.number().int().min(0).max(10_000),
    fixedMinor: z
      .string()
      .regex(/^(0|[1-9][0-9]{0,17})$/, 'must be a whole number of minor units as a string')
      .default('0'),
  })
  .strict();

export const ROUTING_SCHEMA = z
  .object({
    partners: z.partialRecord(partnerName, z.object({ fees: z.record(currencyKey, FEE) }).strict()),
    routes: z
      .array(
        z
          .object({
            kind: z.enum(KINDS),
            currency: currencyKey,
            strategy: z.enum(STRATEGIES),
            partners: z.array(partnerName).min(1),
          })
          .strict(),
      )
      .min(1),
  })
  .strict()
  .superRefine((config, context) => {
    config.routes.forEach((route, index) => {
      route.partners.forEach((partner, position) => {
        if (route.partners.indexOf(partner) !== position)
          context.addIssue({
            code: 'custom',
            path: ['routes', index, 'partners', position],
            message: `${partner} is listed twice`,
          });
        const fees = config.partners[partner]?.fees;
        if (fees === undefined)
          context.addIssue({
            code: 'custom',
            path: ['routes', index, 'partners', position],
            message: `${partner} has no entry in partners`,
          });
        else if (
          route.strategy === 'cheapest' &&
          fees[route.currency] === undefined &&
          fees['*'] === undefined
        )
          context.addIssue({
            code: 'custom',
            path: ['partners', partner, 'fees'],
            message: `has no fee for ${route.currency} (or *), which route ${index} (cheapest) needs`,
          });
      });
    });
  });

export type RoutingConfig = z.infer<typeof ROUTING_SCHEMA>;
export type Fee = z.infer<typeof FEE>;

export class RoutingConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'RoutingConfigError';
  }
}

/** The routing configuration of a parsed JSON document; throws RoutingConfigError naming each bad field. */
export function parseRoutingConfig(document: unknown): RoutingConfig {
  const parsed = ROUTING_SCHEMA.safeParse(document);
  if (parsed.success) return parsed.data;
  throw new RoutingConfigError(
    parsed.error.issues.map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`),
  );
}

/** Used when PAYFLOW_PARTNER_ROUTING_FILE is unset. */
export const DEFAULT_ROUTING: RoutingConfig = parseRoutingConfig({
  partners: {
    'bank-a': { fees: { EUR: { bps: 15, fixedMinor: '20' }, '*': { bps: 25 } } },
    'bank-b': { fees: { EUR: { bps: 20 }, '*': { bps: 20 } } },
    wallet: { fees: { '*': { bps: 35 } } },
  },
  routes: [
    { kind: 'payout', currency: '*', strategy: 'cheapest', partners: ['bank-a', 'bank-b', 'wallet'] },
    { kind: 'topup', currency: '*', strategy: 'success-rate', partners: ['bank-a', 'bank-b'] },
  ],
});

/** The fee table entry of a partner for a currency (its own, else `*`). */
export function feeOf(config: RoutingConfig, partner: PartnerName, currency: string): Fee | undefined {
  const fees = config.partners[partner]?.fees;
  return fees?.[currency] ?? fees?.['*'];
}

/** The fee of an amount in minor units: bps rounded up, plus the fixed part. */
export function feeMinor(fee: Fee, amountMinor: bigint): bigint {
  return (amountMinor * BigInt(fee.bps) + 9_999n) / 10_000n + BigInt(fee.fixedMinor);
}

export interface Measurements {
  latencyMsP50(partner: PartnerName): number | null;
  successRate(partner: PartnerName): number | null;
}

export interface RouteRequest {
  readonly kind: PaymentKindAtPartner;
  readonly currency: string;
  readonly amountMinor: bigint;
}

/** The route applying to a payment, or undefined when none does. */
export function routeOf(config: RoutingConfig, request: RouteRequest) {
  return config.routes.find(
    (route) => route.kind === request.kind && (route.currency === request.currency || route.currency === '*'),
  );
}

/** The route's partners in the strategy's order (a stable sort: ties keep the configured order). */
export function rankPartners(
  config: RoutingConfig,
  request: RouteRequest,
  measured: Measurements,
): PartnerName[] {
  const route = routeOf(config, request);
  if (route === undefined) return [];
  const key = (partner: PartnerName): number | bigint => {
    switch (route.strategy) {
      case 'cheapest': {
        const fee = feeOf(config, partner, request.currency);
        return fee === undefined ? BigInt(Number.MAX_SAFE_INTEGER) ** 2n : feeMinor(fee, request.amountMinor);
      }
      case 'fastest':
        return measured.latencyMsP50(partner) ?? Number.POSITIVE_INFINITY;
      case 'success-rate':
        return -(measured.successRate(partner) ?? 1);
    }
  };
  const keyed = route.partners.map((partner) => ({ partner, key: key(partner) }));
  return keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((entry) => entry.partner);
}
