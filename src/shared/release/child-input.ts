import type { ReleaseCommand, ReleasePlanInput } from './machine-types';

export type StartChildCommand = Extract<ReleaseCommand, { type: 'start-child' }>;

/** What a tenant's child workflow starts with: the machine's start command plus the release's options. */
export function childInputOf({ releaseId, version, options }: ReleasePlanInput, { tenantId, mode, revertTo, reason }: StartChildCommand) {
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
  };
}
