/**
 * What a producer does with `429 Too Many Requests` and `503 Service Unavailable` that carry a
 * Retry-After: wait that long and send the same request again, a bounded number of times within a
 * bounded time. Every HTTP client of the tests sends through this, so a gateway that sheds load
 * on a busy machine (rate limit, OVERLOADED, PUBLISH_UNAVAILABLE, IDEMPOTENCY_UNAVAILABLE) delays
 * a test instead of failing it. The last answer is returned as it came when the bound is reached,
 * so the caller's assertion names the status.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** Statuses the API answers with Retry-After when the request was not carried out. */
export const RETRY_AFTER_STATUSES: ReadonlySet<number> = new Set([429, 503]);

export interface HttpRetryPolicy {
  /** Sends at most this many times (the first send included). */
  readonly maxAttempts: number;
  /** Sends no more once this long has passed since the first send. */
  readonly deadlineMs: number;
  /** Waits at most this long for one Retry-After, however long it asks for. */
  readonly maxWaitMs: number;
}

export const DEFAULT_HTTP_RETRY: HttpRetryPolicy = { maxAttempts: 12, deadlineMs: 90_000, maxWaitMs: 10_000 };

/** The wait a Retry-After header asks for (delay-seconds or an HTTP date), or undefined without one. */
export function retryAfterMs(value: string | null | undefined, nowMs = Date.now()): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1_000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** The wait before sending again, or undefined when the answer is not one a producer retries. */
export function retryWaitMs(status: number, retryAfter: string | null | undefined): number | undefined {
  if (!RETRY_AFTER_STATUSES.has(status)) return undefined;
  return retryAfterMs(retryAfter);
}

export interface RetriableAnswer {
  readonly status: number;
  /** The answer's Retry-After header, if it had one. */
  readonly retryAfter: string | null;
}

/**
 * Sends with `send` until the answer is not a 429/503 with Retry-After, or the attempts or the
 * time of `policy` are used up; waits each Retry-After (at most `maxWaitMs`, never past the
 * deadline) in between. `onRetry` is told of each answer sent again after.
 */
export async function sendWithRetryAfter<A extends RetriableAnswer>(
  send: () => Promise<A>,
  policy: HttpRetryPolicy = DEFAULT_HTTP_RETRY,
  onRetry?: (answer: A) => void,
): Promise<A> {
  const deadline = Date.now() + policy.deadlineMs;
  for (let attempt = 1; ; attempt += 1) {
    const answer = await send();
    const wait = retryWaitMs(answer.status, answer.retryAfter);
    if (wait === undefined || attempt >= policy.maxAttempts) return answer;
    // The next send would start at or after the deadline: this answer is the last.
    const pause = Math.min(wait, policy.maxWaitMs);
    if (Date.now() + pause >= deadline) return answer;
    onRetry?.(answer);
    await sleep(pause);
  }
}

/** `fetch` as a producer sends: a 429 or 503 with Retry-After is sent again, within `policy`. */
export async function fetchWithRetryAfter(
  url: string,
  init: RequestInit = {},
  policy: HttpRetryPolicy = DEFAULT_HTTP_RETRY,
): Promise<Response> {
  const { response } = await sendWithRetryAfter(
    async () => {
      const sent = await fetch(url, init);
      return { status: sent.status, retryAfter: sent.headers.get('retry-after'), response: sent };
    },
    policy,
    // The answer sent again after is not read: free its connection.
    (answer) => void answer.response.body?.cancel(),
  );
  return response;
}
