import { proxyActivities } from '@temporalio/workflow';
import type { EcsActivities } from '../activities/runtime/ecs';
import type { KubernetesActivities } from '../activities/runtime/kubernetes';
import type { ApplyResult, CurrentWorkload, RolloutStatus, WorkloadSpec } from '../activities/runtime/types';
import type { TenantSpec } from '../shared/tenant-spec';
import { awsCall, awsWait, kubeCall, kubeWait, onQueue } from './activity-options';

/** What provisioning and releases need from a tenant's runtime, whichever it is. */
export interface TenantRuntime {
  /** Creates or updates the whole workload (provisioning). */
  apply(workload: WorkloadSpec): Promise<ApplyResult>;
  /** Changes only the image tag, keeping everything else (release deploy and rollback). */
  setVersion(version: string): Promise<ApplyResult>;
  /** Waits until the latest change is rolled out or can no longer succeed; a failed rollout is returned, not thrown. */
  waitForRollout(): Promise<RolloutStatus>;
  current(): Promise<CurrentWorkload | undefined>;
  remove(): Promise<{ deleted: boolean }>;
}

export function tenantRuntime(tenant: TenantSpec): TenantRuntime {
  const runtime = tenant.runtime;
  const tenantId = tenant.id;
  if (runtime.kind === 'ecs') {
    const quick = proxyActivities<EcsActivities>(awsCall);
    const waiting = proxyActivities<EcsActivities>(awsWait);
    return {
      apply: (workload) => quick.ecsApplyWorkload({ runtime, workload }),
      setVersion: (version) => quick.ecsSetVersion({ runtime, tenantId, image: tenant.image, version }),
      waitForRollout: () => waiting.ecsWaitForRollout({ runtime, tenantId }),
      current: () => quick.ecsCurrentWorkload({ runtime, tenantId }),
      remove: () => waiting.ecsDeleteWorkload({ runtime, tenantId }),
    };
  }
  // Each Kubernetes cluster has its own task queue, served by a worker that can reach its API.
  const quick = proxyActivities<KubernetesActivities>(onQueue(kubeCall, runtime.taskQueue));
  const waiting = proxyActivities<KubernetesActivities>(onQueue(kubeWait, runtime.taskQueue));
  return {
    apply: (workload) => quick.k8sApplyWorkload({ runtime, workload }),
    setVersion: (version) => quick.k8sSetVersion({ runtime, tenantId, image: tenant.image, version }),
    waitForRollout: () => waiting.k8sWaitForRollout({ runtime, tenantId }),
    current: () => quick.k8sCurrentWorkload({ runtime, tenantId }),
    remove: () => waiting.k8sDeleteWorkload({ runtime, tenantId }),
  };
}
