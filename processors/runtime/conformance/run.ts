/** Runs one conformance scenario on a driver and checks its outputs; shared by both drivers' suites. */
import assert from 'node:assert/strict';

import { fromJson } from '../json-serde.js';
import { byKey, type ObservedRecord, type Scenario } from './scenarios.js';

/** Decodes what a scenario's topology wrote: JSON where it is JSON, raw bytes otherwise (dead letters, bad input). */
export function observe(
  topic: string,
  deadLetterTopic: string,
  key: string,
  value: Buffer | null,
  headers: ObservedRecord['headers'],
): ObservedRecord {
  if (topic === deadLetterTopic || value === null) return { key, value, headers };
  try {
    return { key, value: fromJson<unknown>(value.toString('utf8')), headers };
  } catch {
    return { key, value, headers };
  }
}

/** Output topics whose records a scenario waits for, with the count it expects. */
export function expectedCounts(scenario: Scenario, applicationId: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [suffix, keys] of Object.entries(scenario.expected)) {
    counts.set(
      `${applicationId}-${suffix}`,
      Object.values(keys).reduce((sum, values) => sum + values.length, 0),
    );
  }
  return counts;
}

export function assertScenario(
  scenario: Scenario,
  applicationId: string,
  observed: ReadonlyMap<string, readonly ObservedRecord[]>,
): void {
  for (const [suffix, keys] of Object.entries(scenario.expected)) {
    assert.deepEqual(byKey(observed.get(`${applicationId}-${suffix}`) ?? []), keys, `records on ${suffix}`);
  }
  scenario.check?.(observed, applicationId);
}
