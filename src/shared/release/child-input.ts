import type { ReleaseCommand, ReleasePlanInput } from './machine-types';

export type StartChildCommand = Extract<ReleaseCommand, { type: 'start-child' }>;

/** What a tenant's child workflow starts with: the machine's start command plus the release's options. */
export function childInputOf({ releaseId, version, options, manifest }: ReleasePlanInput, { tenantId, mode, revertTo, reason }: StartChildCommand) {
  return {
    releaseId,
    tenantId,
    version,
    mode,
    revertTo,
    verifyWindowMs: options.verifyWindowMs,
    ...(options.verifyReadsMetrics ? { verifyReadsMetrics: true } : {}),
    restoreDatabaseOnRollback: options.restoreDatabaseOnRollback,
    restoreDatabaseOnRevert: mode === 'revert' ? options.restoreDatabaseOnRevert : undefined,
    ...(reason !== undefined ? { reason } : {}),
    // Only a deploy takes the tenant down: a rollback in the bake or a revert goes back with traffic flowing.
    ...(mode === 'deploy' && options.maintenanceMode ? { maintenanceMode: options.maintenanceMode } : {}),
    // A deploy changes the stack; a revert or a rollback puts back what that deploy's child kept (release-template.ts).
    ...(options.template ? { template: options.template } : {}),
    // Every mode: a revert or rollback computes the target it undoes from it.
    ...(manifest ? { manifest } : {}),
  };
}
