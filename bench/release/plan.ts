import type { ReleasePlan } from '../../src/shared/config/schema';
import { releaseWaveInputSchema, type ReleaseWaveInput } from '../../src/shared/messages/release';
import { cutWaves } from '../../src/shared/release/plan';
import { parseOrThrow } from '../../src/shared/validation';

export interface BenchPlan {
  tenants: number;
  maxInFlight: number;
  stepMs: number;
  stepsPerTenant: number;
  /** Between waves (not after the last). */
  bakeMs: number;
  /** An approval gate after the canary wave (the control-latency scenario). */
  approvalAfterCanary?: boolean;
  /** One wave of every tenant instead of canary / 10% / 50% / rest (the memory scenario). */
  singleWave?: boolean;
}

/** Tenant IDs unique to one release, so its tenants' lock workflows are its own. */
export const tenantIds = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

/** Canary 1, 10 %, 50 %, rest, cut by the product's own cutWaves; or one wave. */
export function releaseInput(releaseId: string, prefix: string, plan: BenchPlan): ReleaseWaveInput {
  const waves: ReleasePlan['waves'] = plan.singleWave
    ? [{ name: 'all', tenants: 'rest', maxInFlight: plan.maxInFlight, failureThreshold: { count: 0 }, bake: 0 }]
    : [
        { name: 'canary', tenants: 1, maxInFlight: plan.maxInFlight, failureThreshold: { count: 0 }, bake: plan.bakeMs, ...(plan.approvalAfterCanary ? { approval: { required: true, timeout: 600_000, onTimeout: 'abort' as const } } : {}) },
        { name: 'early', percent: 10, maxInFlight: plan.maxInFlight, failureThreshold: { count: 0 }, bake: plan.bakeMs },
        { name: 'half', percent: 50, maxInFlight: plan.maxInFlight, failureThreshold: { count: 0 }, bake: plan.bakeMs },
        { name: 'rest', tenants: 'rest', maxInFlight: plan.maxInFlight, failureThreshold: { count: 0 }, bake: 0 },
      ];
  return parseOrThrow(
    releaseWaveInputSchema,
    {
      releaseId,
      version: '2.0.0',
      plan: 'bench',
      environments: ['bench'],
      waves: cutWaves({ waves }, tenantIds(prefix, plan.tenants)),
      options: { verifyWindowMs: 0, restoreDatabaseOnRollback: false, rollbackOnAbort: false, busyRetry: { attempts: 5, delayMs: 30_000 } },
      requestedBy: 'bench',
    },
    'bench release',
  );
}

/**
 * The fastest this plan can possibly go: each wave in ceil(tenants / in-flight) rounds of one
 * tenant's steps, plus the bake times. Everything above it is orchestration.
 */
export function idealCriticalPathMs(input: ReleaseWaveInput, plan: BenchPlan): number {
  const tenantMs = plan.stepsPerTenant * plan.stepMs;
  return input.waves.reduce((total, wave) => total + Math.ceil(wave.tenants.length / wave.maxInFlight) * tenantMs + wave.bakeMs, 0);
}
