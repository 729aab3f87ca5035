import type { EcsMigrationActivities } from '../activities/runtime/ecs-migration';
import type { KubernetesMigrationActivities } from '../activities/runtime/kubernetes-migration';
import type { ReleaseTenantInput } from '../shared/messages/release';
import type { MigrationRun } from '../shared/release/migration';
import type { TenantSpec } from '../shared/tenant-spec';
import { activitiesFor } from './activity-options';

/**
 * A deploy with a migration (its input's `migration`) runs it after the snapshot and before the
 * deploy (docs/releases.md, "Migrations"). Only children given a migration ask the patch, so no
 * other release's history changes.
 */
export const MIGRATION_PATCH = 'release-tenant-migration';

/**
 * Runs the release's migration of one tenant with the new image on the tenant's runtime and
 * waits for it: one activity, which finds the run an earlier attempt started. Its start-to-close
 * leaves room for the task to start and its output to be read after the timeout; the
 * schedule-to-close, for one retry after a lost worker (which waits for the same run).
 */
export function runMigration(
  tenant: TenantSpec,
  releaseId: string,
  version: string,
  migration: NonNullable<ReleaseTenantInput['migration']>,
  /** With a release target: the primary service's repository and tag from it (the tag need not be `version`). */
  primary?: { image: string; version: string },
): Promise<MigrationRun> {
  const { command, timeoutMs } = migration;
  const options = { startToCloseTimeout: timeoutMs + 10 * 60_000, scheduleToCloseTimeout: 2 * timeoutMs + 30 * 60_000 };
  const run = { tenantId: tenant.id, releaseId, image: primary?.image ?? tenant.image, version: primary?.version ?? version, command, timeoutMs };
  const runtime = tenant.runtime;
  if (runtime.kind === 'ecs') return activitiesFor<EcsMigrationActivities>(options).ecsRunMigration({ runtime, ...run });
  return activitiesFor<KubernetesMigrationActivities>({ taskQueue: runtime.taskQueue, ...options }).k8sRunMigration({ runtime, ...run });
}
