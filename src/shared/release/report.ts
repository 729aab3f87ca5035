import type { AbortResult, ReleaseProgress, ReleaseStatus, ReleaseSummary, ReleaseTenantResult, TenantReleaseRecord, TenantReleaseStatus, TenantReport, WaveMaintenance } from '../messages/release';
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

/** Tenants on one page of the `progress` query, by default and at most. */
export const PROGRESS_PAGE_SIZE = 100;
export const PROGRESS_PAGE_SIZE_MAX = 500;

/** How many tenants a listing (failures in progress and summary) names; more are counted, and paged. */
export const LISTED_MAX = 300;
/** A reason in a listing is cut here; the `--tenant` view has it whole. */
export const LISTED_REASON_MAX = 500;

/** Ran and did not (yet) succeed: rolled back, rollback failed, busy, or skipped after trying. */
export function needsAttention(t: TenantReleaseRecord): boolean {
  return t.status === 'rolled-back' || t.status === 'rollback-failed' || t.status === 'busy' || (t.status === 'skipped' && t.attempts > 0) || t.failed === true;
}

function report(input: ReleasePlanInput, tenantId: string, t: TenantReleaseRecord): TenantReport {
  const { wave, reason, ...rest } = t;
  const cut = reason !== undefined && reason.length > LISTED_REASON_MAX ? `${reason.slice(0, LISTED_REASON_MAX - 1)}…` : reason;
  return { tenantId, ...rest, ...(cut !== undefined ? { reason: cut } : {}), wave: input.waves[wave]!.name };
}

function listAttention(input: ReleasePlanInput, state: MachineState): { listed: TenantReport[]; notListed: number } {
  const listed: TenantReport[] = [];
  let notListed = 0;
  for (const [id, t] of Object.entries(state.tenants)) {
    if (!needsAttention(t)) continue;
    if (listed.length < LISTED_MAX) listed.push(report(input, id, t));
    else notListed += 1;
  }
  return { listed, notListed };
}

export interface ProgressAsk {
  page?: number;
  pageSize?: number;
  tenant?: string;
}

/** The `progress` query's answer: bounded at any fleet size (docs/releases.md, "Payload sizes"). */
export function progressOf(input: ReleasePlanInput, state: MachineState, ask: ProgressAsk = {}): ReleaseProgress {
  const { listed, notListed } = listAttention(input, state);
  const current = input.waves[state.waveIndex];
  let currentWave: ReleaseProgress['currentWave'];
  if (current) {
    const byStatus: Partial<Record<TenantReleaseStatus, string[]>> = {};
    for (const id of current.tenants) (byStatus[state.tenants[id]!.status] ??= []).push(id);
    currentWave = { name: current.name, tenants: byStatus };
  }
  let tenants: ReleaseProgress['tenants'] = {};
  let page: ReleaseProgress['page'];
  if (ask.tenant !== undefined) {
    const record = state.tenants[ask.tenant];
    if (record) tenants = { [ask.tenant]: record };
    page = { tenant: ask.tenant };
  } else {
    const ids = Object.keys(state.tenants);
    const pageSize = ask.pageSize ?? PROGRESS_PAGE_SIZE;
    const number = ask.page ?? 1;
    for (const id of ids.slice((number - 1) * pageSize, number * pageSize)) tenants[id] = state.tenants[id]!;
    page = { page: number, pageSize, pages: Math.max(1, Math.ceil(ids.length / pageSize)), total: ids.length };
  }
  return {
    releaseId: input.releaseId,
    version: input.version,
    plan: input.plan,
    status: releaseStatus(state),
    phase: state.phase,
    counts: countStatuses(Object.values(state.tenants).map((t) => t.status)),
    waves: state.waves.map((record, w) => {
      const ids = input.waves[w]!.tenants;
      return { ...record, size: ids.length, counts: countStatuses(ids.map((id) => state.tenants[id]!.status)) };
    }),
    currentWave,
    inFlight: Object.keys(state.inFlight ?? {}),
    failures: listed,
    failuresNotListed: notListed,
    tenants,
    page,
    paused: state.paused,
    abort: state.abort,
    haltReason: state.haltReason,
    ...waitingForWindow(state),
  };
}

