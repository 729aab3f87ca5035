import { GetParameterCommand, ParameterNotFound } from '@aws-sdk/client-ssm';
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowExecutionStatusName, type WorkflowHandle } from '@temporalio/client';
import type { AwsClients } from '../activities/aws/clients';
import { tenantIdSchema, workflowIds } from '../shared/ids';
import {
  deprovisionTenantInputSchema,
  provisionTenantInputSchema,
  type DeprovisionTenantInput,
  type DeprovisionTenantResult,
  type ProvisionTenantInput,
  type ProvisionTenantResult,
} from '../shared/messages/provisioning';
import { PhaseKey, ReleaseIdKey } from '../shared/search-attributes';
import { TASK_QUEUES } from '../shared/task-queues';
import type { TenantSpec } from '../shared/tenant-spec';
import { InputValidationError, parseOrThrow } from '../shared/validation';
import { describeProvisionDifferences, provisionRequestDifferences } from './provision-request';
import { existingWorkflowInput } from './request-differences';

/**
 * Starts provisioning under the contract's workflow ID and waits for the result. A tenant
 * can be provisioned again later (ALLOW_DUPLICATE). A run still in progress is joined only when
 * it was asked for the same thing (the same spec, version and options; not who asked): a request
 * with another spec is refused naming each differing field, since joining would hand back a
 * result for a spec the caller did not ask for.
 */
export async function provisionTenant(client: Client, input: ProvisionTenantInput): Promise<ProvisionTenantResult> {
  // Refused here, before a workflow exists (the workflow validates again for starts by hand).
  parseOrThrow(provisionTenantInputSchema, input, 'provisioning request');
  const workflowId = workflowIds.provision(input.tenant.id);
  let handle: WorkflowHandle;
  try {
    handle = await client.workflow.start('provisionTenant', {
      workflowId,
      taskQueue: TASK_QUEUES.workflows,
      args: [input],
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      workflowIdConflictPolicy: 'FAIL',
      staticSummary: `provision tenant ${input.tenant.id}`,
    });
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    const differences = provisionRequestDifferences(await existingWorkflowInput(client, workflowId), input);
    if (differences.length > 0) throw new InputValidationError('provisioning request', describeProvisionDifferences(input.tenant.id, differences));
    handle = client.workflow.getHandle(workflowId);
  }
  return (await handle.result()) as ProvisionTenantResult;
}

export async function deprovisionTenant(client: Client, input: DeprovisionTenantInput): Promise<DeprovisionTenantResult> {
  parseOrThrow(deprovisionTenantInputSchema, input, 'deprovisioning request');
  return client.workflow.execute('deprovisionTenant', {
    workflowId: workflowIds.deprovision(input.tenant.id),
    taskQueue: TASK_QUEUES.workflows,
    args: [input],
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: `deprovision tenant ${input.tenant.id}`,
  }) as Promise<DeprovisionTenantResult>;
}

// --- read side: what tenantctl shows about tenants -----------------------------------------

/** One workflow that touched a tenant, as Temporal visibility records it. */
export interface TenantWorkflow {
  workflowId: string;
  runId: string;
  type: string;
  status: WorkflowExecutionStatusName;
  startTime: string;
  closeTime?: string;
  phase?: string;
  releaseId?: string;
}

/**
 * The visibility query for every workflow of one tenant: those carrying its TenantId search
 * attribute (provisioning, deprovisioning, each release's per-tenant child) and, by ID prefix,
 * any that failed before setting it. The lock workflow is bookkeeping, not an operation.
 */
export function tenantWorkflowsQuery(tenantId: string): string {
  const id = parseOrThrow(tenantIdSchema, tenantId, 'tenant ID'); // validated: it is spliced into a query
  return `(TenantId = '${id}' OR WorkflowId STARTS_WITH 'tenant/${id}/') AND WorkflowType != 'tenantLock'`;
}

/** Every workflow that touched the tenant, newest first (at most `limit`). */
export async function tenantHistory(client: Client, tenantId: string, { limit = 50 }: { limit?: number } = {}): Promise<TenantWorkflow[]> {
  const found: TenantWorkflow[] = [];
  for await (const execution of client.workflow.list({ query: tenantWorkflowsQuery(tenantId), pageSize: Math.min(limit, 1000) })) {
    // Runs that continued as new are one operation with their successor; show the live run only.
    if (execution.status.name === 'CONTINUED_AS_NEW') continue;
    found.push({
      workflowId: execution.workflowId,
      runId: execution.runId,
      type: execution.type,
      status: execution.status.name,
      startTime: execution.startTime.toISOString(),
      closeTime: execution.closeTime?.toISOString(),
      phase: execution.typedSearchAttributes.get(PhaseKey),
      releaseId: execution.typedSearchAttributes.get(ReleaseIdKey),
    });
    if (found.length >= limit) break;
  }
  // Visibility's order depends on the store (SQL: open first, then by close time); people want start time.
  return found.sort((a, b) => b.startTime.localeCompare(a.startTime));
}

/** The tenant's current operation if one is running, else its most recent one. */
export async function latestTenantWorkflow(client: Client, tenantId: string): Promise<TenantWorkflow | undefined> {
  const recent = await tenantHistory(client, tenantId, { limit: 20 });
  return recent.find((w) => w.status === 'RUNNING') ?? recent[0];
}

export const WORKLOAD_VERSION_PARAMETER = (tenantId: string) => `/tenant-fleet/${tenantId}/workload/version`;

/**
 * The version the tenant runs, as recorded in its SSM parameter: provisioning writes it, and a
 * release writes it after a verified deploy or a rollback, so it is what the fleet last
 * decided, readable without a worker. Undefined when the tenant has no workload.
 */
export async function recordedTenantVersion(aws: AwsClients, tenant: TenantSpec): Promise<string | undefined> {
  try {
    const { Parameter } = await aws.ssm(tenant.aws).send(new GetParameterCommand({ Name: WORKLOAD_VERSION_PARAMETER(tenant.id) }));
    return Parameter?.Value;
  } catch (error) {
    if (error instanceof ParameterNotFound) return undefined;
    throw error;
  }
}
