import type { KubernetesActivities, KubernetesRuntime } from '../activities/runtime/kubernetes';
import type { WorkloadObjectStatus, WorkloadPreview, WorkloadSpec } from '../activities/runtime/types';
import { activitiesFor } from './activity-options';

/*
 * `tenantctl tenant diff` and `tenant resources` for a Kubernetes tenant. tenantctl cannot reach a
 * cluster itself (only the cluster's own worker holds its credentials), so it runs this short
 * workflow, which calls that worker's read-only activities on the cluster's task queue, as
 * provisioning and releases do. It takes no tenant lock: it changes nothing.
 */

export type InspectKubernetesWorkloadInput =
  | { operation: 'preview'; runtime: KubernetesRuntime; workload: WorkloadSpec }
  | { operation: 'list'; runtime: KubernetesRuntime; tenantId: string };

export type InspectKubernetesWorkloadResult =
  | { operation: 'preview'; version: string; preview: WorkloadPreview }
  | { operation: 'list'; namespace: string; exists: boolean; objects: WorkloadObjectStatus[] };

export async function inspectKubernetesWorkload(input: InspectKubernetesWorkloadInput): Promise<InspectKubernetesWorkloadResult> {
  // A person waits on the answer: a cluster whose worker is down fails the command within two minutes.
  const k8s = activitiesFor<KubernetesActivities>({ taskQueue: input.runtime.taskQueue, scheduleToCloseTimeout: '2 minutes' });
  const { runtime } = input;
  if (input.operation === 'list') {
    return { operation: 'list', ...(await k8s.k8sListWorkload({ runtime, tenantId: input.tenantId })) };
  }
  // As provisioning does: the workload keeps the version it runs; a new one starts at the initial version.
  const current = await k8s.k8sCurrentWorkload({ runtime, tenantId: input.workload.tenantId });
  const version = current?.version ?? input.workload.version;
  return { operation: 'preview', version, preview: await k8s.k8sPreviewWorkload({ runtime, workload: { ...input.workload, version } }) };
}