/** In-flight tenants waiting for their window: at most `maxInFlight` of the current wave, so the answer stays bounded. */
function waitingForWindow(state: MachineState): Pick<ReleaseProgress, 'waitingForWindow'> {
  const waiting = Object.keys(state.inFlight ?? {}).flatMap((tenantId) => {
    const window = state.tenants[tenantId]?.window;
    return window ? [{ tenantId, ...window }] : [];
  });
  return waiting.length > 0 ? { waitingForWindow: waiting } : {};
}

/** The release's result: counts and the tenants that did not succeed, never a row per tenant that did. */
export function summaryOf(input: ReleasePlanInput, state: MachineState): ReleaseSummary {
  const counts = countStatuses(Object.values(state.tenants).map((t) => t.status));
  const { listed, notListed } = listAttention(input, state);
  const neverStarted = Object.values(state.tenants).filter((t) => t.status === 'skipped' && t.attempts === 0);
  const total = Object.keys(state.tenants).length;
  const status: ReleaseSummary['status'] = state.abort ? 'aborted' : state.haltReason ? 'halted' : counts.succeeded === total ? 'succeeded' : 'completed-with-failures';
  const reason = state.abort ? `aborted by ${state.abort.by}: ${state.abort.reason}` : state.haltReason;
  return {
    releaseId: input.releaseId,
    version: input.version,
    status,
    reason,
    counts,
    tenants: listed.map(({ tenantId, wave, status: s, reason: why, previousVersion }) => ({ tenantId, wave, status: s, reason: why, previousVersion })),
    ...(notListed > 0 ? { notListed } : {}),
    ...(neverStarted.length > 0 ? { notStarted: { count: neverStarted.length, reason: neverStarted[0]!.reason ?? 'not started' } } : {}),
    ...maintenanceByWave(state),
  };
}

function maintenanceByWave(state: MachineState): Pick<ReleaseSummary, 'maintenanceByWave'> {
  const waves = state.waves.flatMap((w) => (w.maintenance ? [{ wave: w.name, ...w.maintenance }] : []));
  return waves.length > 0 ? { maintenanceByWave: waves } : {};
}

/**
 * A wave's outage with one more finished tenant's time on the maintenance page (its result's
 * `maintenance`): what `tenantctl release status` and the summary report per wave.
 */
export function addWaveMaintenance(wave: WaveMaintenance | undefined, tenantId: string, maintenance: NonNullable<ReleaseTenantResult['maintenance']>): WaveMaintenance {
  const sum: WaveMaintenance = wave ? { ...wave } : { tenants: 0, totalMs: 0, maxMs: 0 };
  const ms = maintenance.trafficBack ? Date.parse(maintenance.trafficBack) - Date.parse(maintenance.pageFrom) : NaN;
  if (!Number.isFinite(ms)) return { ...sum, notBack: (sum.notBack ?? 0) + 1 };
  const longest = sum.longest === undefined || ms > sum.maxMs ? { maxMs: ms, longest: tenantId } : {};
  return { ...sum, tenants: sum.tenants + 1, totalMs: sum.totalMs + ms, ...longest };
}

/** `maintenance page max 13.9 s (oscorp), total 23.0 s over 2 tenants`, and how many never got their traffic back. */
export function describeWaveMaintenance(m: WaveMaintenance): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const times = m.tenants > 0 ? `max ${s(m.maxMs)} (${m.longest}), total ${s(m.totalMs)} over ${m.tenants} tenant${m.tenants === 1 ? '' : 's'}` : '';
  const notBack = m.notBack ? `${m.notBack} tenant${m.notBack === 1 ? '' : 's'} still on it` : '';
  return `maintenance page ${[times, notBack].filter(Boolean).join('; ')}`;
}

/** The result as runs before the compact format gave it (a row per tenant): what their recorded histories hold. */
export function legacySummaryOf(input: ReleasePlanInput, state: MachineState): ReleaseSummary {
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

/** How many tenants an abort's reply names; it counts them all. */
export const ABORT_LISTED_MAX = 100;

/** The abort update's reply from the machine's (every tenant that will not start); `legacy` as runs before the compact format sent it. */
export function abortResultOf(stoppedStarting: string[], legacy: boolean): AbortResult {
  return legacy ? { stoppedStarting } : { stoppedStarting: stoppedStarting.slice(0, ABORT_LISTED_MAX), stoppedStartingCount: stoppedStarting.length };
}
