/**
 * One HTTP call to a partner with an explicit timeout, and the transport half of the
 * classification: a call that never left (connection refused, DNS) is safe to repeat; a call
 * that left and got no complete answer (timeout, reset) has an unknown outcome.
 */
import {
  type BankAdapter,
  type CallOptions,
  type ExecuteOutcome,
  type PartnerRequest,
  type StatusOutcome,
} from './adapter.js';
import type { AdapterOptions } from './adapter.js';
import { parseJsonExact } from '../money.js';
import type { PartnerName } from '../simulators/index.js';

export interface HttpCall {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** A partner's answer: its status and its body parsed with exact numbers (undefined: not JSON). */
export interface HttpAnswer {
  readonly status: number;
  readonly body: unknown;
}

export type HttpResult =
  | { readonly kind: 'answer'; readonly answer: HttpAnswer }
  | { readonly kind: 'not-sent'; readonly detail: string }
  | { readonly kind: 'no-answer'; readonly detail: string };

/** Connection errors that mean the request never reached the partner. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'EHOSTUNREACH',
]);

function errorCode(error: unknown): string | undefined {
  const cause = (error as { cause?: { code?: unknown } }).cause;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}

export async function send(
  baseUrl: string,
  call: HttpCall,
  timeoutMs: number,
  options: CallOptions = {},
): Promise<HttpResult> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal === undefined ? timeout : AbortSignal.any([timeout, options.signal]);
  try {
    const response = await fetch(new URL(call.path, baseUrl), {
      method: call.method,
      headers: {
        accept: 'application/json',
        ...(call.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...call.headers,
      },
      body: call.body,
      signal,
      redirect: 'error',
    });
    const text = await response.text();
    let body: unknown;
    try {
      body = parseJsonExact(text);
    } catch {
      body = undefined;
    }
    return { kind: 'answer', answer: { status: response.status, body } };
  } catch (error) {
    const code = errorCode(error);
    if (code !== undefined && NOT_SENT_CODES.has(code)) return { kind: 'not-sent', detail: code };
    const name = error instanceof Error ? error.name : 'Error';
    const detail =
      name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : `${name}: ${code ?? String(error)}`;
    return { kind: 'no-answer', detail };
  }
}

/** What a partner file supplies: its requests and how to read its answers. */
export interface PartnerProtocol {
  readonly partner: PartnerName;
  /** A refusal before sending (an amount the partner's format can't carry), or the call, carrying `deadlineMs`. */
  executeCall(request: PartnerRequest, deadlineMs: number): HttpCall | ExecuteOutcome;
  executeAnswer(request: PartnerRequest, answer: HttpAnswer): ExecuteOutcome;
  statusCall(reference: string): HttpCall;
  statusAnswer(reference: string, answer: HttpAnswer): StatusOutcome;
}

/** Statuses of a non-JSON answer (a proxy or load balancer in front of the partner) that say "not executed". */
const PROXY_NOT_EXECUTED = new Set([429, 502, 503]);

/** A BankAdapter from a protocol: the transport, the timeout and the generic classification. */
export function httpAdapter(protocol: PartnerProtocol, options: AdapterOptions): BankAdapter {
  return {
    partner: protocol.partner,
    timeoutMs: options.timeoutMs,
    async execute(request, callOptions) {
      const call = protocol.executeCall(request, Date.now() + options.timeoutMs);
      if (!('method' in call)) return call;
      const result = await send(options.baseUrl, call, options.timeoutMs, callOptions);
      if (result.kind === 'not-sent')
        return { kind: 'retriable', partnerCode: 'NOT_SENT', detail: result.detail };
      if (result.kind === 'no-answer') return { kind: 'unknown-outcome', detail: result.detail };
      if (result.answer.body === undefined)
        return PROXY_NOT_EXECUTED.has(result.answer.status)
          ? {
              kind: 'retriable',
              partnerCode: `HTTP_${result.answer.status}`,
              detail: 'a proxy answered, not the partner',
            }
          : { kind: 'unknown-outcome', detail: `HTTP ${result.answer.status} without a JSON body` };
      return protocol.executeAnswer(request, result.answer);
    },
    async status(reference, callOptions) {
      const result = await send(
        options.baseUrl,
        protocol.statusCall(reference),
        options.timeoutMs,
        callOptions,
      );
      if (result.kind !== 'answer') return { kind: 'unavailable', detail: result.detail };
      if (result.answer.body === undefined)
        return { kind: 'unavailable', detail: `HTTP ${result.answer.status} without a JSON body` };
      return protocol.statusAnswer(reference, result.answer);
    },
  };
}
