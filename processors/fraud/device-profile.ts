/**
 * The device-profile processor, its own sub-topology keyed by device or IP address: it keeps the
 * senders seen on each in the last 24 hours (at most 100, most recent first) and publishes the
 * profile on the compacted risk.profiles topic, which fraud scoring reads as a table. It runs off
 * the payment's path: a payment never waits for it, so a profile may lag its newest sightings by
 * a commit interval.
 */
import type { DeviceProfile, DeviceSighting } from '../../schemas/types.js';
import type { Processor } from '../runtime/api.js';
import { TOPIC } from '../../topics/names.js';

export const PROFILES_STORE = 'device-profiles';
const DAY_MS = 86_400_000;
export const MAX_SENDERS_PER_PROFILE = 100;

/** The profile after a sighting: the sender moved to the front, senders older than 24 h dropped. */
export function profileAfter(previous: DeviceProfile | undefined, sighting: DeviceSighting): DeviceProfile {
  const others = (previous?.senders ?? []).filter(
    (seen) => seen.accountId !== sighting.senderAccountId && sighting.seenAtMs - seen.lastSeenMs < DAY_MS,
  );
  const own = previous?.senders.find((seen) => seen.accountId === sighting.senderAccountId);
  const lastSeenMs = Math.max(own?.lastSeenMs ?? 0, sighting.seenAtMs);
  return {
    subject: sighting.subject,
    senders: [{ accountId: sighting.senderAccountId, lastSeenMs }, ...others]
      .sort((a, b) => b.lastSeenMs - a.lastSeenMs)
      .slice(0, MAX_SENDERS_PER_PROFILE),
  };
}

export function deviceProfileProcessor(
  options: { readonly maxProfiles?: number } = {},
): Processor<DeviceSighting> {
  return {
    name: 'device-profile',
    inputs: [TOPIC.riskSightings],
    outputs: [TOPIC.riskProfiles],
    stores: [{ kind: 'kv', name: PROFILES_STORE, maxEntries: options.maxProfiles ?? 2_000_000 }],
    process(record, context) {
      const store = context.keyValueStore<DeviceProfile>(PROFILES_STORE);
      const profile = profileAfter(store.get(record.key), record.value);
      store.put(record.key, profile);
      context.forward({ topic: TOPIC.riskProfiles, key: record.key, value: profile });
    },
  };
}
