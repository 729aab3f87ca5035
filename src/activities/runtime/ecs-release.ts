import { releaseRecordParameters, type ReleaseRecord } from '../../shared/release/record';
import type { AwsTarget } from '../../shared/tenant-spec';
import type { AwsClients } from '../aws/clients';
import { abortSignal, heartbeat } from '../poll';
import { createCloudFormationActivities } from '../cloudformation';
import { createRdsActivities } from '../rds';
import { createSsmActivities } from '../ssm';
import type { TemplateStore } from '../templates';
import { createEcsActivities, type EcsRuntime } from './ecs';
import type { CurrentWorkload, DeployResult, ReleaseTarget } from './types';

export interface EcsReleaseInspection {
  /** Absent when the tenant has no service yet. */
  current?: CurrentWorkload;
  /** Absent when the tenant's stack does not exist. */
  outputs?: Record<string, string>;
  /** With `readRelease`: the tenant's recorded release targets (shared/release/record.ts). */
  record?: ReleaseRecord;
}

export interface EcsReleasePreparation extends EcsReleaseInspection {
  /** The pre-release snapshot's identifier, when one was taken. */
  snapshot?: string;
  /** Why the older snapshots were not pruned, when they were to be and were not. */
  retentionNotApplied?: string;
}

/**
 * A release's steps on an ECS tenant merged where every call runs on the AWS queue
 * (release-tenant.ts, MERGED_STEPS_PATCH): each is one activity task and one
 * workflow task instead of two or three, and is safe to retry as a whole. Only reads are merged
 * into the change that follows them, and a change into nothing but its own record: every
 * change is still in the release's history before the next one starts.
 */
export function createEcsReleaseActivities(deps: { aws: AwsClients; templates: TemplateStore }) {
  const ecs = createEcsActivities(deps);
  const cfn = createCloudFormationActivities(deps);
  const ssm = createSsmActivities(deps);
  const rds = createRdsActivities(deps);
  const inspect = async (input: { runtime: EcsRuntime; tenantId: string; target: AwsTarget; stackName: string; services?: string[]; readRelease?: boolean }): Promise<EcsReleaseInspection> => {
    const [current, outputs, record] = await Promise.all([
      ecs.ecsCurrentWorkload({ runtime: input.runtime, tenantId: input.tenantId, ...(input.services ? { services: input.services } : {}) }),
      cfn.getStackOutputs({ target: input.target, stackName: input.stackName }),
      input.readRelease ? ssm.readReleaseRecord({ target: input.target, tenantId: input.tenantId }) : undefined,
    ]);
    return { ...(current ? { current } : {}), ...(outputs ? { outputs } : {}), ...(record ? { record } : {}) };
  };
  return {
    /** The workload the tenant runs and its stack's outputs, read side by side: reads only, so a retry repeats both. */
    ecsInspectForRelease: inspect,

    /**
     * A deploy's first step: the reads of ecsInspectForRelease, then, when the tenant runs
     * another version than `version` and has a database, its pre-release snapshot (as
     * snapshotCluster, which waits until it is available), after pruning the older ones when the
     * fleet keeps a limited number (`prune`, as prunePreReleaseSnapshots). Reads that decide, and
     * the change they lead to: a retry reads again, prunes again (never this release's snapshot)
     * and finds its snapshot by the deterministic identifier.
     */
    async ecsPrepareRelease(input: {
      runtime: EcsRuntime;
      tenantId: string;
      target: AwsTarget;
      stackName: string;
      services?: string[];
      readRelease?: boolean;
      version: string;
      snapshot: { identifier: string; tags: Record<string, string> };
      prune?: { keep: number; maxAgeMs: number };
    }): Promise<EcsReleasePreparation> {
      const inspection = await inspect(input);
      const cluster = inspection.outputs?.DatabaseClusterIdentifier;
      if (!inspection.current || inspection.current.version === input.version || !cluster) return inspection;
      let retentionNotApplied: string | undefined;
      if (input.prune) {
        heartbeat({ step: 'retention' });
        try {
          await rds.prunePreReleaseSnapshots({ target: input.target, tenantId: input.tenantId, clusterIdentifier: cluster, ...input.prune, except: input.snapshot.identifier });
        } catch (error) {
          if (abortSignal()?.aborted) throw error;
          // Housekeeping never stops a release: the snapshot below still has its quota's reserve. Reported, not thrown.
          retentionNotApplied = error instanceof Error ? error.message : String(error);
        }
      }
      // The snapshot's wait heartbeats from here on (awsWait: a heartbeat timeout).
      heartbeat({ step: 'snapshot' });
      const { snapshotIdentifier } = await rds.snapshotCluster({ target: input.target, clusterIdentifier: cluster, snapshotIdentifier: input.snapshot.identifier, tags: input.snapshot.tags });
      return { ...inspection, snapshot: snapshotIdentifier, ...(retentionNotApplied !== undefined ? { retentionNotApplied } : {}) };
    },

    /**
     * Sets the version, waits for its rollout and, once it is ready, records it as the tenant's
     * `workload/version` parameter: what the tenant runs from then on, whatever the verification
     * after it finds (a rollback records the version it goes back to). Safe to retry as a whole:
     * the set and the write compare before they change anything, and the wait of a finished
     * rollout returns at once. A rollout that is not ready records nothing.
     */
    async ecsDeployAndRecord(input: {
      runtime: EcsRuntime;
      tenantId: string;
      image: string;
      version: string;
      target: AwsTarget;
      /** The release's target (shared/release/manifest.ts), recorded as `workload/release` with the version. */
      release?: ReleaseTarget;
      /** The target it replaces, recorded as `workload/release-previous` for a later revert. */
      previousRelease?: ReleaseTarget;
      services?: string[];
      timeoutMs?: number;
    }): Promise<DeployResult> {
      const { target, release, previousRelease, ...deploy } = input;
      // The rollout's wait heartbeats from here on (awsWait: a heartbeat timeout).
      heartbeat({ step: 'deploy' });
      const rollout = await ecs.ecsDeployVersion({ ...deploy, ...(release ? { target: release } : {}) });
      const parameters = release ? releaseRecordParameters(release, previousRelease) : { 'workload/version': input.version };
      if (rollout.ready) await ssm.putTenantParameters({ target, tenantId: input.tenantId, parameters });
      return rollout;
    },
  };
}

export type EcsReleaseActivities = ReturnType<typeof createEcsReleaseActivities>;
