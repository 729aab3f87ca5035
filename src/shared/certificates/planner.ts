import { hash128 } from './hash';
import { isWildcard, orderNames, wildcardParent } from './hostnames';

/**
 * The certificate planner: which ACM certificates one listener (a certificate group) should
 * carry so that every hostname is served by exactly one certificate name. Pure and
 * deterministic (no I/O, no clock, no randomness), so workflow code can run it and the CLI's
 * `certs plan` can show the same plan as a dry run.
 *
 * Packing rules, in order:
 * 1. Wildcards only where policy allows them: `*.parent` replaces two or more hostnames
 *    directly under `parent` when every hostname directly under it belongs to an environment
 *    that allows wildcard certificates. A wildcard would also serve a hostname of a forbidding
 *    environment under the same parent, so one such hostname rules the wildcard out.
 * 2. Stability: an existing certificate whose names are all still wanted is kept as it is.
 *    Only names that lost their certificate (new hostnames, and the remaining names of
 *    certificates that carried a removed name or must be replaced) are packed into new
 *    certificates. When nothing else has to be re-issued, at most one kept certificate with
 *    room is reopened to take the new names, and only if that saves a certificate; so adding
 *    one hostname re-issues at most one certificate, and a fleet that only grows stays at the
 *    lower bound ceil(names / maxNamesPerCertificate).
 * 3. The listener limit: if the stable plan needs more certificates than the listener may
 *    carry (besides its default certificate, which belongs to whoever created the listener and
 *    is never touched), everything is repacked from scratch; names that still do not fit are
 *    reported as uncovered, never silently dropped.
 * Names are ordered by owning tenant, so a tenant's hostnames tend to share one certificate
 * and removing a tenant re-issues as few certificates as possible.
 */

export interface DesiredHostname {
  hostname: string;
  tenantId: string;
  environment: string;
}

export interface ExistingCertificate {
  arn: string;
  /** DomainName first, then the other subject alternative names. */
  names: string[];
  /** Set when the certificate must be replaced whatever its names (renewal due, failed renewal). */
  replaceReason?: string;
}

export interface PlanInput {
  group: string;
  hostnames: DesiredHostname[];
  existing: ExistingCertificate[];
  maxNamesPerCertificate: number;
  /** Certificates the listener may carry besides its default certificate (ALB: 25). */
  maxCertificatesPerListener: number;
  /** Environments whose hostnames may be served by a wildcard certificate name. */
  wildcardEnvironments: string[];
}

export interface PlannedCertificate {
  /** Stable identity of the name set (tags, idempotency token); the same names give the same key. */
  key: string;
  /** names[0] is the certificate's DomainName (at most 64 characters), the rest are SANs. */
  names: string[];
  action: 'keep' | 'issue';
  /** The existing certificate, when kept. */
  arn?: string;
  /** Existing certificates whose names move into this new one; they go once it is attached. */
  supersedes: string[];
  reason: string;
}

export interface RetiredCertificate {
  arn: string;
  names: string[];
  reason: string;
  /** Keys of the planned certificates that take over its names (empty: its names are no longer wanted). */
  replacedBy: string[];
}

export interface UncoveredHostname {
  hostname: string;
  tenantId: string;
  reason: string;
}

export interface CertificatePlan {
  group: string;
  certificates: PlannedCertificate[];
  retire: RetiredCertificate[];
  uncovered: UncoveredHostname[];
  /** Each wildcard name the plan uses, with the hostnames it serves. */
  wildcards: Record<string, string[]>;
  /** ceil(names / maxNamesPerCertificate): no plan can have fewer certificates. */
  lowerBound: number;
  /** True when the listener limit forced a repack that ignored the existing certificates. */
  repacked: boolean;
  explanation: string[];
}

interface Unit {
  name: string;
  /** Hostnames this name serves (itself, or a wildcard's children). */
  serves: string[];
  sortKey: string;
}

