import { proxyActivities } from '@temporalio/workflow';
import type { EcsActivities } from '../activities/runtime/ecs';
import type { ApplyResult, CurrentWorkload, RolloutStatus, WorkloadSpec } from '../activities/runtime/types';
import { ErrorType, permanentFailure } from '../shared/errors';
import type { TenantSpec } from '../shared/tenant-spec';
import { awsCall, awsWait } from './activity-options';

/** What provisioning and releases need from a tenant's runtime, whichever it is. */
export interface TenantRuntime {
  apply(workload: WorkloadSpec): Promise<ApplyResult>;
  waitForRollout(): Promise<RolloutStatus>;
  current(): Promise<CurrentWorkload | undefined>;
  remove(): Promise<{ deleted: boolean }>;
}

export function tenantRuntime(tenant: TenantSpec): TenantRuntime {
  const runtime = tenant.runtime;
  if (runtime.kind === 'ecs') {
    const quick = proxyActivities<EcsActivities>(awsCall);
    const waiting = proxyActivities<EcsActivities>(awsWait);
    return {
      apply: (workload) => quick.ecsApplyWorkload({ runtime, workload }),
      waitForRollout: () => waiting.ecsWaitForRollout({ runtime, tenantId: tenant.id }),
      current: () => quick.ecsCurrentWorkload({ runtime, tenantId: tenant.id }),
      remove: () => waiting.ecsDeleteWorkload({ runtime, tenantId: tenant.id }),
    };
  }
  return kubernetesRuntime(tenant, runtime);
}

function kubernetesRuntime(tenant: TenantSpec, runtime: Extract<TenantSpec['runtime'], { kind: 'kubernetes' }>): TenantRuntime {
  // The Kubernetes activities are not part of this version yet (issue: Kubernetes tenant runtime);
  // refuse clearly instead of failing half-way through a provisioning.
  throw permanentFailure(
    ErrorType.InvalidInput,
    `tenant ${tenant.id}: runtime "kubernetes" (cluster ${runtime.cluster}) is not supported by this version of tenant-fleet yet; use runtime "ecs"`,
  );
}
