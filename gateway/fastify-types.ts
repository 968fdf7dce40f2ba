/** PayFlow's additions to Fastify's request and route-config types. */
import 'fastify';
// Brings in the OpenAPI keys (summary, tags, security) on route schemas.
import type {} from '@fastify/swagger';

export type Role = 'producer' | 'admin' | 'reviewer';
export const ROLES: readonly Role[] = ['producer', 'admin', 'reviewer'];

export interface Principal {
  /** The JWT `sub` claim. */
  readonly id: string;
  readonly roles: ReadonlySet<Role>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth plugin on routes that require a role; null on public routes. */
    principal: Principal | null;
  }

  interface FastifyContextConfig {
    /** Roles allowed on the route (any of them); absent = public route. */
    roles?: readonly Role[];
    /** The route takes an Idempotency-Key (documents 409/422 answers). */
    idempotent?: boolean;
    /** Health, metrics and the API document: exempt from the in-flight cap and metrics. */
    operational?: boolean;
  }
}
