/** Shared set-up for the gateway's unit tests: config, ports, tokens. */
import { connect } from 'node:net';
import { SignJWT } from 'jose';
import type { FastifyInstance } from 'fastify';
import { buildGateway, type GatewayOptions } from './app.js';
import { loadGatewayConfig, type GatewayConfig } from './config.js';
import { MemoryIdempotencyStore } from './idempotency-memory.js';
import { MemoryAccountQueries, MemoryPaymentQueries, RecordingPublisher } from './memory-ports.js';
import type { AccountView, GatewayPorts } from './ports.js';
import { parsePiiKeyRing } from '../schemas/pii.js';

export const TEST_SECRET = 'test-secret-of-at-least-thirty-two-characters';

/**
 * The PII key ring of tests that run the Kafka mode (PAYFLOW_PII_KEYS): t1 retired, t2 active,
 * so a rotated ring is what every such test runs with. Fixed test keys, never a production one.
 */
export const TEST_PII_KEYS = JSON.stringify({
  active: 't2',
  keys: {
    t1: 'AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=',
    t2: 'AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=',
  },
});

/** An ACTIVE EUR account of `ownerId` at TIER_1 holding `balanceMinor`. */
export function testAccount(accountId: string, ownerId: string, balanceMinor = 0n): AccountView {
  return {
    accountId,
    ownerId,
    currency: 'EUR',
    kycTier: 'TIER_1',
    iban: null,
    status: 'ACTIVE',
    balanceMinor,
    openedAtMs: 0,
    updatedAtMs: 0,
  };
}

export function testConfig(env: Record<string, string> = {}): GatewayConfig {
  return loadGatewayConfig({ PAYFLOW_JWT_SECRET: TEST_SECRET, PAYFLOW_PUBLISH_TIMEOUT_MS: '500', ...env });
}

export interface Harness {
  readonly app: FastifyInstance;
  readonly publisher: RecordingPublisher;
  readonly payments: MemoryPaymentQueries;
  readonly accounts: MemoryAccountQueries;
  readonly idempotency: MemoryIdempotencyStore;
}

/** The ring of TEST_PII_KEYS, which the harness's gateway seals with (tests open with it). */
export const TEST_PII_KEY_RING = parsePiiKeyRing(TEST_PII_KEYS);

export async function harness(
  overrides: Partial<Omit<GatewayOptions, 'ports'>> & { ports?: Partial<GatewayPorts> } = {},
): Promise<Harness> {
  const publisher = new RecordingPublisher();
  const payments = new MemoryPaymentQueries();
  const accounts = new MemoryAccountQueries();
  const idempotency = new MemoryIdempotencyStore({ ttlMs: 86_400_000, lockTtlMs: 30_000, maxKeys: 1_000 });
  const app = await buildGateway({
    config: overrides.config ?? testConfig(),
    logging: overrides.logging ?? false,
    ...(overrides.now === undefined ? {} : { now: overrides.now }),
    ...(overrides.metricsRegistry === undefined ? {} : { metricsRegistry: overrides.metricsRegistry }),
    ...(overrides.rateLimitRedis === undefined ? {} : { rateLimitRedis: overrides.rateLimitRedis }),
    piiKeyRing: overrides.piiKeyRing ?? TEST_PII_KEY_RING,
    ports: { publisher, payments, accounts, idempotency, ...overrides.ports },
  });
  return { app, publisher, payments, accounts, idempotency };
}

/**
 * A signed test token. By default a producer acting for any owner (`owners: ['*']`), as the
 * tests of what producers may do assume; pass `owners: null` for a token without the claim.
 */
export async function token(
  claims: { sub?: string; roles?: string[]; owners?: string[] | null } = {},
  options: { expiresIn?: string | number; secret?: string } = {},
): Promise<string> {
  const { sub = 'merchant-42', roles = ['producer'], owners = ['*'] } = claims;
  return new SignJWT(owners === null ? { roles } : { roles, owners })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '5m')
    .sign(new TextEncoder().encode(options.secret ?? TEST_SECRET));
}

export const validPayment = {
  senderAccountId: 'acc-alice',
  recipientAccountId: 'acc-bob',
  amount: 1250,
  currency: 'EUR',
  reference: 'invoice 2024-001',
  device: { id: 'device-1', ip: '203.0.113.7' },
};

export async function producerHeaders(key = 'key-1'): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await token()}`, 'idempotency-key': key };
}

export async function adminHeaders(key?: string): Promise<Record<string, string>> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${await token({ sub: 'ops-1', roles: ['admin'] })}`,
  };
  if (key !== undefined) headers['idempotency-key'] = key;
  return headers;
}

/** Listens on a free loopback port and returns it (for tests of what inject() can't reach). */
export async function listening(app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('not listening on TCP');
  return address.port;
}

export interface RawResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Parses one HTTP/1.1 response with a Content-Length body, as bytes from the socket. */
export function parseRawResponse(text: string): RawResponse {
  const split = text.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { statusCode: Number(statusLine.split(' ')[1]), headers, body: text.slice(split + 4) };
}

/**
 * Sends `text` as is on a new connection and resolves with the first response once the server
 * closes the connection or `waitMs` passes.
 */
export function rawRequest(
  port: number,
  text: string | Buffer,
  options: { waitMs?: number; localAddress?: string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    });
    let received = '';
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      if (received === '') reject(new Error('no response'));
      else resolve(parseRawResponse(received));
    };
    const timer = setTimeout(finish, options.waitMs ?? 2_000);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
      const response = parseRawResponse(received);
      const length = Number(response.headers['content-length'] ?? NaN);
      if (Buffer.byteLength(response.body) >= length) finish();
    });
    socket.on('end', finish);
    socket.on('error', () => undefined);
    socket.write(text);
  });
}
