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
    // Only a deploy changes the stack; going back after it is that child's own rollback.
    ...(mode === 'deploy' && options.template ? { template: options.template } : {}),
    // Every mode: a revert or rollback computes the target it undoes from it.
    ...(manifest ? { manifest } : {}),
  };
}
