import type { CurrentWorkload, ApplyResult, DeployResult, RolloutStatus } from '../../src/activities/runtime/types';
import type { EcsReleaseInspection, EcsReleasePreparation } from '../../src/activities/runtime/ecs-release';
import type { SnapshotResult } from '../../src/activities/rds';
import type { VerifyResult } from '../../src/activities/verify-health';
import type { BakeWatchInput, BakeWatchResult } from '../../src/activities/bake-watch';
import { heartbeat } from '@temporalio/activity';
import type { TenantSpec } from '../../src/shared/tenant-spec';

/** The version every simulated tenant runs before a release; ecsCurrentWorkload reports it. */
export const PREVIOUS_VERSION = '1.0.0';

/**
 * How many simulated activities one releaseTenant runs, each taking the injected latency:
 * loadTenantSpec, ecsCurrentWorkload, getStackOutputs, snapshotCluster, ecsSetVersion,
 * ecsWaitForRollout, verifyTenantHealth, putTenantParameters; what a team's script runs one
 * after another, so the ideal critical path counts all eight. (The workflow overlaps the spec
 * with the lock request and the current version with the stack outputs, which one activity reads
 * side by side before it takes the snapshot, ecsPrepareRelease, sleeping two steps; it sets the
 * version, waits for the rollout and records it in one activity, ecsDeployAndRecord, which
 * sleeps for all three; the lock's activities are the real ones: orchestration, not a step.)
 */
export const SIMULATED_STEPS_PER_TENANT = 8;

const sleep = (ms: number) => (ms > 0 ? new Promise<void>((resolve) => setTimeout(resolve, ms)) : Promise.resolve());

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const target = { accountId: ACCOUNT, roleArn: `arn:aws:iam::${ACCOUNT}:role/TenantFleetAccess`, externalId: 'bench-external-id', region: REGION };

/** A well-formed ECS tenant, the same shape resolveTenantSpec gives the real workflows. */
export function syntheticTenantSpec(tenantId: string): TenantSpec {
  return {
    id: tenantId,
    environment: 'bench',
    production: false,
    tier: 'standard',
    aws: target,
    network: { vpcId: 'vpc-bench', subnetIds: ['subnet-a', 'subnet-b'] },
    runtime: {
      kind: 'ecs',
      cluster: 'bench-ecs',
      clusterName: 'bench-ecs',
      aws: target,
      subnetIds: ['subnet-a', 'subnet-b'],
      securityGroupIds: ['sg-bench'],
    },
    hostnames: [`${tenantId}.bench.test`],
    database: { instanceClass: 'db.t4g.medium', engineVersion: '16.4', backupRetentionDays: 7 },
    image: 'registry.bench.test/tenant-app',
    replicas: 2,
    alarmNames: [],
  };
}