export function planCertificates(input: PlanInput): CertificatePlan {
  const limit = input.maxNamesPerCertificate;
  const capacity = input.maxCertificatesPerListener;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`maxNamesPerCertificate: expected a positive integer (got ${limit})`);
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`maxCertificatesPerListener: expected a positive integer (got ${capacity})`);

  const uncovered: UncoveredHostname[] = [];
  const owners = desiredOwners(input.hostnames, uncovered);
  const allowed = new Set(input.wildcardEnvironments);
  const { units, wildcards } = unitsFor(owners, allowed, uncovered);
  const unitByName = new Map(units.map((u) => [u.name, u]));

  // Stability: keep what still fits.
  const kept: ExistingCertificate[] = [];
  const retired: { cert: ExistingCertificate; reason: string }[] = [];
  const keptNames = new Set<string>();
  const byKeepPreference = [...input.existing].sort((a, b) => b.names.length - a.names.length || compare(a.arn, b.arn));
  for (const cert of byKeepPreference) {
    const names = [...new Set(cert.names)];
    const unwanted = names.filter((n) => !unitByName.has(n));
    const duplicate = names.filter((n) => keptNames.has(n));
    if (cert.replaceReason !== undefined) retired.push({ cert, reason: cert.replaceReason });
    else if (unwanted.length > 0) retired.push({ cert, reason: `no longer wanted: ${sample(unwanted)}` });
    else if (names.length > limit) retired.push({ cert, reason: `${names.length} names, more than maxNamesPerCertificate (${limit})` });
    else if (duplicate.length > 0) retired.push({ cert, reason: `duplicates names of a kept certificate: ${sample(duplicate)}` });
    else {
      kept.push(cert);
      names.forEach((n) => keptNames.add(n));
    }
  }
  let loose = units.filter((u) => !keptNames.has(u.name));

  // Reopen one kept certificate with room, only when nothing else is re-issued and it saves a certificate.
  const reissuing = retired.some(({ cert }) => cert.names.some((n) => unitByName.has(n)));
  if (!reissuing && loose.length > 0) {
    const roomiest = kept
      .filter((c) => c.names.length < limit)
      .sort((a, b) => a.names.length - b.names.length || compare(a.arn, b.arn))[0];
    if (roomiest) {
      const without = kept.length + Math.ceil(loose.length / limit);
      const withReopen = kept.length - 1 + Math.ceil((loose.length + roomiest.names.length) / limit);
      if (withReopen < without) {
        kept.splice(kept.indexOf(roomiest), 1);
        retired.push({ cert: roomiest, reason: `reopened to take ${loose.length} new name(s), saving a certificate` });
        loose = [...loose, ...units.filter((u) => roomiest.names.includes(u.name))];
      }
    }
  }

  let packs = pack(loose, limit);
  let repacked = false;
  if (kept.length + packs.length > capacity) {
    // The stable plan does not fit the listener: repack everything, reusing certificates that happen to match a pack.
    repacked = true;
    packs = pack(units, limit);
    const reusable = new Map(input.existing.filter((c) => c.replaceReason === undefined).map((c) => [orderNames(c.names).join(','), c]));
    const stillKept = new Set<ExistingCertificate>();
    packs = packs.filter((p) => {
      const match = reusable.get(orderNames(p.map((u) => u.name)).join(','));
      if (match && !stillKept.has(match)) {
        stillKept.add(match);
        return false;
      }
      return true;
    });
    for (const cert of kept) if (!stillKept.has(cert)) retired.push({ cert, reason: 'repacked: the stable plan exceeds the listener limit' });
    kept.splice(0, kept.length, ...[...stillKept]);
    retired.splice(0, retired.length, ...retired.filter((r) => !stillKept.has(r.cert)));
    const room = Math.max(0, capacity - kept.length);
    for (const overflow of packs.slice(room)) {
      for (const unit of overflow) {
        for (const hostname of unit.serves) {
          uncovered.push({ hostname, tenantId: owners.get(hostname)!.tenantId, reason: `listener full: at most ${capacity} certificates of ${limit} names` });
        }
      }
    }
    packs = packs.slice(0, room);
  }

  const certificates: PlannedCertificate[] = [
    ...kept.map((cert) => {
      const names = orderNames(cert.names);
      return { key: certificateKey(input.group, names), names, action: 'keep' as const, arn: cert.arn, supersedes: [], reason: 'all names still wanted' };
    }),
    ...packs.map((units) => {
      const names = orderNames(units.map((u) => u.name));
      return { key: certificateKey(input.group, names), names, action: 'issue' as const, supersedes: [] as string[], reason: '' };
    }),
  ];

  // Which new certificate takes over each retired certificate's names.
  const childrenOf = new Map<string, string[]>();
  for (const hostname of owners.keys()) {
    const parent = wildcardParent(hostname);
    if (parent === undefined) continue;
    const list = childrenOf.get(parent);
    if (list) list.push(hostname);
    else childrenOf.set(parent, [hostname]);
  }
  const servedBy = (name: string): string[] =>
    isWildcard(name) ? (childrenOf.get(name.slice(2)) ?? []).concat(owners.has(name) ? [name] : []) : owners.has(name) ? [name] : [];
  const certOfHostname = new Map<string, PlannedCertificate>();
  for (const cert of certificates) for (const name of cert.names) for (const h of unitByName.get(name)?.serves ?? []) certOfHostname.set(h, cert);
  const retire: RetiredCertificate[] = retired
    .sort((a, b) => compare(a.cert.arn, b.cert.arn))
    .map(({ cert, reason }) => {
      const served = cert.names.flatMap(servedBy);
      const successors = [...new Set(served.map((h) => certOfHostname.get(h)).filter((c): c is PlannedCertificate => c?.action === 'issue'))];
      for (const successor of successors) if (!successor.supersedes.includes(cert.arn)) successor.supersedes.push(cert.arn);
      return { arn: cert.arn, names: orderNames(cert.names), reason, replacedBy: successors.map((s) => s.key) };
    });
  for (const cert of certificates) {
    if (cert.action !== 'issue') continue;
    cert.supersedes.sort();
    cert.reason = cert.supersedes.length > 0 ? `takes over names of ${cert.supersedes.length} retired certificate(s)` : 'new names';
  }

  const plan: CertificatePlan = {
    group: input.group,
    certificates,
    retire,
    uncovered: uncovered.sort((a, b) => compare(a.hostname, b.hostname)),
    wildcards,
    lowerBound: Math.ceil(units.length / limit),
    repacked,
    explanation: [],
  };
  plan.explanation = explain(plan, input, owners.size, units.length);
  return plan;
}

