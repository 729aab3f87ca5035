import type { Client } from '@temporalio/client';
import { workflowIds } from '../shared/ids';
import type {
  DeprovisionTenantInput,
  DeprovisionTenantResult,
  ProvisionTenantInput,
  ProvisionTenantResult,
} from '../shared/messages/provisioning';
import { TASK_QUEUES } from '../shared/task-queues';

/**
 * Starts provisioning under the contract's workflow ID and waits for the result. A tenant
 * can be provisioned again later (ALLOW_DUPLICATE); a run still in progress is joined
 * rather than duplicated, because the ID is the same.
 */
export function provisionTenant(client: Client, input: ProvisionTenantInput): Promise<ProvisionTenantResult> {
  return client.workflow.execute('provisionTenant', {
    workflowId: workflowIds.provision(input.tenant.id),
    taskQueue: TASK_QUEUES.workflows,
    args: [input],
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: `provision tenant ${input.tenant.id}`,
  }) as Promise<ProvisionTenantResult>;
}

export function deprovisionTenant(client: Client, input: DeprovisionTenantInput): Promise<DeprovisionTenantResult> {
  return client.workflow.execute('deprovisionTenant', {
    workflowId: workflowIds.deprovision(input.tenant.id),
    taskQueue: TASK_QUEUES.workflows,
    args: [input],
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: `deprovision tenant ${input.tenant.id}`,
  }) as Promise<DeprovisionTenantResult>;
}
