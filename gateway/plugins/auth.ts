/**
 * Bearer-token authentication and role checks. Tokens are JWTs: HS256 with a shared secret,
 * or RS256 with a PEM public key or a JWKS endpoint (fetched with a timeout and cached). `sub`
 * is the principal, `roles` the role list, `owners` (a producer's) the owners it acts for, `exp` is enforced. Routes state their roles in
 * `config.roles`; routes without it are public.
 */
import { webcrypto } from 'node:crypto';

import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { createRemoteJWKSet, decodeProtectedHeader, errors as joseErrors, importSPKI, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
import type { JwtConfig } from '../config.js';
import { ApiError } from '../errors.js';
import { ROLES, type Principal, type Role } from '../fastify-types.js';
import { textProblem } from '../strict-json.js';

const REALM = 'payflow';
/** A JWKS that fails is not re-fetched more often than this (jose's cooldown). */
const JWKS_COOLDOWN_MS = 30_000;

type RsaKey = Awaited<ReturnType<typeof importSPKI>> | JWTVerifyGetKey;

interface Verifier {
  readonly hmacKey: webcrypto.CryptoKey | undefined;
  readonly rsaKey: RsaKey | undefined;
  readonly options: JWTVerifyOptions;
  readonly clockToleranceMs: number;
  readonly limits: { readonly clockToleranceS: number; readonly maxLifetimeS: number };
  readonly verified: VerifiedTokens;
}

/** Verified tokens kept so a repeated token is not verified again. */
const VERIFIED_TOKENS_MAX = 10_000;

/**
 * Tokens whose signature and claims were verified, with their validity window. A hit is only
 * served while the token is still within `nbf`..`exp` (with the clock tolerance), checked on
 * every hit; past it the token is verified again, which refuses it. Bounded: the oldest entry
 * goes first.
 */
class VerifiedTokens {
  readonly #entries = new Map<string, { payload: JWTPayload; notBeforeMs: number; expiresMs: number }>();

  get(token: string, nowMs: number, toleranceMs: number): JWTPayload | undefined {
    const entry = this.#entries.get(token);
    if (entry === undefined) return undefined;
    if (nowMs + toleranceMs < entry.notBeforeMs || nowMs - toleranceMs >= entry.expiresMs) {
      this.#entries.delete(token);
      return undefined;
    }
    return entry.payload;
  }

  put(token: string, payload: JWTPayload): void {
    if (typeof payload.exp !== 'number') return;
    if (this.#entries.size >= VERIFIED_TOKENS_MAX) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(token, {
      payload,
      notBeforeMs: typeof payload.nbf === 'number' ? payload.nbf * 1_000 : 0,
      expiresMs: payload.exp * 1_000,
    });
  }
}

async function createVerifier(config: JwtConfig): Promise<Verifier> {
  // Imported once: jose would import raw key bytes again on every verification.
  const hmacKey =
    config.secret === undefined
      ? undefined
      : await webcrypto.subtle.importKey(
          'raw',
          new TextEncoder().encode(config.secret),
          { name: 'HMAC', hash: 'SHA-256' },
          false,
          ['verify'],
        );
  let rsaKey: RsaKey | undefined;
  if (config.publicKeyPem !== undefined) rsaKey = await importSPKI(config.publicKeyPem, 'RS256');
  else if (config.jwksUrl !== undefined) {
    rsaKey = createRemoteJWKSet(new URL(config.jwksUrl), {
      timeoutDuration: config.jwksTimeoutMs,
      cooldownDuration: JWKS_COOLDOWN_MS,
    });
  }
  const options: JWTVerifyOptions = {
    clockTolerance: config.clockToleranceS,
    requiredClaims: ['sub', 'exp'],
  };
  if (config.issuer !== undefined) options.issuer = config.issuer;
  if (config.audience !== undefined) options.audience = config.audience;
  return {
    hmacKey,
    rsaKey,
    options,
    clockToleranceMs: config.clockToleranceS * 1_000,
    limits: { clockToleranceS: config.clockToleranceS, maxLifetimeS: config.maxLifetimeS },
    verified: new VerifiedTokens(),
  };
}

/**
 * A 401. The challenge is a constant: nothing from the request (a token's `alg`, a claim, a
 * jose message quoting either) is ever copied into a response header. The body's `detail` says
 * what was wrong in the gateway's own words.
 */
function unauthenticated(detail: string, tokenSent: boolean): ApiError {
  // RFC 6750 §3: no error attribute when no credentials were sent at all.
  const challenge = tokenSent ? `Bearer realm="${REALM}", error="invalid_token"` : `Bearer realm="${REALM}"`;
  return new ApiError('UNAUTHENTICATED', detail, { headers: { 'WWW-Authenticate': challenge } });
}

/** `Bearer <token68>`; the scheme name is case-insensitive (RFC 9110 §11.1). */
const BEARER = /^Bearer +([A-Za-z0-9_.~+/-]+=*)$/i;

function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (header === undefined) throw unauthenticated('send an Authorization: Bearer <JWT> header', false);
  const match = BEARER.exec(header);
  if (match?.[1] === undefined) throw unauthenticated('the Authorization header is not a Bearer token', true);
  return match[1];
}