/** Stable identity of a certificate's name set within its group. */
export function certificateKey(group: string, names: readonly string[]): string {
  return hash128(`${group}\n${orderNames(names).join(',')}`);
}

/**
 * ACM's IdempotencyToken (at most 32 characters of \w): the same request retried within an
 * hour returns the same certificate. It covers the group, the names and the certificates being
 * replaced, so reissuing the same names to replace an expiring certificate is a new request.
 */
export function idempotencyToken(group: string, cert: Pick<PlannedCertificate, 'names' | 'supersedes'>): string {
  return hash128(`${group}\n${orderNames(cert.names).join(',')}\n${[...cert.supersedes].sort().join(',')}`);
}

/** Every desired hostname mapped to its one owner; later claims of a hostname are reported. */
function desiredOwners(hostnames: DesiredHostname[], uncovered: UncoveredHostname[]): Map<string, DesiredHostname> {
  const owners = new Map<string, DesiredHostname>();
  const ordered = [...hostnames].map((h) => ({ ...h, hostname: h.hostname.toLowerCase() })).sort((a, b) => compare(a.tenantId, b.tenantId) || compare(a.hostname, b.hostname));
  for (const entry of ordered) {
    const owner = owners.get(entry.hostname);
    if (owner === undefined) owners.set(entry.hostname, entry);
    else if (owner.tenantId !== entry.tenantId) uncovered.push({ ...pick(entry), reason: `also claimed by tenant ${owner.tenantId}, which keeps it` });
  }
  return owners;
}

