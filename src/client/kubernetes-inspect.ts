import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, TimeoutFailure } from '@temporalio/common';
import { randomUUID } from 'node:crypto';
import type { KubernetesRuntime } from '../activities/runtime/kubernetes';
import { workflowIds } from '../shared/ids';
import { TASK_QUEUES } from '../shared/task-queues';
import type { TenantSpec } from '../shared/tenant-spec';
import type { InspectKubernetesWorkloadInput, InspectKubernetesWorkloadResult } from '../workflows/inspect-kubernetes-workload';
import type { KubernetesPreviewer } from './tenant-diff';
import type { KubernetesLister } from './tenant-resources';

/*
 * tenantctl's way into a Kubernetes tenant's cluster: the cluster's own worker, reached through a
 * short read-only workflow (workflows/inspect-kubernetes-workload.ts), as provisioning reaches it.
 */

async function inspect<R extends InspectKubernetesWorkloadResult>(client: Client, tenantId: string, input: InspectKubernetesWorkloadInput): Promise<R> {
  const workflowId = workflowIds.inspect(tenantId, input.operation, randomUUID());
  try {
    return (await client.workflow.execute('inspectKubernetesWorkload', {
      workflowId,
      taskQueue: TASK_QUEUES.workflows,
      args: [input],
      // Bounded beyond its activity's two minutes, in case no workflow worker runs at all.
      workflowExecutionTimeout: '3 minutes',
      staticSummary: `tenantctl: ${input.operation} the Kubernetes workload of tenant ${tenantId} (read-only)`,
    })) as R;
  } catch (error) {
    throw explained(error, input.runtime, workflowId);
  }
}

/** The activity's own failure (a refusal keeps its type, so the exit code stays right), or why nothing answered. */
function explained(error: unknown, runtime: KubernetesRuntime, workflowId: string): unknown {
  if (!(error instanceof WorkflowFailedError)) return error;
  const where = `Kubernetes cluster ${runtime.cluster} (task queue ${runtime.taskQueue}, workflow ${workflowId})`;
  let cause: unknown = error.cause;
  while (cause instanceof ActivityFailure) cause = cause.cause;
  if (cause instanceof TimeoutFailure || error.cause instanceof TimeoutFailure) {
    return new Error(`${where}: no answer in time; is a worker with role "kubernetes" serving that task queue?`, { cause: error });
  }
  if (cause instanceof ApplicationFailure) return ApplicationFailure.create({ type: cause.type ?? undefined, nonRetryable: true, message: `${where}: ${cause.message}`, cause: error });
  return error;
}

export const kubernetesPreviewer =
  (client: Client): KubernetesPreviewer =>
  async (runtime, workload) => {
    const result = await inspect<Extract<InspectKubernetesWorkloadResult, { operation: 'preview' }>>(client, workload.tenantId, { operation: 'preview', runtime, workload });
    return { version: result.version, preview: result.preview };
  };

export const kubernetesLister =
  (client: Client): KubernetesLister =>
  async (tenant: TenantSpec) => {
    const runtime = tenant.runtime as KubernetesRuntime;
    const result = await inspect<Extract<InspectKubernetesWorkloadResult, { operation: 'list' }>>(client, tenant.id, { operation: 'list', runtime, tenantId: tenant.id });
    return {
      kind: 'kubernetes',
      cluster: runtime.cluster,
      namespace: result.namespace,
      objects: result.objects,
    };
  };
