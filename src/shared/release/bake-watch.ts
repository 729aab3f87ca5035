import type { AwsTarget } from '../tenant-spec';

/**
 * What the active bake watches per tenant (docs/releases.md, "Active bake"): the alarms its
 * verification watched, in the tenant's account, and those of its target group on the load
 * balancer, in the load balancer's account. A tenant's child workflow returns it with a
 * successful deploy; the release keeps the current wave's until its bake is over.
 */
export interface WatchSpec {
  target: AwsTarget;
  alarmNames: string[];
  loadBalancer?: { target: AwsTarget; alarmNames: string[] };
}

/**
 * Watch specs of many tenants, small at any wave size: tenants of one account differ only by
 * their ID inside alarm names, so each spec is kept with its tenant's ID replaced by a token and
 * the tenants point into the table of distinct ones. 2,000 tenants of one account take one
 * spec and 2,000 short pairs (about 40 KB), where whole specs would take about 1 MB.
 */
export interface WatchSet {
  /** Distinct specs as JSON; `T` before a template (the tenant's ID replaced by TOKEN), `R` before a spec kept as it was. */
  specs: string[];
  /** Tenant ID → index into `specs`. */
  of: Record<string, number>;
}

const TOKEN = '{tenant}';

export function emptyWatchSet(): WatchSet {
  return { specs: [], of: {} };
}

/** Adds (or replaces) a tenant's spec. */
export function addWatch(set: WatchSet, tenantId: string, spec: WatchSpec): void {
  const json = JSON.stringify(spec);
  // A spec that already holds the token could not be told apart from a template: kept as it is.
  const entry = json.includes(TOKEN) ? `R${json}` : `T${json.split(tenantId).join(TOKEN)}`;
  let at = set.specs.indexOf(entry);
  if (at === -1) at = set.specs.push(entry) - 1;
  set.of[tenantId] = at;
}

export function watchOf(set: WatchSet, tenantId: string): WatchSpec | undefined {
  const at = set.of[tenantId];
  const entry = at === undefined ? undefined : set.specs[at];
  if (entry === undefined) return undefined;
  const json = entry.slice(1);
  return JSON.parse(entry.startsWith('T') ? json.split(TOKEN).join(tenantId) : json) as WatchSpec;
}

/** The part of a set for some of its tenants (the specs they do not use are left out). */
export function subsetOf(set: WatchSet, tenantIds: string[]): WatchSet {
  const out = emptyWatchSet();
  const moved = new Map<number, number>();
  for (const id of tenantIds) {
    const at = set.of[id];
    if (at === undefined) continue;
    let to = moved.get(at);
    if (to === undefined) moved.set(at, (to = out.specs.push(set.specs[at]!) - 1));
    out.of[id] = to;
  }
  return out;
}

/** One tenant's regression found by a bake check, with the reason people read. */
export interface BakeRegression {
  tenantId: string;
  reason: string;
}

/** How often a bake checks: alarms change state at most once a period (a minute), so a long bake needs no 2-second checks. */
export function bakeCheckIntervalMs(bakeMs: number): number {
  return Math.min(20_000, Math.max(2_000, Math.round(bakeMs / 10)));
}
