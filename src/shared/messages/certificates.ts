import { defineQuery, defineSignal } from '@temporalio/workflow';
import { z } from 'zod';
import { hostnameSchema, tenantIdSchema } from '../ids';
import { certificatePolicySchema } from '../certificates/policy';
import { awsTargetSchema, type TenantSpec } from '../tenant-spec';
import type { CertificatePlan } from '../certificates/planner';

/** Where a tenant's validation records go: its account's hosted zone. */
export const tenantDnsSchema = z.strictObject({ aws: awsTargetSchema, hostedZoneId: z.string().min(1) });

/**
 * What the certificates workflow knows about one tenant. Kept in the workflow's state (plain
 * JSON, carried over continue-as-new), so a deprovisioned tenant's hostnames are known to be
 * gone even though the fleet config no longer lists it.
 */
export const tenantCertificatesSchema = z.strictObject({
  hostnames: z.array(hostnameSchema),
  environment: z.string().min(1),
  dns: tenantDnsSchema.optional(),
});
export type TenantCertificates = z.infer<typeof tenantCertificatesSchema>;

export { certificatePolicySchema, type CertificatePolicy } from '../certificates/policy';

export const certificatesInputSchema = z.strictObject({
  /** The certificate group: the load balancer's name in the fleet config (one HTTPS listener). */
  group: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'expected the load balancer name from the fleet config'),
  loadBalancer: z.strictObject({
    listenerArn: z.string().regex(/^arn:aws[a-z-]*:elasticloadbalancing:/, 'expected an ELBv2 listener ARN'),
    aws: awsTargetSchema,
  }),
  policy: certificatePolicySchema.prefault({}),
  /** Environments whose hostnames may share wildcard certificates; unknown environments may not. */
  wildcardEnvironments: z.array(z.string().min(1)).default([]),
  tenants: z.record(tenantIdSchema, tenantCertificatesSchema).default({}),
  /**
   * Names found on this group's certificates that no known tenant claims, kept covered until a
   * reconcile releases them: a run started without the full fleet must never strip coverage.
   */
  adopted: z.array(hostnameSchema).default([]),
  /** Whether adoption of unknown names already ran (only the first reconcile of a fresh start adopts). */
  adoptionDone: z.boolean().default(false),
  /** Carried across continue-as-new: when each stuck certificate was first reported. */
  stuckSince: z.record(z.string(), z.string()).default({}),
  /** Carried across continue-as-new: the keys of the certificate notifications sent (stuck, expiring), so each goes once. */
  notified: z.array(z.string()).default([]),
  /** Replaced certificates still attached, each waiting out the grace period (epoch ms) before it is detached. */
  retiring: z.array(z.strictObject({ arn: z.string().min(1), after: z.number() })).default([]),
});
export type CertificatesInput = z.input<typeof certificatesInputSchema>;
export type CertificatesState = z.output<typeof certificatesInputSchema>;

/** Sent by provisioning (the tenant's hostnames) and deprovisioning (empty hostnames). */
export const reconcileRequestSchema = z.strictObject({
  tenantId: tenantIdSchema,
  /** Empty: the tenant is gone and its names may be retired. */
  hostnames: z.array(hostnameSchema),
  environment: z.string().min(1),
  dns: tenantDnsSchema.optional(),
  /** The names the tenant had, so a removal also releases names the workflow only adopted. */
  formerHostnames: z.array(hostnameSchema).default([]),
});
export type ReconcileRequest = z.input<typeof reconcileRequestSchema>;

export const reconcileSignal = defineSignal<[ReconcileRequest]>('reconcile');

export type CertificatesHealth = 'ok' | 'converging' | 'failing';

export interface CertificateStatus {
  arn: string;
  names: string[];
  status: string;
  type?: string;
  notAfter?: string;
  renewalEligibility?: string;
  renewalStatus?: string;
  attached: boolean;
}

export interface StuckCertificate {
  arn: string;
  names: string[];
  since: string;
  /** Validation records ACM still waits for. */
  pendingRecords: { domain: string; name: string; value: string }[];
}

export interface CertificatesStatus {
  group: string;
  health: CertificatesHealth;
  phase: string;
  lastReconcile?: string;
  nextCheck?: string;
  certificates: CertificateStatus[];
  stuck: StuckCertificate[];
  uncovered: CertificatePlan['uncovered'];
  adopted: string[];
  problems: string[];
  rejectedSignals: string[];
}

export const certificatesStatusQuery = defineQuery<CertificatesStatus>('certificatesStatus');
export const certificatePlanQuery = defineQuery<CertificatePlan | undefined>('certificatePlan');

/** The reconcile request and the start input (used if no run exists) for one tenant's provisioning or removal. */
export function reconcileForTenant(tenant: TenantSpec, removed: boolean): { start: CertificatesInput; request: ReconcileRequest } | undefined {
  const lb = tenant.loadBalancer;
  if (!lb) return undefined;
  return {
    start: { group: lb.name, loadBalancer: { listenerArn: lb.listenerArn, aws: lb.aws } },
    request: {
      tenantId: tenant.id,
      hostnames: removed ? [] : tenant.hostnames,
      environment: tenant.environment,
      dns: tenant.hostedZoneId ? { aws: tenant.aws, hostedZoneId: tenant.hostedZoneId } : undefined,
      formerHostnames: removed ? tenant.hostnames : [],
    },
  };
}
