import { defineQuery } from '@temporalio/workflow';
import { z } from 'zod';
import { imageTagSchema } from '../ids';
import { tenantSpecSchema } from '../tenant-spec';

export const provisionTenantInputSchema = z.strictObject({
  tenant: tenantSpecSchema,
  /** Image tag for a tenant that has no workload yet; an existing tenant keeps its current version. */
  initialVersion: imageTagSchema.default('1.0.0'),
  /** Leave a failed fresh provisioning in place for debugging instead of compensating it. */
  keepPartialOnFailure: z.boolean().default(false),
  requestedBy: z.string().max(200).default('unknown'),
});
export type ProvisionTenantInput = z.input<typeof provisionTenantInputSchema>;

export const deprovisionTenantInputSchema = z.strictObject({
  tenant: tenantSpecSchema,
  /** Must equal the tenant ID to deprovision a production tenant. */
  confirmProduction: z.string().optional(),
  requestedBy: z.string().max(200).default('unknown'),
});
export type DeprovisionTenantInput = z.input<typeof deprovisionTenantInputSchema>;

export type StepStatus = 'pending' | 'running' | 'done' | 'skipped' | 'failed' | 'compensated';

export interface StepProgress {
  name: string;
  status: StepStatus;
  detail?: string;
}

export interface TenantOperationProgress {
  tenantId: string;
  operation: 'provision' | 'deprovision';
  phase: string;
  /** A fresh provisioning creates the stack; an update never deletes anything on failure. */
  fresh?: boolean;
  steps: StepProgress[];
  error?: string;
}

export const tenantProgressQuery = defineQuery<TenantOperationProgress>('progress');

export interface ProvisionTenantResult {
  tenantId: string;
  fresh: boolean;
  stackOperation: 'create' | 'update' | 'none';
  version: string;
  outputs: Record<string, string>;
  dnsChanged: string[];
}

export interface DeprovisionTenantResult {
  tenantId: string;
  finalSnapshot?: string;
  stackDeleted: boolean;
}
