import { patched } from '@temporalio/workflow';
import type { CloudFormationActivities } from '../activities/cloudformation';
import type { RdsActivities } from '../activities/rds';
import type { ReleaseTarget } from '../activities/runtime/types';
import type { TenantSpec } from '../shared/tenant-spec';
import { activitiesFor } from './activity-options';
import { trafficStackNameFor, workloadConfigFrom, workloadSpecFor } from './tenant-footprint';
import { redeployTenantStack } from './tenant-stack';
import type { TenantRuntime } from './runtime';
import { messageOf } from './steps';

const rds = activitiesFor<RdsActivities>();
const cfn = activitiesFor<CloudFormationActivities>();

/**
 * After a restore the stack follows the restored cluster's own master secret (RDS restores none:
 * src/activities/rds.ts gives it one), the workload gets the new secret's ARN, and the replaced
 * cluster is deleted, leaving a final snapshot. Runs before it left the stack, the workload's
 * DATABASE_SECRET_ARN and the app role naming the replaced cluster's secret, and that cluster running.
 */
export const RESTORE_FOLLOWS_SECRET_PATCH = 'release-tenant-restore-follows-secret';

/**
 * The workload applied after a restore is the one provisioning applies, traffic stack included
 * (target group, workload security group, ECS log group, execution role and task size). Runs before
 * it applied the configuration alone, which took an ECS service out of its target group (its tasks
 * deregistered, the tenant's users answered with errors) and its tasks out of the group the database admits.
 */
export const RESTORE_KEEPS_TRAFFIC_PATCH = 'release-tenant-restore-keeps-traffic';

export interface RestoreDatabaseArgs {
  tenant: TenantSpec;
  outputs: Record<string, string>;
  snapshot: string;
  maxSnapshotAgeMs?: number;
}

export interface RestoredDatabase {
  /** The stack's outputs after the restore; `changed` when they name another secret than before. */
  outputs: Record<string, string>;
  changed: boolean;
  /** The replaced cluster, to delete once the workload runs against the restored one; none before the patch. */
  retired?: string;
}

export async function restoreDatabase({ tenant, outputs, snapshot, maxSnapshotAgeMs }: RestoreDatabaseArgs): Promise<RestoredDatabase> {
  const restored = await rds.restoreClusterFromSnapshot({
    target: tenant.aws,
    clusterIdentifier: outputs.DatabaseClusterIdentifier!,
    snapshotIdentifier: snapshot,
    ...(maxSnapshotAgeMs !== undefined ? { maxSnapshotAge: { ms: maxSnapshotAgeMs, setting: 'releasePlans[].restoreDatabaseOnRevert.maxSnapshotAge' } } : {}),
  });
  if (!patched(RESTORE_FOLLOWS_SECRET_PATCH)) return { outputs, changed: false };
  if (!restored.masterUserSecretArn || restored.masterUserSecretArn === outputs.DatabaseSecretArn) {
    return { outputs, changed: false, retired: restored.retiredClusterIdentifier };
  }
  // The parameter tags the cluster, so CloudFormation updates it and reads its new secret ARN again.
  const state = await redeployTenantStack(tenant, { databaseRestoredFrom: snapshot });
  return { outputs: state.outputs, changed: true, retired: restored.retiredClusterIdentifier };
}

/**
 * The workload back on `version` (with its release target when it has one: every service's image
 * and variables), with the stack's current references when a restore changed them.
 */
export async function redeploy(runtime: TenantRuntime, tenant: TenantSpec, version: string, restored?: RestoredDatabase, target?: ReleaseTarget) {
  if (!restored?.changed) return runtime.setVersion(version, target);
  if (patched(RESTORE_KEEPS_TRAFFIC_PATCH)) {
    const lb = tenant.loadBalancer;
    const trafficOutputs = lb ? ((await cfn.getStackOutputs({ target: lb.aws, stackName: trafficStackNameFor(tenant.id) })) ?? {}) : {};
    return runtime.apply(workloadSpecFor(tenant, { version, stackOutputs: restored.outputs, trafficOutputs, ...(target ? { release: target } : {}) }));
  }
  return runtime.apply({
    tenantId: tenant.id,
    image: tenant.image,
    version,
    replicas: tenant.replicas,
    config: workloadConfigFrom(tenant, restored.outputs),
    appRoleArn: restored.outputs.AppRoleArn,
  });
}

/** Deletes the replaced cluster; a failure is told, not thrown: the tenant already runs on the restored one. */
export async function retireReplaced(tenant: TenantSpec, restored?: RestoredDatabase): Promise<string | undefined> {
  if (!restored?.retired) return undefined;
  try {
    await rds.retireCluster({ target: tenant.aws, clusterIdentifier: restored.retired });
    return undefined;
  } catch (error) {
    return `the replaced database cluster ${restored.retired} is still there: ${messageOf(error)}`;
  }
}
