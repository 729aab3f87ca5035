import type { EcsActivities } from '../activities/runtime/ecs';
import type { EcsReleaseActivities, EcsReleaseInspection, EcsReleasePreparation } from '../activities/runtime/ecs-release';
import type { KubernetesActivities } from '../activities/runtime/kubernetes';
import type {
  ApplyResult, Colour, ColourStates, CurrentWorkload, DeployResult, EcsColourActivities, KubernetesColourActivities, ReleaseTarget, RolloutStatus, WorkloadSpec,
} from '../activities/runtime/types';
import { primaryServiceOf } from '../shared/config/services';
import type { AwsTarget, TenantSpec } from '../shared/tenant-spec';
import { activitiesFor } from './activity-options';

/** What provisioning and releases need from a tenant's runtime, whichever it is. */
export interface TenantRuntime {
  /** Creates or updates the whole workload (provisioning). */
  apply(workload: WorkloadSpec): Promise<ApplyResult>;
  /**
   * Changes only the image tag, keeping everything else (release deploy and rollback); with a
   * target (a tenant with services, a manifest: shared/release/manifest.ts) every service's image
   * and the manifest's variables.
   */
  setVersion(version: string, target?: ReleaseTarget): Promise<ApplyResult>;
  /** setVersion and waitForRollout in one activity: one round trip fewer for a release's deploy. */
  deploy(version: string, target?: ReleaseTarget): Promise<DeployResult>;
  /** Waits until the latest change is rolled out or can no longer succeed; a failed rollout is returned, not thrown. */
  waitForRollout(): Promise<RolloutStatus>;
  current(): Promise<CurrentWorkload | undefined>;
  remove(): Promise<{ deleted: boolean }>;
  /** Blue/green colour slots (docs/releases.md, "Blue/green"). */
  colours: {
    /** Deploys `version` into `colour` registered with its target group, scaled to the tenant's replicas; ready once its targets are healthy. */
    deploy(colour: Colour, version: string, targetGroupArn: string): Promise<DeployResult>;
    read(): Promise<ColourStates>;
    /** Scales `colour` to 0, keeping its object. */
    retire(colour: Colour): Promise<{ changed: boolean }>;
  };
  /**
   * ECS only, where the workload, the stack, the database and the version's record are all on
   * the AWS queue: a release's merged steps (runtime/ecs-release.ts). Undefined for a runtime on
   * a queue of its own.
   */
  releaseSteps?: {
    /** With `readRelease` (a release with a target only), the tenant's recorded release targets too. */
    inspect(stack: { target: AwsTarget; stackName: string; readRelease?: boolean }): Promise<EcsReleaseInspection>;
    /** The reads of `inspect` and, when the deploy is to go ahead on a tenant with a database, its snapshot (after pruning older ones with `prune`). */
    prepare(
      stack: { target: AwsTarget; stackName: string; readRelease?: boolean },
      deploy: { version: string; snapshot: { identifier: string; tags: Record<string, string> }; prune?: { keep: number; maxAgeMs: number } },
    ): Promise<EcsReleasePreparation>;
    /** With `release`, records it (and `record.previous`, the target it replaces) beside the version (shared/release/record.ts). */
    deployAndRecord(version: string, record: { target: AwsTarget; previous?: ReleaseTarget }, release?: ReleaseTarget): Promise<DeployResult>;
  };
}

export function tenantRuntime(tenant: TenantSpec): TenantRuntime {
  const runtime = tenant.runtime;
  const tenantId = tenant.id;
  // The services beside the primary, whose objects the activities wait for, read and delete too (docs/services.md).
  const services = tenant.services ? { services: tenant.services.filter((s) => s !== primaryServiceOf(tenant.services!)).map((s) => s.name) } : {};
  const withTarget = (target: ReleaseTarget | undefined) => (target ? { target } : {});
  if (runtime.kind === 'ecs') {
    const ecs = activitiesFor<EcsActivities>();
    const ecsRelease = activitiesFor<EcsReleaseActivities>();
    const ecsColours = activitiesFor<EcsColourActivities>();
    return {
      apply: (workload) => ecs.ecsApplyWorkload({ runtime, workload }),
      setVersion: (version, target) => ecs.ecsSetVersion({ runtime, tenantId, image: tenant.image, version, ...withTarget(target) }),
      deploy: (version, target) => ecs.ecsDeployVersion({ runtime, tenantId, image: tenant.image, version, ...withTarget(target) }),
      waitForRollout: () => ecs.ecsWaitForRollout({ runtime, tenantId, ...services }),
      current: () => ecs.ecsCurrentWorkload({ runtime, tenantId, ...services }),
      remove: () => ecs.ecsDeleteWorkload({ runtime, tenantId }),
      colours: {
        deploy: (colour, version, targetGroupArn) =>
          ecsColours.ecsDeployColour({ runtime, tenantId, image: tenant.image, colour, version, replicas: tenant.replicas, targetGroupArn }),
        read: () => ecsColours.ecsReadColours({ runtime, tenantId }),
        retire: (colour) => ecsColours.ecsRetireColour({ runtime, tenantId, colour }),
      },
      releaseSteps: {
        inspect: ({ target, stackName, readRelease }) => ecsRelease.ecsInspectForRelease({ runtime, tenantId, target, stackName, ...services, ...(readRelease ? { readRelease } : {}) }),
        prepare: ({ target, stackName, readRelease }, deploy) =>
          ecsRelease.ecsPrepareRelease({ runtime, tenantId, target, stackName, ...services, ...(readRelease ? { readRelease } : {}), ...deploy }),
        deployAndRecord: (version, { target, previous }, release) =>
          ecsRelease.ecsDeployAndRecord({ runtime, tenantId, image: tenant.image, version, target, ...services, ...(release ? { release } : {}), ...(release && previous ? { previousRelease: previous } : {}) }),
      },
    };
  }
  // Each Kubernetes cluster has its own task queue, served by a worker that can reach its API.
  const k8s = activitiesFor<KubernetesActivities>({ taskQueue: runtime.taskQueue });
  const k8sColours = activitiesFor<KubernetesColourActivities>({ taskQueue: runtime.taskQueue });
  return {
    apply: (workload) => k8s.k8sApplyWorkload({ runtime, workload }),
    setVersion: (version, target) => k8s.k8sSetVersion({ runtime, tenantId, image: tenant.image, version, ...withTarget(target) }),
    deploy: (version, target) => k8s.k8sDeployVersion({ runtime, tenantId, image: tenant.image, version, ...withTarget(target) }),
    waitForRollout: () => k8s.k8sWaitForRollout({ runtime, tenantId, ...services }),
    current: () => k8s.k8sCurrentWorkload({ runtime, tenantId, ...services }),
    remove: () => k8s.k8sDeleteWorkload({ runtime, tenantId }),
    colours: {
      deploy: (colour, version, targetGroupArn) =>
        k8sColours.k8sDeployColour({ runtime, tenantId, image: tenant.image, colour, version, replicas: tenant.replicas, targetGroupArn }),
      read: () => k8sColours.k8sReadColours({ runtime, tenantId }),
      retire: (colour) => k8sColours.k8sRetireColour({ runtime, tenantId, colour }),
    },
  };
}