function unitsFor(
  owners: Map<string, DesiredHostname>,
  allowed: Set<string>,
  uncovered: UncoveredHostname[],
): { units: Unit[]; wildcards: Record<string, string[]> } {
  const children = new Map<string, DesiredHostname[]>();
  for (const entry of owners.values()) {
    const parent = wildcardParent(entry.hostname);
    if (parent === undefined) continue;
    const list = children.get(parent) ?? [];
    list.push(entry);
    children.set(parent, list);
  }
  const wildcardOf = new Map<string, string>();
  const wildcards: Record<string, string[]> = {};
  for (const [parent, list] of children) {
    const name = `*.${parent}`;
    if (list.length < 2 || owners.has(name) || !list.every((e) => allowed.has(e.environment))) continue;
    wildcards[name] = list.map((e) => e.hostname).sort();
    for (const entry of list) wildcardOf.set(entry.hostname, name);
  }

  const units = new Map<string, Unit>();
  for (const entry of owners.values()) {
    if (isWildcard(entry.hostname) && !allowed.has(entry.environment)) {
      uncovered.push({ ...pick(entry), reason: `a wildcard hostname, but environment "${entry.environment}" forbids wildcard certificates` });
      continue;
    }
    const name = wildcardOf.get(entry.hostname) ?? entry.hostname;
    const unit = units.get(name);
    if (unit) {
      unit.serves.push(entry.hostname);
      if (entry.tenantId < unit.sortKey) unit.sortKey = entry.tenantId;
    } else {
      units.set(name, { name, serves: [entry.hostname], sortKey: entry.tenantId });
    }
  }
  return { units: [...units.values()].sort(byOwnerThenName), wildcards };
}

function pack(units: Unit[], limit: number): Unit[][] {
  const sorted = [...units].sort(byOwnerThenName);
  const packs: Unit[][] = [];
  for (let i = 0; i < sorted.length; i += limit) packs.push(sorted.slice(i, i + limit));
  return packs;
}

function explain(plan: CertificatePlan, input: PlanInput, hostnameCount: number, unitCount: number): string[] {
  const keep = plan.certificates.filter((c) => c.action === 'keep');
  const issue = plan.certificates.filter((c) => c.action === 'issue');
  const lines = [
    `group ${plan.group}: ${hostnameCount} hostname(s) as ${unitCount} certificate name(s)` +
      `${Object.keys(plan.wildcards).length > 0 ? ` (${Object.keys(plan.wildcards).length} wildcard(s))` : ''}, ` +
      `at most ${input.maxNamesPerCertificate} names per certificate and ${input.maxCertificatesPerListener} certificates per listener`,
    `${plan.certificates.length} certificate(s) (lower bound ${plan.lowerBound}): keep ${keep.length}, issue ${issue.length}, retire ${plan.retire.length}` +
      `${plan.uncovered.length > 0 ? `; ${plan.uncovered.length} hostname(s) uncovered` : ''}${plan.repacked ? '; repacked from scratch because the listener limit binds' : ''}`,
  ];
  for (const [name, serves] of Object.entries(plan.wildcards)) lines.push(`wildcard ${name} serves ${sample(serves)}`);
  for (const c of issue) lines.push(`issue ${c.key.slice(0, 8)} [${sample(c.names)}]: ${c.reason}`);
  for (const r of plan.retire) lines.push(`retire ${r.arn} [${sample(r.names)}]: ${r.reason}`);
  for (const u of plan.uncovered) lines.push(`uncovered ${u.hostname} (tenant ${u.tenantId}): ${u.reason}`);
  return lines;
}

const byOwnerThenName = (a: Unit, b: Unit) => compare(a.sortKey, b.sortKey) || compare(a.name, b.name);
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const pick = (e: DesiredHostname) => ({ hostname: e.hostname, tenantId: e.tenantId });
function sample(names: string[], max = 3): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}
