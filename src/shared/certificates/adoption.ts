import { isWildcard } from './hostnames';
import type { DesiredHostname } from './planner';

/**
 * Names the certificates workflow adopted (found on its group's certificates, claimed by no
 * tenant) are planned like a tenant's: under these labels, as their tenant and environment.
 * Adopted wildcards may stay wildcards (their environment allows them); adopted exact names
 * never become one. The workflow and `tenantctl certs plan` share them, so the dry run plans
 * what the workflow would.
 */
export const ADOPTED_ENVIRONMENT = '(adopted)';
export const ADOPTED_WILDCARD_ENVIRONMENT = '(adopted-wildcard)';

/** Statuses of a certificate that can serve or still become able to: the rest are retired. */
export const USABLE_CERTIFICATE_STATUSES: ReadonlySet<string> = new Set(['ISSUED', 'PENDING_VALIDATION']);

/** An adopted name as the planner takes it. */
export function adoptedHostname(hostname: string): DesiredHostname {
  return { hostname, tenantId: ADOPTED_ENVIRONMENT, environment: isWildcard(hostname) ? ADOPTED_WILDCARD_ENVIRONMENT : ADOPTED_ENVIRONMENT };
}
