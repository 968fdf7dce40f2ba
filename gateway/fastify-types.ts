/** PayFlow's additions to Fastify's request and route-config types. */
import 'fastify';
// Brings in the OpenAPI keys (summary, tags, security) on route schemas.
import type {} from '@fastify/swagger';

/**
 * `customer`, `merchant`: act on the accounts they own (ownerId = sub); `producer`: a service
 * acting for the owners of its `owners` claim; `reviewer`: the review queue; `admin`:
 * operations; `superadmin`: changes to the system's own rules, and whatever admin may do.
 */
export type Role = 'customer' | 'merchant' | 'producer' | 'reviewer' | 'admin' | 'superadmin';
export const ROLES: readonly Role[] = ['customer', 'merchant', 'producer', 'reviewer', 'admin', 'superadmin'];

export interface Principal {
  /** The JWT `sub` claim. */
  readonly id: string;
  readonly roles: ReadonlySet<Role>;
  /** The `owners` claim: the owners a producer acts for (`*` = any); empty without the claim. */
  readonly owners: readonly string[];
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
