/**
 * The read models' lag during a payment load: the main job's `payflow_read_model_lag_records`
 * (records of the log behind each read model, summed over partitions, as of its last batch),
 * scraped from its /metrics every SAMPLE_MS. After the load, how long each read model took to
 * catch up (lag 0 on every partition) once the last payment had ended.
 */
import { nowMs, sleep } from './limits.js';

const SAMPLE_MS = 250;
const SCRAPE_TIMEOUT_MS = 2_000;
const LINE = /^payflow_read_model_lag_records\{([^}]*)\}\s+([0-9.e+-]+)$/;

/** The lag of each read model in a /metrics text, summed over its topics and partitions. */
export function lagByReadModel(metrics: string): Map<string, number> {
  const lags = new Map<string, number>();
  for (const line of metrics.split('\n')) {
    const match = LINE.exec(line.trim());
    if (match === null) continue;
    const readModel = /read_model="([^"]*)"/.exec(match[1]!)?.[1];
    if (readModel === undefined) continue;
    lags.set(readModel, (lags.get(readModel) ?? 0) + Number(match[2]));
  }
  return lags;
}

export class ReadModelLag {
  readonly #max = new Map<string, number>();
  #last = new Map<string, number>();
  #running = false;
  #loop: Promise<void> | undefined;

  constructor(private readonly metricsUrl: string) {}

  start(): void {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        await this.#sample();
        await sleep(SAMPLE_MS);
      }
    })();
  }

  async #sample(): Promise<void> {
    try {
      const response = await fetch(this.metricsUrl, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
      this.#last = lagByReadModel(await response.text());
      for (const [readModel, lag] of this.#last)
        this.#max.set(readModel, Math.max(lag, this.#max.get(readModel) ?? 0));
    } catch {
      // A missed scrape (the job busy past the timeout) is a missed sample, not a failure.
    }
  }

  /** Stops sampling once every read model is at lag 0 or after `ms`; the ms each needed after `sinceMs`. */
  async caughtUp(sinceMs: number, ms: number): Promise<Map<string, number | undefined>> {
    const caught = new Map<string, number | undefined>();
    const until = nowMs() + ms;
    while (nowMs() < until) {
      for (const [readModel, lag] of this.#last)
        if (lag === 0 && !caught.has(readModel)) caught.set(readModel, Math.max(0, nowMs() - sinceMs));
      if (this.#last.size > 0 && [...this.#last.keys()].every((readModel) => caught.has(readModel))) break;
      await sleep(SAMPLE_MS);
    }
    for (const readModel of this.#last.keys()) if (!caught.has(readModel)) caught.set(readModel, undefined);
    return caught;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  /** One line per read model: its highest lag during the load and its catch-up time. */
  notes(caught: ReadonlyMap<string, number | undefined>): string[] {
    return [...this.#max.keys()].sort().map((readModel) => {
      const ms = caught.get(readModel);
      return (
        `  read model ${readModel}: lag at most ${Math.round(this.#max.get(readModel) ?? 0).toLocaleString('en-US')} records ` +
        `during the bulk load; ${ms === undefined ? 'not caught up within the wait' : `caught up ${Math.round(ms).toLocaleString('en-US')} ms after the last payment ended`}`
      );
    });
  }
}
