import { z } from 'zod';

/**
 * Tenant IDs end up in CloudFormation stack names, RDS snapshot identifiers, Kubernetes
 * namespaces and DNS labels; this is the intersection of what all of them accept.
 */
export const TENANT_ID_PATTERN = /^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){1,31}$/;

export const tenantIdSchema = z
  .string()
  .regex(TENANT_ID_PATTERN, 'expected 2-32 lowercase letters, digits and single hyphens, starting with a letter (it names stacks, namespaces and snapshots)');

export const RELEASE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const releaseIdSchema = z
  .string()
  .regex(RELEASE_ID_PATTERN, 'expected 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit');

/** Container image tags as the OCI distribution spec allows them. */
export const imageTagSchema = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'expected an image tag: up to 128 letters, digits, "_", "." or "-", not starting with "." or "-"');

export const hostnameSchema = z
  .string()
  .max(253)
  .regex(
    /^(\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/,
    'expected a lowercase fully qualified hostname such as "acme.example.com"',
  );

export const awsAccountIdSchema = z.string().regex(/^\d{12}$/, 'expected a 12-digit AWS account ID (quote it in YAML)');
export const awsRegionSchema = z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'expected an AWS region such as "us-east-1"');
export const iamRoleArnSchema = z
  .string()
  .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/, 'expected an IAM role ARN such as "arn:aws:iam::123456789012:role/TenantFleetAccess"');

/** Workflow IDs are the public contract and the per-tenant lock (README.md, "Contracts"). */
export const targetGroupArnSchema = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/,
    'expected an ELBv2 target group ARN such as "arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/tenant-acme/0123456789abcdef"',
  );

export const workflowIds = {
  provision: (tenantId: string) => `tenant/${tenantId}/provision`,
  deprovision: (tenantId: string) => `tenant/${tenantId}/deprovision`,
  release: (releaseId: string) => `release/${releaseId}`,
  releaseTenant: (releaseId: string, tenantId: string) => `release/${releaseId}/tenant/${tenantId}`,
  certificates: (group: string) => `certs/${group}`,
  /** `tenantctl release rollback` (src/workflows/release-rollback.ts): the release's rollback, and each tenant's. */
  releaseRollback: (releaseId: string) => `release/${releaseId}/rollback`,
  rollbackTenant: (releaseId: string, tenantId: string) => `release/${releaseId}/rollback/tenant/${tenantId}`,
  /** Blue/green: the formerly live colour's retirement after a release (src/workflows/retire-colour.ts). */
  retireColour: (tenantId: string, releaseId: string) => `tenant/${tenantId}/retire/${releaseId}`,
  /** A read-only look at a Kubernetes tenant's workload (tenantctl tenant diff / resources); unique per call, never a lock. */
  inspect: (tenantId: string, operation: string, nonce: string) => `inspect/${tenantId}/${operation}/${nonce}`,
} as const;

export const stackNameFor = (tenantId: string) => `tenant-${tenantId}`;

/**
 * RDS snapshot identifiers allow letters, digits and single hyphens, start with a letter and
 * stay under 255 characters; a release ID may hold "." and "_", so it is folded into that form.
 */
export function rdsSnapshotId(...parts: string[]): string {
  const id = parts
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  return (/^[a-z]/.test(id) ? id : `s-${id}`).slice(0, 255).replace(/-$/, '');
}

/**
 * The snapshot a release takes of a tenant's database before deploying: a retry or re-run finds it.
 * Folding into RDS's alphabet maps `v1.2` and `v1-2` (or `a_b` and `a-b`) to the same text, so a
 * hash of the unfolded release and tenant IDs follows it; the activity also checks the tags of a
 * snapshot it would reuse (activities/rds.ts).
 */
export const preReleaseSnapshotId = (releaseId: string, tenantId: string) =>
  `${rdsSnapshotId('pre', releaseId, tenantId).slice(0, 240).replace(/-$/, '')}-${shortHash(`${releaseId}\n${tenantId}`)}`;

/** The folded ID alone, as releases before the hash named their snapshots (their recorded histories replay it). */
export const legacyPreReleaseSnapshotId = (releaseId: string, tenantId: string) => rdsSnapshotId('pre', releaseId, tenantId);

/** 8 hex digits of FNV-1a: workflow code computes IDs too, so no node:crypto. */
export function shortHash(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}
