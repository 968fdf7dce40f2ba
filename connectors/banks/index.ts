/** The bank partners: adapters, the router with breakers, retries and failover, and their metrics. */
import type { AdapterOptions, BankAdapter, PartnerName } from './adapter.js';
import { bankAAdapter } from './bank-a.js';
import { bankBAdapter } from './bank-b.js';
import { walletAdapter } from './wallet.js';

export * from './adapter.js';
export { bankAAdapter } from './bank-a.js';
export { bankBAdapter } from './bank-b.js';
export { walletAdapter } from './wallet.js';
export {
  DEFAULT_BREAKER,
  FailuresInWindowBreaker,
  type BreakerSettings,
  type BreakerView,
} from './breaker.js';
export { DEFAULT_RETRY, PartnerChannel, type PartnerResult, type RetrySettings } from './channel.js';
export { PartnerMetrics } from './metrics.js';
export { MAX_ATTEMPT, partnerReference } from './reference.js';
export * from './router.js';
export * from './routing.js';

/** The adapter of each partner, by name. */
export const ADAPTERS: Readonly<Record<PartnerName, (options: AdapterOptions) => BankAdapter>> = {
  'bank-a': bankAAdapter,
  'bank-b': bankBAdapter,
  wallet: walletAdapter,
};
