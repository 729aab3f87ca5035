import type { CompactReleaseState, ReleaseState, TenantReleaseRecord } from '../messages/release';
import type { ReleasePlanInput } from './machine-types';
import { LISTED_MAX, needsAttention } from './report';

/**
 * The release state as it continues as new, small at any fleet size: the plan already lists
 * every tenant in order, so the state carries only what differs between them, as run-length pairs
 * over a table of distinct records (docs/releases.md, "Payload sizes"). At 5,000 tenants the
 * record-per-tenant format took about 760 KB; this one takes what the failures take.
 */

type Record_ = Omit<TenantReleaseRecord, 'wave'>;

/** Field order fixed, `undefined` dropped: equal records give equal keys whatever order they were written in. */
const FIELDS = ['status', 'attempts', 'reason', 'previousVersion', 'notBefore', 'deployed', 'failed'] as const;

function canonical(record: TenantReleaseRecord): Record_ {
  const out: Partial<Record_> = {};
  for (const field of FIELDS) if (record[field] !== undefined) (out as Record<string, unknown>)[field] = record[field];
  return out as Record_;
}

export function planTenants(input: ReleasePlanInput): { id: string; wave: number }[] {
  return input.waves.flatMap((wave, w) => wave.tenants.map((id) => ({ id, wave: w })));
}

/**
 * Characters of failure reasons the carried state keeps. Each failure has its own reason (an AWS
 * error names the tenant's resources), so without a bound 5,000 failed tenants carry about 1.6 MB.
 */
export const CARRIED_REASONS_MAX = 200_000;
/** What a tenant's record says in place of a reason that did not fit; the tenant's own workflow still has it. */
export const REASON_NOT_CARRIED = 'reason not carried into later runs of the release (too many failures to keep every reason); the tenant\'s workflow release/<release>/tenant/<tenant> has it';

/**
 * The tenants whose reasons are carried in full, within CARRIED_REASONS_MAX: first those the
 * listings of the summary and the progress query name (the first LISTED_MAX needing attention,
 * in plan order), then the current wave's, then the rest in plan order.
 */
function reasonsKept(input: ReleasePlanInput, state: ReleaseState): Set<string> {
  const plan = planTenants(input);
  const listed = plan.filter(({ id }) => needsAttention(state.tenants[id]!)).slice(0, LISTED_MAX);
  const current = plan.filter(({ wave }) => wave === state.waveIndex);
  const kept = new Set<string>();
  let budget = CARRIED_REASONS_MAX;
  for (const { id } of [...listed, ...current, ...plan]) {
    const reason = state.tenants[id]!.reason;
    if (reason === undefined || kept.has(id) || reason.length > budget) continue;
    kept.add(id);
    budget -= reason.length;
  }
  return kept;
}

/** `boundReasons`: false for runs that carried every reason (before the patch release-bounded-reasons). */
export function compactState(input: ReleasePlanInput, state: ReleaseState, { boundReasons = true } = {}): CompactReleaseState {
  const { tenants, ...rest } = state;
  const records: Record_[] = [];
  const index = new Map<string, number>();
  const runs: number[] = [];
  const kept = boundReasons ? reasonsKept(input, state) : undefined;
  for (const { id } of planTenants(input)) {
    const record = canonical(tenants[id]!);
    if (kept && record.reason !== undefined && !kept.has(id)) record.reason = REASON_NOT_CARRIED;
    const key = JSON.stringify(record);
    let at = index.get(key);
    if (at === undefined) {
      at = records.push(record) - 1;
      index.set(key, at);
    }
    if (runs.length > 0 && runs[runs.length - 2] === at) runs[runs.length - 1]! += 1;
    else runs.push(at, 1);
  }
  return { ...rest, format: 2, records, runs };
}

export function isCompact(carried: ReleaseState | CompactReleaseState): carried is CompactReleaseState {
  return (carried as Partial<CompactReleaseState>).format === 2;
}

/** Either format back to the record per tenant the machine works on; each tenant gets its own record to change. */
export function expandState(input: ReleasePlanInput, carried: ReleaseState | CompactReleaseState): ReleaseState {
  if (!isCompact(carried)) return carried;
  const { format: _format, records, runs, ...rest } = carried;
  const plan = planTenants(input);
  let covered = 0;
  for (let r = 0; r < runs.length; r += 2) {
    if (records[runs[r]!] === undefined) throw new Error(`carried release state is corrupt: run ${r / 2} points at record ${runs[r]}, it has ${records.length}`);
    covered += runs[r + 1] ?? 0;
  }
  if (covered !== plan.length) throw new Error(`carried release state does not fit the plan: its runs cover ${covered} tenants, the plan has ${plan.length}`);
  const tenants: ReleaseState['tenants'] = {};
  let next = 0;
  for (let r = 0; r < runs.length; r += 2) {
    for (let i = 0; i < runs[r + 1]!; i++, next++) tenants[plan[next]!.id] = { wave: plan[next]!.wave, ...records[runs[r]!]! };
  }
  return { ...rest, tenants };
}
