import {
  CancellationScope,
  isCancellation,
  patched,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { CloudFormationActivities } from '../activities/cloudformation';
import type { FleetActivities } from '../activities/fleet';
import type { HealthActivities } from '../activities/verify-health';
import type { RdsActivities } from '../activities/rds';
import { redeploy, restoreDatabase, retireReplaced, type RestoredDatabase } from './restore-database';
import type { SsmActivities } from '../activities/ssm';
import { legacyPreReleaseSnapshotId, preReleaseSnapshotId, stackNameFor } from '../shared/ids';
import type { WatchSpec } from '../shared/release/bake-watch';
import {
  releaseTenantInputSchema,
  releaseTenantProgressQuery,
  stopTenantSignal,
  type ReleaseTenantInput,
  type ReleaseTenantProgress,
  type ReleaseTenantResult,
  type ReleaseTenantStep,
  type ColourProgress,
} from '../shared/messages/release';
import { blueGreenDeploy, blueGreenRevert } from './blue-green';
import { EnvironmentKey, ReleaseIdKey, TenantIdKey } from '../shared/search-attributes';
import type { TenantSpec } from '../shared/tenant-spec';
import type { ReleaseTarget, RolloutStatus } from '../activities/runtime/types';
import { ErrorType, permanentFailure } from '../shared/errors';
import { manifestProblems, releaseTargetFor, splitImageReference, uniformTargetFor } from '../shared/release/manifest';
import { recordedTargetFor, releaseRecordParameters, type ReleaseRecord } from '../shared/release/record';
import { activitiesFor, fleetCall } from './activity-options';
import { trafficStackNameFor } from './tenant-footprint';
import { tenantRuntime, type TenantRuntime } from './runtime';
import { tenantDeliveryMetrics } from './tenant-delivery-metrics';
import { messageOf } from './steps';
import { deployWindow, skipNote } from './maintenance-window';
import { MIGRATION_PATCH, runMigration } from './release-migration';
import { changeTenantStack, restoreTenantStack, stackBeforeRelease, TEMPLATE_BACK_PATCH, TEMPLATE_PATCH, type PreviousStack } from './release-template';
import { describeChanges, type StackChangeRecord } from '../shared/release/stack-change';
import { describeMigration, type MigrationRun } from '../shared/release/migration';
import { parseOrFail } from '../shared/validation';
import { withTenantLock, type LockOptions } from './with-tenant-lock';
import { TenantMaintenance } from './maintenance-mode';

const fleet = activitiesFor<FleetActivities>();
/** The spec is read from the workflow worker's own fleet config: no need to go through a task queue. */
const fleetLocal = proxyLocalActivities<FleetActivities>(fleetCall);
const cfn = activitiesFor<CloudFormationActivities>();
const rds = activitiesFor<RdsActivities>();
const ssm = activitiesFor<SsmActivities>();
/** The verification activity lives as long as its window, plus room for the last checks (and one retry after a lost worker). */
const healthFor = (verifyWindowMs: number) =>
  activitiesFor<HealthActivities>({ startToCloseTimeout: verifyWindowMs + 5 * 60_000, scheduleToCloseTimeout: 2 * verifyWindowMs + 15 * 60_000 });

/**
 * Measured by `npm run bench` (#10): the spec is loaded while the lock is requested, both as
 * local activities, the current version is read together with the stack outputs, and the lock
 * is released by a local activity: four workflow tasks and two activity tasks fewer per tenant
 * (12 and 9 before). Histories recorded before it replay the old order.
 */
export const FEWER_ROUND_TRIPS_PATCH = 'release-tenant-fewer-round-trips';
/**
 * Reverting after an abort restores the database only when the release asked for it
 * (`restoreDatabaseOnRevert`, with a snapshot age limit); runs before it restored whenever
 * `restoreDatabaseOnRollback` was set, however old the snapshot.
 */
export const REVERT_KEEPS_DATA_PATCH = 'release-tenant-revert-keeps-data';
/** Before its snapshot, a release prunes the tenant's older pre-release snapshots (fleet config `snapshots.preRelease`). */
export const SNAPSHOT_RETENTION_PATCH = 'release-tenant-snapshot-retention';
/** Pre-release snapshot IDs carry a hash of the release and tenant IDs (shared/ids.ts); runs before it named them without. */
export const SNAPSHOT_ID_HASH_PATCH = 'release-tenant-snapshot-id-hash';
/** Verification also watches the tenant's target group: its load balancer alarms and the failed requests it counted. */
export const VERIFY_TARGET_GROUP_PATCH = 'release-tenant-verify-target-group';
/**
 * Measured by `npm run bench` (#22), fewer events and workflow tasks per tenant:
 * - the lock is claimed by starting its workflow already held when it is free (with-tenant-lock.ts),
 *   so neither workflow takes a task for the grant;
 * - the version is set and its rollout awaited by one activity (runtime `deploy`);
 * - search attributes the release set at the child's start are not upserted again;
 * - one patch marker: this patch implies every patch above, so they are not asked (each asked
 *   patch records a marker event).
 * Histories recorded before it replay the old path.
 */
export const LEAN_PATCH = 'release-tenant-lean';
/**
 * Measured by `npm run bench` (#22): on ECS, where every call runs on the AWS queue, a deploy
 * reads the workload and the stack outputs, prunes older snapshots (with snapshot retention) and
 * takes its snapshot in one activity (reads merged into the change they decide), and records the
 * version in the deploy's activity once its rollout is ready (runtime/ecs-release.ts); a revert or
 * rollback reads both in one activity. Three activity tasks and three workflow tasks fewer per
 * deployed tenant (four with retention). The record now precedes the
 * verification, and a rollback records the version it goes back to, as before.
 *
 * The release asks this patch (release-wave.ts) and starts its children with `steps: 'merged'`;
 * the child follows its input and asks no patch at all (it implies LEAN_PATCH), which saves the
 * marker and the search attribute update every asked patch records: two events per tenant.
 * Kubernetes tenants, whose runtime has a queue of its own, keep the lean steps. Children started
 * without it (by releases recorded before it) replay the lean path.
 */
export const MERGED_STEPS_PATCH = 'release-tenant-merged-steps';
/**
 * A release with a target (docs/releases.md, "Release manifests"): a tenant with services, or a
 * release with a manifest. It reads the tenant's recorded targets with the workload, deploys every
 * service's image and variables, records its target beside the version, and goes back to the
 * previous target whole. Asked only by such runs, so every history without one replays unchanged.
 */
export const SERVICES_PATCH = 'release-tenant-services';
/** Colours exist for the primary service only (docs/releases.md, "Release manifests"). */
export const BLUE_GREEN_TARGET_REFUSAL = 'blue/green releases switch the primary service only: a tenant with services, or a release with a manifest, rolls';

/**
 * One tenant in one release (ID `release/<releaseId>/tenant/<id>`), holding the tenant's lock:
 * snapshot the database, deploy, verify, and roll back to the previous version on failure.
 * A `stopTenant` signal (the release was aborted with rollback) interrupts the deploy or the
 * verification and rolls back too. `revert` mode undoes a finished deploy after an abort.
 */
export async function releaseTenant(rawInput: ReleaseTenantInput): Promise<ReleaseTenantResult> {
  const input = parseOrFail(releaseTenantInputSchema, rawInput, 'releaseTenant input');
  const { tenantId, releaseId } = input;
  let progress: ReleaseTenantProgress = { tenantId, step: 'lock' };
  /** Blue/green tenants' colours and weights, kept across steps (src/workflows/blue-green.ts). */
  let colours: ColourProgress | undefined;
  const step = (name: ReleaseTenantStep, detail?: string, nowColours?: ColourProgress) => {
    colours = nowColours ?? colours;
    progress = { tenantId, step: name, detail, ...(colours ? { colours } : {}) };
    const weights = colours ? ` [blue ${colours.weights.blue} % / green ${colours.weights.green} %]` : '';
    setCurrentDetails(`**${input.mode} ${input.version}** on ${tenantId}: ${name}${detail ? ` (${detail})` : ''}${weights}`);
  };
  setHandler(releaseTenantProgressQuery, () => progress);
  const window = deployWindow(input);

  // The deploy and verification run in this scope, so a stop can interrupt the waits inside them.
  const deployScope = new CancellationScope();
  let stopReason: string | undefined;
  setHandler(stopTenantSignal, ({ reason }) => {
    stopReason ??= reason;
    deployScope.cancel();
  });

  const mergedSteps = input.steps === 'merged';
  const lean = mergedSteps || patched(LEAN_PATCH);
  /** A patch this run follows: every one before LEAN_PATCH is implied by it (and so records no marker of its own). */
  const follows = (patch: string) => lean || patched(patch);
  const fewerRoundTrips = follows(FEWER_ROUND_TRIPS_PATCH);
  const delivery = tenantDeliveryMetrics(input.plan);
  // The release sets them at the start (release-wave.ts); a child started without them (or by hand) sets them itself.
  const startedWith = workflowInfo().typedSearchAttributes;
  const missing = [
    { key: TenantIdKey, value: tenantId },
    { key: ReleaseIdKey, value: releaseId },
  ].filter(({ key, value }) => startedWith.get(key) !== value);
  if (missing.length > 0) upsertSearchAttributes(missing);
  const tenantSpec = (fewerRoundTrips ? fleetLocal : fleet).loadTenantSpec({ tenantId }).then((spec) => {
    if (startedWith.get(EnvironmentKey) !== spec.environment) upsertSearchAttributes([{ key: EnvironmentKey, value: spec.environment }]);
    return spec;
  });
  if (fewerRoundTrips) {
    // Awaited only once the lock is granted: a refused lock must not turn a failed load into an unhandled rejection.
    void tenantSpec.catch(() => undefined);
  } else {
    await tenantSpec;
  }

  // Not waiting: a tenant busy with provisioning fails fast with TenantLocked and the release retries it later.
  // A rollback after a regression in the bake waits its turn: giving up would leave the tenant on the bad version.
  // The spec upserts a search attribute once it loads; a failed wait must come after that (failing the workflow is its last command).
  if (input.maintenance) await tenantSpec.catch(() => undefined);
  // Before the lock: a tenant waiting hours for its window must not block its provisioning meanwhile.
  const opening = await window.wait((detail) => step('window', detail), () => stopReason);
  if (!opening.go) {
    const stopped: ReleaseTenantResult = { tenantId, status: 'skipped', reason: `not deployed: ${opening.reason}`, deployed: false };
    step('done', `${stopped.status}: ${stopped.reason}`);
    return stopped;
  }

  const rollingBack = input.mode === 'rollback';
  const lock: LockOptions = {
    operation: `release ${releaseId} (${input.mode} ${input.version})`,
    wait: rollingBack,
    timeout: rollingBack ? '15 minutes' : '2 minutes',
    viaLocalActivities: fewerRoundTrips,
    claimIfFree: lean,
  };
  // A release in maintenance mode takes the tenant's traffic away for its deploy and gives it back however the deploy ends.
  // Never with blue/green (refused when the release is planned): its shifts write the same rule.
  const maintenance = new TenantMaintenance(input.mode === 'deploy' && !input.strategy ? input.maintenanceMode : undefined, step);
  const locked = await withTenantLock(tenantId, lock, () => maintenance.around(async (): Promise<ReleaseTenantResult> => {
    const tenant = await tenantSpec;
    const runtime = tenantRuntime(tenant);
    const merged = mergedSteps ? runtime.releaseSteps : undefined;
    const release = releaseTargetOf(tenant, input);
    step('inspect');
    const stack = { target: tenant.aws, stackName: stackNameFor(tenantId) };
    const readOutputs = async () => (await cfn.getStackOutputs(stack)) ?? {};
    const snapshotId = () => (follows(SNAPSHOT_ID_HASH_PATCH) ? preReleaseSnapshotId : legacyPreReleaseSnapshotId)(releaseId, tenantId);
    const snapshotTags = { TenantId: tenantId, ReleaseId: releaseId, Reason: 'pre-release' };
    const retention = tenant.snapshotRetention;
    // Room for the snapshot about to be taken, so the tenant never holds more than `keep`.
    const prune = retention ? { keep: retention.keep - 1, maxAgeMs: retention.maxAgeMs } : undefined;
    // A deploy's reads, the pruning of older snapshots and its snapshot in one step; in maintenance
    // mode the snapshot waits for the maintenance page, so the reads go alone.
    // With a target, the tenant's recorded targets come with the workload: what a rollback goes back to.
    const readRelease = release ? { readRelease: true } : {};
    const readRecord = (): Promise<ReleaseRecord | undefined> => (release ? ssm.readReleaseRecord({ target: tenant.aws, tenantId }) : Promise.resolve(undefined));
    const prepared =
      merged && input.mode === 'deploy' && !maintenance.asked
        ? await merged.prepare({ ...stack, ...readRelease }, { version: input.version, snapshot: { identifier: snapshotId(), tags: snapshotTags }, ...(prune ? { prune } : {}) })
        : undefined;
    const [current, stackOutputs, record] = prepared
      ? ([prepared.current, prepared.outputs ?? {}, prepared.record] as const)
      : merged
        ? await merged.inspect({ ...stack, ...readRelease }).then(({ current, outputs, record }) => [current, outputs ?? {}, record] as const)
        : fewerRoundTrips
          ? await Promise.all([runtime.current(), readOutputs(), readRecord()])
          : [await runtime.current(), undefined, await readRecord()];
    /** What going back to `to` sets: the target recorded for that version, else each service's repository at it. */
    const targetBack = (to: string): ReleaseTarget | undefined => (release ? (recordedTargetFor(record, to) ?? uniformTargetFor(tenant, to, release)) : undefined);
    if (!current) return { tenantId, status: 'skipped', reason: `tenant ${tenantId} has no workload: provision it first`, deployed: false };
    const outputs = stackOutputs ?? (await readOutputs());
    /** The stack before this release changed it (a release carrying the template), once its change set was sent to execute. */
    let stackBefore: PreviousStack | undefined;
    const undo = (to: string, why: string, snapshot?: string, restore: Restore = { database: input.restoreDatabaseOnRollback }) =>
      rollBack({ runtime, tenant, outputs, to, toTarget: targetBack(to), why, snapshot, restore, step, stackBefore });

    if (input.strategy && release) return { tenantId, status: 'skipped', reason: `not deployed: ${BLUE_GREEN_TARGET_REFUSAL}`, deployed: false };
    // Blue/green tenants go back by switching colours (docs/releases.md, "Blue/green"); a field only blue/green releases set.
    if (input.strategy && input.mode !== 'deploy') return blueGreenRevert({ input: { ...input, strategy: input.strategy }, tenant, runtime, step });

    if (input.mode === 'revert' || input.mode === 'rollback') {
      const target = input.revertTo ?? current.version;
      // A release carrying the template changed the stack too: it goes back with the version, kept by the deploy's child.
      const stackBack = input.template && patched(TEMPLATE_BACK_PATCH) ? await stackBeforeRelease(tenant, releaseId, input.template) : {};
      stackBefore = stackBack.previous;
      const note = (reason: string) => (stackBack.note ? `${reason}; ${stackBack.note}` : reason);
      if (current.version === target && !stackBefore) return { tenantId, status: 'rolled-back', reason: note(`already on ${target}`), previousVersion: target, deployed: false };
      // Another release may have moved the tenant on since: only this release's version is undone.
      if (current.version !== target && current.version !== input.version) {
        const reason = input.mode === 'revert' ? `not reverted: runs ${current.version}, not ${input.version}` : `runs ${current.version}, not ${input.version}`;
        return { tenantId, status: 'skipped', reason: note(reason), previousVersion: target, deployed: false };
      }
      const snapshot = outputs.DatabaseClusterIdentifier ? snapshotId() : undefined;
      const revertRestore = (): Restore =>
        follows(REVERT_KEEPS_DATA_PATCH)
          ? { database: input.restoreDatabaseOnRevert !== undefined, maxSnapshotAgeMs: input.restoreDatabaseOnRevert?.maxSnapshotAgeMs }
          : { database: input.restoreDatabaseOnRollback };
      // A rollback is the same one a failed verification makes (docs/releases.md, "Active bake"), once the tenant is on this release's version.
      const undone = input.mode === 'revert' ? await undo(target, 'release aborted', snapshot, revertRestore()) : await undo(target, input.reason ?? 'regressed during the bake', snapshot);
      return { ...undone, ...(stackBack.note ? { reason: note(undone.reason ?? '') } : {}), previousVersion: target, snapshot, deployed: true };
    }

    const previousVersion = current.version;
    const previousTarget = targetBack(previousVersion);
    // A blue/green tenant's live colour decides (blue-green.ts): the version read here may be the idle one's.
    // A release carrying the template changes the stack of a tenant already on the version too.
    const template = input.template;
    if (previousVersion === input.version && !input.strategy && !template) return { tenantId, status: 'succeeded', reason: `already on ${input.version}`, previousVersion, deployed: false };
    const notStarted = (snapshot?: string): ReleaseTenantResult => ({ tenantId, status: 'skipped', reason: `not deployed: ${stopReason}`, previousVersion, snapshot, deployed: false });
    if (maintenance.asked && !stopReason) {
      const refused = await maintenance.begin(tenant);
      if (refused) return { tenantId, status: 'skipped', reason: `not deployed: ${refused}`, previousVersion, deployed: false };
    }
    if (prepared) {
      if (prepared.retentionNotApplied !== undefined) step('snapshot', `retention not applied: ${prepared.retentionNotApplied}`);
    } else {
      if (stopReason) return notStarted();
      step('snapshot');
    }
    if (!prepared && outputs.DatabaseClusterIdentifier && prune && follows(SNAPSHOT_RETENTION_PATCH)) {
      try {
        await rds.prunePreReleaseSnapshots({ target: tenant.aws, tenantId, clusterIdentifier: outputs.DatabaseClusterIdentifier, ...prune, except: snapshotId() });
      } catch (error) {
        // The snapshot below still has its quota's reserve; a release is not stopped by housekeeping.
        step('snapshot', `retention not applied: ${messageOf(error)}`);
      }
    }
    const snapshot = prepared
      ? prepared.snapshot
      : outputs.DatabaseClusterIdentifier
        ? (await rds.snapshotCluster({ target: tenant.aws, clusterIdentifier: outputs.DatabaseClusterIdentifier, snapshotIdentifier: snapshotId(), tags: snapshotTags })).snapshotIdentifier
        : undefined;
    if (stopReason) return notStarted(snapshot);
    if (input.strategy) {
      return blueGreenDeploy({ input: { ...input, strategy: input.strategy }, tenant, runtime, snapshot, step, scope: deployScope, stopReason: () => stopReason });
    }

    let failure: string | undefined;
    let watch: WatchSpec | undefined;
    let migration: MigrationRun | undefined;
    let stackChange: StackChangeRecord | undefined;
    try {
      await deployScope.run(async () => {
        // The infrastructure first: the new version may need what the template adds.
        if (template && patched(TEMPLATE_PATCH)) {
          try {
            const changed = await changeTenantStack(tenant, releaseId, template, (detail) => step('infrastructure', detail), (previous) => (stackBefore = previous));
            stackChange = changed.record;
          } catch (error) {
            if (isCancellation(error)) throw error;
            failure = `stack change failed: ${messageOf(error)}`;
            return;
          }
        }
        // The new version's schema change before it takes traffic; the old version keeps running meanwhile.
        if (input.migration && patched(MIGRATION_PATCH)) {
          step('migrate', `${input.migration.command.join(' ')} with ${input.version}`);
          // With a target, the primary service's image from it: its tag need not be the version.
          migration = await runMigration(tenant, releaseId, input.version, input.migration, release ? splitImageReference(release.services[0]!.image) : undefined);
          step('migrate', describeMigration(migration));
          if (!migration.succeeded) {
            failure = `migration failed: ${describeMigration(migration)}`;
            return;
          }
        }
        step('deploy', previousVersion === input.version ? `already on ${input.version}` : `${previousVersion} → ${input.version}`);
        let rollout: Pick<RolloutStatus, 'ready' | 'failureReason'>;
        if (previousVersion === input.version) {
          // Only the stack changed (a release carrying the template): the workload stays as it is, and is verified.
          rollout = { ready: true };
        } else if (merged) {
          // Also records the version once it is ready (the record step of the other paths).
          rollout = await merged.deployAndRecord(input.version, { target: tenant.aws, ...(previousTarget ? { previous: previousTarget } : {}) }, release);
        } else if (lean) {
          rollout = await runtime.deploy(input.version, release);
        } else {
          await runtime.setVersion(input.version, release);
          rollout = await runtime.waitForRollout();
        }
        if (!rollout.ready) {
          failure = `rollout of ${input.version} failed: ${rollout.failureReason ?? 'not ready'}`;
          return;
        }
        // The new version is ready: users come back before the verification, which judges their requests.
        await maintenance.end();
        step('verify');
        const loadBalancer = tenant.loadBalancer && follows(VERIFY_TARGET_GROUP_PATCH) ? await targetGroupOf(tenant) : undefined;
        // The stack's own error alarm plus any the fleet config lists.
        const alarmNames = [...new Set([...(outputs.ErrorAlarmName ? [outputs.ErrorAlarmName] : []), ...tenant.alarmNames])];
        const verdict = await healthFor(input.verifyWindowMs).verifyTenantHealth({
          tenantId,
          target: tenant.aws,
          alarmNames,
          healthCheckUrl: tenant.healthCheckUrl,
          windowMs: input.verifyWindowMs,
          ...(input.verifyReadsMetrics ? { readMetrics: true } : {}),
          ...(loadBalancer ? { loadBalancer } : {}),
        });
        if (!verdict.healthy) failure = `verification failed: ${verdict.reason ?? 'unhealthy'}`;
        // What the wave's bake goes on watching (an active bake reads it from the result).
        else watch = { target: tenant.aws, alarmNames, ...(loadBalancer ? { loadBalancer: { target: loadBalancer.target, alarmNames: loadBalancer.alarmNames } } : {}) };
      });
    } catch (error) {
      if (isCancellation(error) && stopReason === undefined) {
        // This workflow itself was cancelled (terminating the release): leave the tenant as it was, then stop.
        await undo(previousVersion, 'release cancelled', snapshot);
        throw error;
      }
      failure = stopReason !== undefined ? `stopped: ${stopReason}` : `deploy failed: ${messageOf(error)}`;
    }

    if (failure !== undefined) {
      // A stop is the release's decision, not a failure to restore from.
      const rollBack = () => undo(previousVersion, failure!, snapshot);
      const undone = stopReason === undefined ? await delivery.restoring(tenant, rollBack) : await rollBack();
      return { ...undone, previousVersion, snapshot, deployed: true, ...(migration ? { migration } : {}), ...(stackChange ? { infrastructure: stackChange } : {}) };
    }
    if (!merged) {
      step('record');
      const parameters = release ? releaseRecordParameters(release, previousTarget) : { 'workload/version': input.version };
      await ssm.putTenantParameters({ target: tenant.aws, tenantId, parameters });
    }
    // The stack's changes in the reason, so `tenantctl release status --tenant` shows them.
    const stackNote = stackChange ? { reason: `stack: ${describeChanges(stackChange.changes)} (change set ${stackChange.changeSet})`, infrastructure: stackChange } : {};
    return { tenantId, status: 'succeeded', previousVersion, snapshot, deployed: true, ...(watch ? { watch } : {}), ...(migration ? { migration } : {}), ...stackNote };
  }));
  const note = opening.window && skipNote(opening.window);
  const result: ReleaseTenantResult = opening.window ? { ...locked, window: opening.window, ...(note ? { reason: locked.reason ? `${note}; ${locked.reason}` : note } : {}) } : locked;
  if (input.mode === 'deploy' && stopReason === undefined) delivery.deployed(await tenantSpec, result);
  step('done', `${result.status}${result.reason ? `: ${result.reason}` : ''}`);
  return result;
}

interface Restore {
  database: boolean;
  /** Refuse a snapshot older than this (the setting that says so is named in the refusal). */
  maxSnapshotAgeMs?: number;
}

interface RollBackArgs {
  runtime: TenantRuntime;
  tenant: TenantSpec;
  outputs: Record<string, string>;
  to: string;
  /** With a target (SERVICES_PATCH): every service's image and variables at `to`, recorded beside it. */
  toTarget?: ReleaseTarget;
  why: string;
  snapshot?: string;
  restore: Restore;
  step: (name: ReleaseTenantStep, detail?: string) => void;
  /** The stack as it was before the release changed it: put back after the database, before the workload. */
  stackBefore?: PreviousStack;
}

/** Back to `to`; never interrupted by a stop or a cancellation, so nothing is left half-way. */
function rollBack({ runtime, tenant, outputs, to, toTarget, why, snapshot, restore, step, stackBefore }: RollBackArgs): Promise<Pick<ReleaseTenantResult, 'tenantId' | 'status' | 'reason'>> {
  return CancellationScope.nonCancellable(async () => {
    step('rollback', `to ${to}: ${why}`);
    try {
      // Irreversible migrations: the previous version only runs against the data it knew, so the database goes first.
      let restored: RestoredDatabase | undefined;
      if (restore.database && snapshot && outputs.DatabaseClusterIdentifier) {
        step('restore-database', snapshot);
        restored = await restoreDatabase({ tenant, outputs, snapshot, maxSnapshotAgeMs: restore.maxSnapshotAgeMs });
        step('rollback', `to ${to}: ${why}`);
      }
      if (stackBefore) {
        step('rollback', `to ${to}: ${why}; stack back to its previous template and parameters`);
        await restoreTenantStack(tenant, stackBefore);
      }
      await redeploy(runtime, tenant, to, restored, toTarget);
      const rollout = await runtime.waitForRollout();
      // Whatever the rollout did, the tenant's data and stack are the restored cluster's now.
      const leftOver = await retireReplaced(tenant, restored);
      const also = leftOver ? `; ${leftOver}` : '';
      if (!rollout.ready) {
        return { tenantId: tenant.id, status: 'rollback-failed', reason: `${why}; rollback to ${to} did not become ready: ${rollout.failureReason ?? 'not ready'}${also}` } as const;
      }
      const parameters = toTarget ? releaseRecordParameters(toTarget) : { 'workload/version': to };
      await ssm.putTenantParameters({ target: tenant.aws, tenantId: tenant.id, parameters });
      return { tenantId: tenant.id, status: 'rolled-back', reason: `${why}${also}` } as const;
    } catch (error) {
      return { tenantId: tenant.id, status: 'rollback-failed', reason: `${why}; rollback to ${to} failed: ${messageOf(error)}` } as const;
    }
  });
}

/** The tenant's target group and its alarms, from its traffic stack; undefined for a tenant provisioned without one. */
async function targetGroupOf(tenant: TenantSpec) {
  const lb = tenant.loadBalancer!;
  const outputs = await cfn.getStackOutputs({ target: lb.aws, stackName: trafficStackNameFor(tenant.id) });
  if (!outputs?.TargetGroupFullName || !outputs.LoadBalancerFullName) return undefined;
  const alarmNames = [outputs.TargetErrorsAlarmName, outputs.UnhealthyHostsAlarmName].filter((n): n is string => !!n);
  return { target: lb.aws, alarmNames, loadBalancerFullName: outputs.LoadBalancerFullName, targetGroupFullName: outputs.TargetGroupFullName };
}

/**
 * The release's target on `tenant` (shared/release/manifest.ts), or undefined on the path every
 * release took before services and manifests: a tenant without services released without one. A
 * manifest that does not fit the tenant was refused by tenantctl; a run started by hand is refused here.
 */
function releaseTargetOf(tenant: TenantSpec, input: ReturnType<typeof releaseTenantInputSchema.parse>): ReleaseTarget | undefined {
  if (!tenant.services && !input.manifest) return undefined;
  const problems = input.manifest ? manifestProblems(input.manifest, tenant) : [];
  if (problems.length > 0) {
    throw permanentFailure(ErrorType.InvalidInput, `release ${input.releaseId}: manifest ${input.manifest!.version} does not fit tenant ${tenant.id}: ${problems.join('; ')}`, { details: problems });
  }
  const target = releaseTargetFor(tenant, input.version, input.manifest);
  return target && patched(SERVICES_PATCH) ? target : undefined;
}