/**
 * Claims jose does not bound: `iat` may not lie ahead of the clock (beyond the tolerance), and a
 * token may not be valid for longer than the configured lifetime, counted from `iat` (or from
 * now when it has none), so a leaked long-lived token is not accepted.
 */
export function lifetimeProblem(
  payload: JWTPayload,
  nowS: number,
  limits: { readonly clockToleranceS: number; readonly maxLifetimeS: number },
): string | undefined {
  const { iat, exp } = payload;
  if (iat !== undefined && iat > nowS + limits.clockToleranceS)
    return 'the token is issued in the future (iat)';
  if (exp === undefined) return undefined;
  const from = iat === undefined ? nowS : Math.min(iat, nowS);
  if (exp - from > limits.maxLifetimeS + limits.clockToleranceS)
    return `the token is valid for longer than the allowed ${limits.maxLifetimeS} s (exp)`;
  return undefined;
}

async function verifyToken(verifier: Verifier, token: string): Promise<JWTPayload> {
  const known = verifier.verified.get(token, Date.now(), verifier.clockToleranceMs);
  if (known !== undefined) return known;
  const payload = await verifySignatureAndClaims(verifier, token);
  const problem = lifetimeProblem(payload, Math.floor(Date.now() / 1_000), verifier.limits);
  if (problem !== undefined) throw unauthenticated(problem, true);
  verifier.verified.put(token, payload);
  return payload;
}

async function verifySignatureAndClaims(verifier: Verifier, token: string): Promise<JWTPayload> {
  let algorithm: string | undefined;
  try {
    algorithm = decodeProtectedHeader(token).alg;
  } catch {
    throw unauthenticated('the token is not a JWT', true);
  }
  if (algorithm === 'HS256' && verifier.hmacKey !== undefined) {
    return (await jwtVerify(token, verifier.hmacKey, { ...verifier.options, algorithms: ['HS256'] })).payload;
  }
  if (algorithm === 'RS256' && verifier.rsaKey !== undefined) {
    const key = verifier.rsaKey;
    const options = { ...verifier.options, algorithms: ['RS256'] };
    const result =
      typeof key === 'function' ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options);
    return result.payload;
  }
  // The algorithm is not named back: it is the client's input.
  throw unauthenticated('the token is not signed with an accepted algorithm (HS256 or RS256)', true);
}

function toPrincipal(payload: JWTPayload): Principal {
  const roles = Array.isArray(payload['roles']) ? (payload['roles'] as unknown[]) : [];
  const known = roles.filter((role): role is Role => ROLES.includes(role as Role));
  if (typeof payload.sub !== 'string' || payload.sub === '')
    throw unauthenticated('the token has no sub claim', true);
  const subProblem = textProblem(payload.sub);
  if (subProblem !== undefined) throw unauthenticated(`the token's sub claim ${subProblem}`, true);
  return { id: payload.sub, roles: new Set(known), owners: ownersOf(payload) };
}

/** The `owners` claim, a list of owner ids (`*` = any); absent = none. */
function ownersOf(payload: JWTPayload): string[] {
  const owners = payload['owners'];
  if (owners === undefined) return [];
  if (!Array.isArray(owners) || !owners.every((owner) => typeof owner === 'string' && owner !== ''))
    throw unauthenticated("the token's owners claim is not a list of owner ids", true);
  for (const owner of owners as string[]) {
    const problem = textProblem(owner);
    if (problem !== undefined) throw unauthenticated(`the token's owners claim ${problem}`, true);
  }
  return owners as string[];
}

/** jose errors are client errors (bad token) except when the key set itself can't be fetched. */
function classify(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof joseErrors.JWKSTimeout || !(error instanceof joseErrors.JOSEError)) {
    return new ApiError('AUTH_UNAVAILABLE', 'the signing keys could not be fetched', {
      cause: error,
      headers: { 'Retry-After': '5' },
    });
  }
  if (error instanceof joseErrors.JWTExpired) return unauthenticated('the token has expired', true);
  return unauthenticated(`the token is invalid: ${error.message}`, true);
}

async function authenticate(
  verifier: Verifier,
  request: FastifyRequest,
  roles: readonly Role[],
): Promise<void> {
  const token = bearerToken(request);
  let principal: Principal;
  try {
    principal = toPrincipal(await verifyToken(verifier, token));
  } catch (error) {
    throw classify(error);
  }
  if (!roles.some((role) => principal.roles.has(role))) {
    throw new ApiError('FORBIDDEN', `this operation needs the role ${roles.join(' or ')}`, {
      headers: { 'WWW-Authenticate': `Bearer realm="${REALM}", error="insufficient_scope"` },
    });
  }
  request.principal = principal;
}

async function authPlugin(app: FastifyInstance, options: { jwt: JwtConfig }): Promise<void> {
  const verifier = await createVerifier(options.jwt);
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    const roles = request.routeOptions.config.roles;
    if (roles !== undefined) await authenticate(verifier, request, roles);
  });
  // Documents the security requirement in the OpenAPI document from the same `roles` config.
  app.addHook('onRoute', (route) => {
    if (route.config?.roles === undefined) return;
    route.schema = { ...route.schema, security: [{ bearerAuth: [] }] };
  });
}

export const auth = fp(authPlugin, { name: 'payflow-auth' });
