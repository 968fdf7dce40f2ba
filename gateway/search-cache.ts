/**
 * A short-lived cache in front of the search index: the same history or search page asked
 * again within `ttlMs` (a dashboard polling an account, a client retrying) is answered from
 * memory instead of another Elasticsearch request. The index itself follows the log about a
 * second behind (its refresh interval), so a TTL of that order adds little staleness; 0 turns
 * the cache off. Bounded by `maxEntries` (least recently used first out); concurrent misses of
 * one key share one request.
 */
import { LRUCache } from 'lru-cache';
import type { Counter } from 'prom-client';

import type { AccountPaymentsQuery, PaymentSearch, PaymentSearchQuery, PaymentView } from './ports.js';

export interface SearchCacheOptions {
  readonly ttlMs: number;
  readonly maxEntries: number;
  /** Counts lookups by `result` (`hit`, `miss`) and `query` (`history`, `search`). */
  readonly lookups?: Counter<'result' | 'query'>;
}

const keyOf = (kind: string, query: AccountPaymentsQuery | PaymentSearchQuery) =>
  kind + JSON.stringify(query, (_, value: unknown) => (typeof value === 'bigint' ? `${value}n` : value));

export function cachedSearch(search: PaymentSearch, options: SearchCacheOptions): PaymentSearch {
  if (options.ttlMs === 0) return search;
  const cache = new LRUCache<string, Promise<readonly PaymentView[]>>({
    max: options.maxEntries,
    ttl: options.ttlMs,
  });
  const lookup = (
    kind: 'history' | 'search',
    query: AccountPaymentsQuery | PaymentSearchQuery,
    load: () => Promise<readonly PaymentView[]>,
  ) => {
    const key = keyOf(kind, query);
    const cached = cache.get(key);
    options.lookups?.inc({ result: cached === undefined ? 'miss' : 'hit', query: kind });
    if (cached !== undefined) return cached;
    const loading = load();
    cache.set(key, loading);
    // A failed request is not remembered: the next one asks the index again.
    loading.catch(() => {
      if (cache.get(key) === loading) cache.delete(key);
    });
    return loading;
  };
  return {
    accountPayments: (query) => lookup('history', query, () => search.accountPayments(query)),
    searchPayments: (query) => lookup('search', query, () => search.searchPayments(query)),
  };
}
