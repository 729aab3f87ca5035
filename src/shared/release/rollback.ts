import type { ReleaseWaveInput } from '../messages/release';
import type { ReleaseRollbackInput, RollbackSummary, RollbackTenantResult, RollbackTenantStatus, RollbackWave } from '../messages/rollback';
import { NOT_BACK } from '../messages/rollback';

/*
 * `tenantctl release rollback <releaseId>` (docs/releases.md, "Rolling back a blue/green release"):
 * every blue/green tenant of a release whose formerly live colour is still retained switches back
 * to it, in the release's own waves. What is decided here is pure, so the unit tests prove it and
 * the workflows (src/workflows/release-rollback.ts) only carry it out.
 */

type Colour = 'blue' | 'green';
const other = (c: Colour): Colour => (c === 'blue' ? 'green' : 'blue');

/**
 * The rollback a release asks for: its waves in order with only the tenants it released
 * blue/green (a wave left empty is dropped), each wave's failure threshold and concurrency kept;
 * rolled tenants are refused with a reason (a rolling rollback redeploys: `release start`).
 * Undefined when the release released no tenant blue/green.
 */
export function planRollback(release: ReleaseWaveInput, request: { requestedBy: string; reason: string; bakeMs?: number }): ReleaseRollbackInput | undefined {
  const blueGreen = new Set((release.blueGreen ?? []).flatMap((g) => g.tenants));
  const waves = release.waves
    .map((w) => ({ name: w.name, tenants: w.tenants.filter((t) => blueGreen.has(t)), failureThreshold: w.failureThreshold, maxInFlight: w.maxInFlight }))
    .filter((w) => w.tenants.length > 0);
  if (waves.length === 0) return undefined;
  const refused = release.waves.flatMap((w) =>
    w.tenants
      .filter((t) => !blueGreen.has(t))
      .map((tenantId) => ({ tenantId, reason: `released rolling, so it has no retained colour to switch back to: redeploy its previous version (tenantctl release start --tenants ${tenantId} --version <previous>)` })),
  );
  return { releaseId: release.releaseId, version: release.version, waves, refused, bakeMs: request.bakeMs ?? 0, requestedBy: request.requestedBy, reason: request.reason };
}

/** What a tenant's rollback child reads, under the tenant's lock, before it decides. */
export interface TenantRollbackFacts {
  releaseVersion: string;
  weights: { blue: number; green: number; forwards: boolean };
  colours: Record<Colour, { exists: boolean; version?: string; desiredReplicas: number; readyReplicas: number }>;
}

export type TenantRollbackDecision =
  /** Switch: 100 % on `to` (warm, running `toVersion`), then the release's colour `from` to 0. */
  | { action: 'switch'; from: Colour; to: Colour; toVersion: string }
  /** Already all on `to`, the release's colour at 0 (the release's own revert, or an earlier run): only the retirement and the record are left. */
  | { action: 'settle'; from: Colour; to: Colour; toVersion: string }
  | { action: 'report'; status: Extract<RollbackTenantStatus, 'skipped' | 'retired' | 'failed'>; reason: string };

/**
 * The live colour takes the larger weight (a release holding the lock never leaves a mix; one
 * found anyway is treated like its larger side). A tenant is switched back only when its live
 * colour runs the release's version and the other colour still runs an older one, scaled up and
 * ready: a colour scaled to 0 is retired (going back needs a deploy, not a switch), and a live
 * colour running neither version means a later release moved the tenant on.
 */
export function decideTenantRollback({ releaseVersion, weights, colours }: TenantRollbackFacts): TenantRollbackDecision {
  if (!weights.forwards) return { action: 'report', status: 'failed', reason: 'its listener rule does not forward (a maintenance page?): left alone; roll it back once it forwards again' };
  const live: Colour = weights.green > weights.blue ? 'green' : 'blue';
  const idle = other(live);
  const liveVersion = colours[live].version;
  const idleVersion = colours[idle].version;
  if (liveVersion !== releaseVersion) {
    if (idleVersion === releaseVersion && liveVersion !== undefined && weights[live] === 100) {
      // Scaled down already: what is left (the retirement, the record) is safe whatever put it back.
      if (colours[idle].desiredReplicas === 0) return { action: 'settle', from: idle, to: live, toVersion: liveVersion };
      // Still warm: a later release's retained colour (that release moved the tenant on), or an unfinished clean-up; neither is this rollback's to scale down.
      return { action: 'report', status: 'skipped', reason: `${live} (${liveVersion}) takes all the traffic and ${idle} still runs ${releaseVersion} warm: retained by a later release, or left by an unfinished rollback; not touched` };
    }
    return { action: 'report', status: 'skipped', reason: `its live colour ${live} runs ${liveVersion ?? 'nothing'}, not ${releaseVersion}: this release never deployed it, or a later release moved it on` };
  }
  if (!colours[idle].exists || idleVersion === undefined) return { action: 'report', status: 'retired', reason: `${idle} runs nothing: there is no previous version to switch back to` };
  if (idleVersion === releaseVersion) return { action: 'report', status: 'skipped', reason: `both colours run ${releaseVersion}: there is no previous version to switch back to` };
  if (colours[idle].desiredReplicas === 0) {
    return { action: 'report', status: 'retired', reason: `${idle} (${idleVersion}) is already retired (scaled to 0 after its retention): go back with a release of ${idleVersion} (tenantctl release start --version ${idleVersion})` };
  }
  if (colours[idle].readyReplicas === 0) {
    return { action: 'report', status: 'failed', reason: `${idle} (${idleVersion}) has no ready replica (0 of ${colours[idle].desiredReplicas}): not switched, traffic stays on ${live}` };
  }
  return { action: 'switch', from: live, to: idle, toVersion: idleVersion };
}

/** A wave's failure threshold (as the release's waves count it): exceeded halts the rollback before the next wave. */
export function thresholdExceeded(wave: Pick<RollbackWave, 'failureThreshold' | 'tenants'>, failed: number): boolean {
  const t = wave.failureThreshold;
  return 'count' in t ? failed > t.count : (failed * 100) / wave.tenants.length > t.percent;
}

export const emptyRollbackCounts = (): Record<RollbackTenantStatus, number> => ({ 'rolled-back': 0, skipped: 0, retired: 0, refused: 0, failed: 0, 'not-started': 0 });

export function countRollback(tenants: RollbackTenantResult[]): Record<RollbackTenantStatus, number> {
  const counts = emptyRollbackCounts();
  for (const t of tenants) counts[t.status] += 1;
  return counts;
}

/** `succeeded` only when no tenant is left on the release's version by this rollback (NOT_BACK). */
export function rollbackStatusOf(tenants: RollbackTenantResult[], ended: { halted?: string; stopped?: string }): RollbackSummary['status'] {
  if (ended.stopped !== undefined) return 'stopped';
  if (ended.halted !== undefined) return 'halted';
  return tenants.some((t) => NOT_BACK.includes(t.status)) ? 'completed-with-failures' : 'succeeded';
}
