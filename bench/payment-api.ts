/**
 * The benchmark's client of the gateway's HTTP API (gateway/README.md): keep-alive connections on
 * loopback, HS256 tokens for an `admin` and a `producer` principal, every request bounded.
 */
import http from 'node:http';

import { SignJWT } from 'jose';

import { BenchError } from './limits.js';

const REQUEST_TIMEOUT_MS = 30_000;

export type Role = 'admin' | 'producer';

export interface Answer {
  /** HTTP status; 0 when the request failed without one (timeout, connection refused). */
  readonly status: number;
  readonly body: unknown;
}

export class PaymentApi {
  readonly #agent: http.Agent;
  readonly #url: URL;

  private constructor(
    baseUrl: string,
    private readonly tokens: Readonly<Record<Role, string>>,
    maxSockets: number,
  ) {
    this.#url = new URL(baseUrl);
    this.#agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  /**
   * Tokens for `<subject>-admin` (roles: admin) and `<subject>-producer` (roles: producer),
   * valid for `lifetimeS`, signed with the job's secret.
   */
  static async connect(
    baseUrl: string,
    jwtSecret: string,
    subject: string,
    lifetimeS: number,
    maxSockets: number,
  ): Promise<PaymentApi> {
    const key = new TextEncoder().encode(jwtSecret);
    // The benchmark's producer acts for every owner (a service token with owners ["*"]).
    const sign = (role: Role) =>
      new SignJWT({ roles: [role], ...(role === 'producer' ? { owners: ['*'] } : {}) })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(`${subject}-${role}`)
        .setIssuedAt()
        .setExpirationTime(`${Math.ceil(lifetimeS)}s`)
        .sign(key);
    return new PaymentApi(
      baseUrl,
      { admin: await sign('admin'), producer: await sign('producer') },
      maxSockets,
    );
  }

  /** Sends at once (the caller stamps the send time just before) and resolves with the answer. */
  request(
    method: 'GET' | 'POST',
    path: string,
    role: Role,
    body?: unknown,
    idempotencyKey?: string,
  ): Promise<Answer> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: http.OutgoingHttpHeaders = { authorization: `Bearer ${this.tokens[role]}` };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(payload);
    }
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    return new Promise((resolve) => {
      const request = http.request(
        {
          agent: this.#agent,
          host: this.#url.hostname,
          port: this.#url.port,
          method,
          path,
          headers,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', (error) => resolve({ status: 0, body: error.message }));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // not JSON: keep the text
            }
            resolve({ status: response.statusCode ?? 0, body: parsed });
          });
        },
      );
      request.setTimeout(REQUEST_TIMEOUT_MS, () =>
        request.destroy(
          new BenchError(`${method} ${path} got no answer within ${REQUEST_TIMEOUT_MS / 1_000} s`),
        ),
      );
      request.on('error', (error) => resolve({ status: 0, body: error.message }));
      request.end(payload);
    });
  }

  /** The request, which must answer `expected`; else a BenchError naming it. */
  async expect(
    expected: number,
    method: 'GET' | 'POST',
    path: string,
    role: Role,
    body?: unknown,
    idempotencyKey?: string,
  ): Promise<unknown> {
    const answer = await this.request(method, path, role, body, idempotencyKey);
    if (answer.status !== expected)
      throw new BenchError(
        `${method} ${path} answered ${answer.status || 'nothing'} instead of ${expected}: ${JSON.stringify(answer.body)}`,
      );
    return answer.body;
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** A string field of a JSON answer, if it has one. */
export function field(body: unknown, name: string): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const value = (body as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}
