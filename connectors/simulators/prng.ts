/**
 * A small seedable pseudo-random generator (mulberry32): the simulators draw their faults from it
 * so a test that sets a seed sees the same faults in the same order on every run.
 */
export type Random = () => number;

/** Numbers in [0, 1), the same sequence for the same 32-bit seed. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
