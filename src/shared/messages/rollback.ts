import { defineQuery, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import { imageTagSchema, releaseIdSchema, tenantIdSchema } from '../ids';
import { waveSpecSchema } from './release';

/*
 * What `tenantctl release rollback`, its workflows (src/workflows/release-rollback.ts) and the UI
 * share (docs/releases.md, "Rolling back a blue/green release").
 */

type Colour = 'blue' | 'green';

/** A wave of the rollback: the release's wave of that name, with only its blue/green tenants. */
export const rollbackWaveSchema = waveSpecSchema.pick({ name: true, tenants: true, failureThreshold: true, maxInFlight: true });
export type RollbackWave = z.infer<typeof rollbackWaveSchema>;

export const releaseRollbackInputSchema = z.strictObject({
  releaseId: releaseIdSchema,
  /** The release's version: only a tenant whose live colour runs it is switched back. */
  version: imageTagSchema,
  waves: z.array(rollbackWaveSchema).min(1),
  /** Tenants the release rolled (no colour to switch back to): reported, never touched. */
  refused: z.array(z.strictObject({ tenantId: tenantIdSchema, reason: z.string().min(1).max(500) })).max(100_000),
  /** A wait after each wave but the last, before the next starts (default none: a rollback is urgent). */
  bakeMs: z.number().int().min(0).max(24 * 3_600_000),
  requestedBy: z.string().trim().min(1).max(200),
  reason: z.string().trim().min(1).max(1000),
});
export type ReleaseRollbackInput = z.input<typeof releaseRollbackInputSchema>;

export const rollbackTenantInputSchema = z.strictObject({
  releaseId: releaseIdSchema,
  tenantId: tenantIdSchema,
  version: imageTagSchema,
  requestedBy: z.string().trim().min(1).max(200),
  reason: z.string().trim().min(1).max(1000),
});
export type RollbackTenantInput = z.input<typeof rollbackTenantInputSchema>;

/**
 * A tenant's outcome. `rolled-back`: 100 % on the colour it ran before the release (now, or
 * already); `skipped`: its live colour does not run the release's version, so nothing of this
 * release is left to undo; `retired`: it still runs the release's version but the old colour is
 * gone (its retention ended); `refused`: released rolling; `failed`: the switch or its verification
 * failed; `not-started`: the rollback halted or was stopped before its wave.
 */
export type RollbackTenantStatus = 'rolled-back' | 'skipped' | 'retired' | 'refused' | 'failed' | 'not-started';
/** Outcomes that leave the tenant on the release's version (or unknown): the rollback did not get it back. */
export const NOT_BACK: readonly RollbackTenantStatus[] = ['retired', 'refused', 'failed', 'not-started'];

export interface RollbackTenantResult {
  tenantId: string;
  status: RollbackTenantStatus;
  reason?: string;
  /** The colour now live and the version it runs (rolled-back). */
  colour?: Colour;
  backTo?: string;
  /** What became of `tenant/<id>/retire/<releaseId>`. */
  retire?: RetireSettlement;
}

export type RetireSettlement = 'cancelled' | 'already-closed' | 'none';

export interface RollbackSummary {
  releaseId: string;
  version: string;
  /** `succeeded`: every tenant of the release is off its version; otherwise some are listed with their reasons. */
  status: 'succeeded' | 'completed-with-failures' | 'halted' | 'stopped';
  reason?: string;
  counts: Record<RollbackTenantStatus, number>;
  tenants: RollbackTenantResult[];
  /** The release was still running: it was aborted (without its own revert) and its tenants in flight were stopped. */
  stoppedRelease?: { inFlight: string[] };
}

export interface RollbackProgress extends Omit<RollbackSummary, 'status'> {
  status: 'running' | RollbackSummary['status'];
  wave?: string;
  inFlight: string[];
}

export const stopRollbackInputSchema = z.strictObject({ by: z.string().trim().min(1).max(200), reason: z.string().trim().min(1, 'expected a reason').max(1000) });
export type StopRollbackInput = z.input<typeof stopRollbackInputSchema>;
/** No tenant starts its switch any more; those switching finish theirs (a switch is seconds and is never left half-way). */
export const stopRollbackUpdate = defineUpdate<{ notStarted: number }, [StopRollbackInput]>('stopRollback');
export const rollbackProgressQuery = defineQuery<RollbackProgress>('rollbackProgress');
