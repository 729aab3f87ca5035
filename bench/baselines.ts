import { stackNameFor, preReleaseSnapshotId } from '../src/shared/ids';
import { createSimulatedActivities } from './sim/activities';

/** The same steps a releaseTenant runs, in the same order, as a team would call them without Temporal. */
async function deployTenant(sim: ReturnType<typeof createSimulatedActivities>, releaseId: string, tenantId: string, version: string): Promise<void> {
  const tenant = await sim.fleet.loadTenantSpec({ tenantId });
  if (tenant.runtime.kind !== 'ecs') throw new Error(`bench tenants are ECS tenants (got ${tenant.runtime.kind})`);
  const runtime = tenant.runtime;
  await sim.aws.ecsCurrentWorkload({ tenantId });
  const outputs = await sim.aws.getStackOutputs({ stackName: stackNameFor(tenantId) });
  await sim.aws.snapshotCluster({ snapshotIdentifier: preReleaseSnapshotId(releaseId, tenantId) });
  await sim.aws.ecsSetVersion({ tenantId, version });
  const rollout = await sim.aws.ecsWaitForRollout();
  const verdict = await sim.aws.verifyTenantHealth();
  if (!rollout.ready || !verdict.healthy || !outputs.DatabaseClusterIdentifier || !runtime.clusterName) throw new Error(`simulated tenant ${tenantId} failed`);
  await sim.aws.putTenantParameters({ parameters: { 'workload/version': version } });
}

export interface BaselineResult {
  wallMs: number;
  /** Tenants actually run; the sequential loop runs a prefix and scales linearly when the whole would take too long. */
  measuredTenants: number;
  extrapolated: boolean;
}

/** A plain for loop over the tenants. Linear by construction, so a long one is measured on a prefix and scaled. */
export async function sequentialLoop(tenantIds: string[], stepMs: number, budgetMs: number): Promise<BaselineResult> {
  const sim = createSimulatedActivities(stepMs);
  const tenantMs = Math.max(1, stepMs * 8);
  const count = Math.min(tenantIds.length, Math.max(1, Math.floor(budgetMs / tenantMs)));
  const started = performance.now();
  for (const id of tenantIds.slice(0, count)) await deployTenant(sim, 'baseline', id, '2.0.0');
  const elapsed = performance.now() - started;
  return { wallMs: (elapsed * tenantIds.length) / count, measuredTenants: count, extrapolated: count < tenantIds.length };
}

/** A promise pool with the release's concurrency over all tenants, no waves, no durability. */
export async function promisePool(tenantIds: string[], stepMs: number, concurrency: number): Promise<BaselineResult> {
  const sim = createSimulatedActivities(stepMs);
  const queue = [...tenantIds];
  const started = performance.now();
  const lane = async () => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) await deployTenant(sim, 'baseline', id, '2.0.0');
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { wallMs: performance.now() - started, measuredTenants: tenantIds.length, extrapolated: false };
}
