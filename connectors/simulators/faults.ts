/**
 * The fault settings of one simulator (`PUT /__control/faults`) and the draw that decides what
 * happens to one request. Each request draws once: below `failureRate` it fails technically
 * (nothing executed, the partner says so); in the next `timeoutRate` it times out — and a second
 * draw decides whether the partner executed it before going silent (`timeoutExecutedShare`) or
 * never did: the caller can't tell the two apart without a status query. In the next
 * `refusalRate` the partner refuses it on business grounds (a partner-side limit).
 */
import { z } from 'zod';

import { seededRandom, type Random } from './prng.js';

const rate = z.number().min(0).max(1);

export const FAULTS_SCHEMA = z
  .object({
    failureRate: rate.default(0),
    timeoutRate: rate.default(0),
    refusalRate: rate.default(0),
    /** Of the timed-out requests, the share executed before the silence. */
    timeoutExecutedShare: rate.default(0.5),
    latencyMs: z.number().int().min(0).max(60_000).default(0),
    down: z.boolean().default(false),
    /** Restarts the fault draws from this seed. */
    seed: z.number().int().min(0).max(4_294_967_295).optional(),
  })
  .strict()
  .refine((f) => f.failureRate + f.timeoutRate + f.refusalRate <= 1, {
    message: 'failureRate + timeoutRate + refusalRate must be at most 1',
  });

export type Faults = Omit<z.infer<typeof FAULTS_SCHEMA>, 'seed'>;

export const NO_FAULTS: Faults = FAULTS_SCHEMA.parse({});

export type Draw = 'ok' | 'failure' | 'timeout-executed' | 'timeout-not-executed' | 'refusal';

export class FaultControl {
  private random: Random;
  private current: Faults = NO_FAULTS;

  constructor(seed: number) {
    this.random = seededRandom(seed);
  }

  get faults(): Faults {
    return this.current;
  }

  /** Replaces the settings (fields left out take their defaults: `PUT {}` clears every fault). */
  set(settings: z.infer<typeof FAULTS_SCHEMA>): void {
    const { seed, ...faults } = settings;
    this.current = faults;
    if (seed !== undefined) this.random = seededRandom(seed);
  }

  /** What happens to one request; refusals only make sense for an execution. */
  draw(operation: 'execute' | 'status'): Draw {
    const { failureRate, timeoutRate, refusalRate, timeoutExecutedShare } = this.current;
    if (failureRate + timeoutRate + refusalRate === 0) return 'ok';
    const r = this.random();
    if (r < failureRate) return 'failure';
    if (r < failureRate + timeoutRate) {
      if (operation === 'status') return 'timeout-not-executed';
      return this.random() < timeoutExecutedShare ? 'timeout-executed' : 'timeout-not-executed';
    }
    if (operation === 'execute' && r < failureRate + timeoutRate + refusalRate) return 'refusal';
    return 'ok';
  }
}
