/**
 * A time-ordered index of an in-memory store's entries, for expiry in bounded steps: a binary
 * min-heap of (time, key). It is lazy: a key is pushed every time its visible value changes, and
 * an entry popped is used only if the key's current time still equals it (so overwrites, deletes,
 * undone records and aborted transactions need no bookkeeping). Each entry popped is O(log n).
 */
export class TimeIndex {
  readonly #times: number[] = [];
  readonly #keys: string[] = [];

  get length(): number {
    return this.#times.length;
  }

  push(timeMs: number, key: string): void {
    const times = this.#times;
    const keys = this.#keys;
    let at = times.length;
    times.push(timeMs);
    keys.push(key);
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (times[parent]! <= timeMs) break;
      times[at] = times[parent]!;
      keys[at] = keys[parent]!;
      at = parent;
    }
    times[at] = timeMs;
    keys[at] = key;
  }

  /** The oldest time in the index, or undefined when it is empty. */
  peekTimeMs(): number | undefined {
    return this.#times[0];
  }

  /** Removes and returns the oldest entry. */
  pop(): { readonly timeMs: number; readonly key: string } | undefined {
    const times = this.#times;
    const keys = this.#keys;
    if (times.length === 0) return undefined;
    const top = { timeMs: times[0]!, key: keys[0]! };
    const lastTime = times.pop()!;
    const lastKey = keys.pop()!;
    const size = times.length;
    if (size === 0) return top;
    let at = 0;
    for (;;) {
      const left = 2 * at + 1;
      if (left >= size) break;
      const right = left + 1;
      const child = right < size && times[right]! < times[left]! ? right : left;
      if (times[child]! >= lastTime) break;
      times[at] = times[child]!;
      keys[at] = keys[child]!;
      at = child;
    }
    times[at] = lastTime;
    keys[at] = lastKey;
    return top;
  }
}

/**
 * Deletes, oldest first, up to `limit` entries of `index` at or before `maxTimeMs` whose current
 * time (`timeOfKey`, undefined for a key that is gone) is still the indexed one. Stale index
 * entries are dropped on the way; at most `limit` of them are looked at per call past the live
 * ones, so a call is bounded. Returns how many entries were deleted.
 */
export function expireFromIndex(
  index: TimeIndex,
  maxTimeMs: number,
  limit: number,
  timeOfKey: (key: string) => number | undefined,
  remove: (key: string) => void,
): number {
  let deleted = 0;
  let looked = 0;
  while (deleted < limit && looked < 2 * limit) {
    const oldest = index.peekTimeMs();
    if (oldest === undefined || oldest > maxTimeMs) break;
    const { timeMs, key } = index.pop()!;
    looked++;
    if (timeOfKey(key) !== timeMs) continue;
    remove(key);
    deleted++;
  }
  return deleted;
}
