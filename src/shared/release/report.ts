import type { ReleaseProgress, ReleaseStatus, ReleaseSummary, TenantReleaseStatus } from '../messages/release';
import type { MachineState, ReleasePlanInput } from './machine-types';

/** What people read about a release: counts, the progress query's answer, the final summary. */

export type StatusCounts = Record<TenantReleaseStatus, number>;

export function countStatuses(statuses: TenantReleaseStatus[]): StatusCounts {
  const counts: StatusCounts = { pending: 0, running: 0, busy: 0, succeeded: 0, 'rolled-back': 0, 'rollback-failed': 0, skipped: 0 };
  for (const status of statuses) counts[status] += 1;
  return counts;
}

export function describeCounts(counts: StatusCounts): string {
  return (Object.entries(counts) as [TenantReleaseStatus, number][])
    .filter(([status, n]) => n > 0 || status === 'succeeded')
    .map(([status, n]) => `${n} ${status}`)
    .join(', ');
}

/** The UI's "current details" line for a phase. */
export function phaseDetails(input: ReleasePlanInput, state: MachineState, phase: string): string {
  const counts = countStatuses(Object.values(state.tenants).map((t) => t.status));
  return `**release ${input.releaseId}** of \`${input.version}\` (plan ${input.plan}): ${phase}\n\n${describeCounts(counts)}`;
}

export function releaseStatus(state: MachineState): ReleaseStatus {
  if (state.phase === 'succeeded' || state.phase === 'completed-with-failures') return state.phase;
  if (state.abort) return 'aborted';
  if (state.haltReason) return 'halted';
  return state.paused ? 'paused' : 'running';
}

export function progressOf(input: ReleasePlanInput, state: MachineState): ReleaseProgress {
  return {
    releaseId: input.releaseId,
    version: input.version,
    plan: input.plan,
    status: releaseStatus(state),
    phase: state.phase,
    waves: state.waves.map((record, w) => {
      const ids = input.waves[w]!.tenants;
      return { ...record, tenants: ids, counts: countStatuses(ids.map((id) => state.tenants[id]!.status)) };
    }),
    tenants: state.tenants,
    inFlight: Object.keys(state.inFlight ?? {}),
    paused: state.paused,
    abort: state.abort,
    haltReason: state.haltReason,
  };
}

export function summaryOf(input: ReleasePlanInput, state: MachineState): ReleaseSummary {
  const counts = countStatuses(Object.values(state.tenants).map((t) => t.status));
  const tenants = Object.entries(state.tenants).map(([tenantId, t]) => ({
    tenantId,
    wave: input.waves[t.wave]!.name,
    status: t.status,
    reason: t.reason,
    previousVersion: t.previousVersion,
  }));
  const allSucceeded = counts.succeeded === tenants.length;
  const status: ReleaseSummary['status'] = state.abort ? 'aborted' : state.haltReason ? 'halted' : allSucceeded ? 'succeeded' : 'completed-with-failures';
  const reason = state.abort ? `aborted by ${state.abort.by}: ${state.abort.reason}` : state.haltReason;
  return { releaseId: input.releaseId, version: input.version, status, reason, counts, tenants };
}
