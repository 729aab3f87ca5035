import type { EcsActivities } from '../activities/runtime/ecs';
import type { KubernetesActivities } from '../activities/runtime/kubernetes';
import type { ApplyResult, CurrentWorkload, DeployResult, RolloutStatus, WorkloadSpec } from '../activities/runtime/types';
import type { TenantSpec } from '../shared/tenant-spec';
import { activitiesFor } from './activity-options';

/** What provisioning and releases need from a tenant's runtime, whichever it is. */
export interface TenantRuntime {
  /** Creates or updates the whole workload (provisioning). */
  apply(workload: WorkloadSpec): Promise<ApplyResult>;
  /** Changes only the image tag, keeping everything else (release deploy and rollback). */
  setVersion(version: string): Promise<ApplyResult>;
  /** setVersion and waitForRollout in one activity: one round trip fewer for a release's deploy. */
  deploy(version: string): Promise<DeployResult>;
  /** Waits until the latest change is rolled out or can no longer succeed; a failed rollout is returned, not thrown. */
  waitForRollout(): Promise<RolloutStatus>;
  current(): Promise<CurrentWorkload | undefined>;
  remove(): Promise<{ deleted: boolean }>;
}

export function tenantRuntime(tenant: TenantSpec): TenantRuntime {
  const runtime = tenant.runtime;
  const tenantId = tenant.id;
  if (runtime.kind === 'ecs') {
    const ecs = activitiesFor<EcsActivities>();
    return {
      apply: (workload) => ecs.ecsApplyWorkload({ runtime, workload }),
      setVersion: (version) => ecs.ecsSetVersion({ runtime, tenantId, image: tenant.image, version }),
      deploy: (version) => ecs.ecsDeployVersion({ runtime, tenantId, image: tenant.image, version }),
      waitForRollout: () => ecs.ecsWaitForRollout({ runtime, tenantId }),
      current: () => ecs.ecsCurrentWorkload({ runtime, tenantId }),
      remove: () => ecs.ecsDeleteWorkload({ runtime, tenantId }),
    };
  }
  // Each Kubernetes cluster has its own task queue, served by a worker that can reach its API.
  const k8s = activitiesFor<KubernetesActivities>({ taskQueue: runtime.taskQueue });
  return {
    apply: (workload) => k8s.k8sApplyWorkload({ runtime, workload }),
    setVersion: (version) => k8s.k8sSetVersion({ runtime, tenantId, image: tenant.image, version }),
    deploy: (version) => k8s.k8sDeployVersion({ runtime, tenantId, image: tenant.image, version }),
    waitForRollout: () => k8s.k8sWaitForRollout({ runtime, tenantId }),
    current: () => k8s.k8sCurrentWorkload({ runtime, tenantId }),
    remove: () => k8s.k8sDeleteWorkload({ runtime, tenantId }),
  };
}