const currentOf = (tenantId: string): CurrentWorkload => ({
  image: `registry.bench.test/tenant-app:${PREVIOUS_VERSION}`,
  version: PREVIOUS_VERSION,
  revision: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/tenant-${tenantId}:1`,
});
const outputsOf = (stackName: string): Record<string, string> => ({
  DatabaseClusterIdentifier: `${stackName}-db`,
  ErrorAlarmName: `${stackName}-errors`,
  AppRoleArn: `arn:aws:iam::${ACCOUNT}:role/${stackName}-app`,
});

/**
 * Activities registered under the product's names on the product's task queues, each sleeping
 * a fixed latency and answering as a healthy tenant would, so the real release workflows run
 * unchanged and everything but the step time is orchestration.
 */
export function createSimulatedActivities(stepMs: number) {
  return {
    /** Served on the workflows queue, like the real fleet activity. */
    fleet: {
      async loadTenantSpec({ tenantId }: { tenantId: string }): Promise<TenantSpec> {
        await sleep(stepMs);
        return syntheticTenantSpec(tenantId);
      },
      /**
       * The release's notifications, from a fleet without channels: nothing to deliver. Without
       * it each release waited out the delivery's retries (30 s) before it ended.
       */
      async deliverNotification(): Promise<{ delivered: string[] }> {
        return Promise.resolve({ delivered: [] });
      },
    },
    /** Served on the AWS queue. */
    aws: {
      async ecsCurrentWorkload({ tenantId }: { tenantId: string }): Promise<CurrentWorkload> {
        await sleep(stepMs);
        return currentOf(tenantId);
      },
      async getStackOutputs({ stackName }: { stackName: string }): Promise<Record<string, string>> {
        await sleep(stepMs);
        return outputsOf(stackName);
      },
      async snapshotCluster({ snapshotIdentifier }: { snapshotIdentifier: string }): Promise<SnapshotResult> {
        await sleep(stepMs);
        return { snapshotIdentifier, snapshotArn: `arn:aws:rds:${REGION}:${ACCOUNT}:cluster-snapshot:${snapshotIdentifier}`, status: 'available', created: true };
      },
      async ecsSetVersion({ tenantId, version }: { tenantId: string; version: string }): Promise<ApplyResult> {
        await sleep(stepMs);
        return { changed: true, revision: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/tenant-${tenantId}:${version}` };
      },
      async ecsWaitForRollout(): Promise<RolloutStatus> {
        await sleep(stepMs);
        return { ready: true, updatedReplicas: 2, readyReplicas: 2, desiredReplicas: 2 };
      },
      /** ecsSetVersion and ecsWaitForRollout in one activity, as the product's: still two steps of work. */
      async ecsDeployVersion(): Promise<DeployResult> {
        await sleep(2 * stepMs);
        return { ready: true, updatedReplicas: 2, readyReplicas: 2, desiredReplicas: 2, changed: true };
      },
      /** ecsCurrentWorkload and getStackOutputs side by side, as the product's: one step of wall time, as when the workflow overlapped them. */
      async ecsInspectForRelease({ tenantId, stackName }: { tenantId: string; stackName: string }): Promise<EcsReleaseInspection> {
        await sleep(stepMs);
        return { current: currentOf(tenantId), outputs: outputsOf(stackName) };
      },
      /** ecsInspectForRelease, then snapshotCluster, in one activity, as the product's: two steps of wall time. */
      async ecsPrepareRelease({ tenantId, stackName, snapshot }: { tenantId: string; stackName: string; snapshot: { identifier: string } }): Promise<EcsReleasePreparation> {
        await sleep(2 * stepMs);
        return { current: currentOf(tenantId), outputs: outputsOf(stackName), snapshot: snapshot.identifier };
      },
      /** ecsDeployVersion and putTenantParameters in one activity, as the product's: three steps of work. */
      async ecsDeployAndRecord(): Promise<DeployResult> {
        await sleep(3 * stepMs);
        return { ready: true, updatedReplicas: 2, readyReplicas: 2, desiredReplicas: 2, changed: true };
      },
      async verifyTenantHealth(): Promise<VerifyResult> {
        await sleep(stepMs);
        return { healthy: true, checks: 1 };
      },
      async putTenantParameters({ parameters }: { parameters: Record<string, string> }): Promise<{ written: string[]; unchanged: string[] }> {
        await sleep(stepMs);
        return { written: Object.keys(parameters), unchanged: [] };
      },
      /**
       * The release's active bake (awsWait queue): healthy tenants never regress, so the watch
       * comes back at the bake's end with none, as the product's does. Without it the release
       * waited out the activity's retries at the first bake.
       */
      async watchBake({ until, tenants }: BakeWatchInput): Promise<BakeWatchResult> {
        for (let left = until - Date.now(); left > 0; left = until - Date.now()) {
          await sleep(Math.min(left, 10_000));
          heartbeat();
        }
        return { regressions: [], checks: 1, watched: Object.keys(tenants.of).length };
      },
      /** The raw-throughput workflow's step: nothing at all, so only Temporal's own cost remains. */
      async benchNoop(): Promise<void> {
        await Promise.resolve();
      },
    },
  };
}

export type SimulatedAwsActivities = ReturnType<typeof createSimulatedActivities>['aws'];
