import fc from 'fast-check';
import {
  idempotencyToken,
  nameCovers,
  planCertificates,
  type CertificatePlan,
  type DesiredHostname,
  type ExistingCertificate,
  type PlanInput,
} from '../../src/shared/certificates';

/** A generated fleet: tenants with 1-3 hostnames under a few parent domains, in a few environments. */
const fleetArb = (maxHostnames: number) =>
  fc
    .record({
      count: fc.integer({ min: 1, max: maxHostnames }),
      parents: fc.integer({ min: 1, max: 30 }),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    })
    .map(({ count, parents, seed }) => generateFleet(count, parents, seed));

function generateFleet(count: number, parents: number, seed: number): DesiredHostname[] {
  let state = seed || 1;
  const next = (n: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state % n;
  };
  const environments = ['dev', 'staging', 'prod'];
  const hostnames: DesiredHostname[] = [];
  for (let t = 0; hostnames.length < count; t++) {
    const tenantId = `t${t}`;
    const environment = environments[next(3)]!;
    const parent = `z${next(parents)}.example.com`;
    const perTenant = Math.min(1 + next(3), count - hostnames.length);
    for (let i = 0; i < perTenant; i++) hostnames.push({ hostname: i === 0 ? `${tenantId}.${parent}` : `h${i}.${tenantId}.${parent}`, tenantId, environment });
  }
  return hostnames;
}

const base = (hostnames: DesiredHostname[], extra: Partial<PlanInput> = {}): PlanInput => ({
  group: 'alb-1',
  hostnames,
  existing: [],
  maxNamesPerCertificate: 10,
  maxCertificatesPerListener: 25,
  wildcardEnvironments: [],
  ...extra,
});

/** Pretends every planned certificate was issued: the next plan's reality. */
function realise(plan: CertificatePlan): ExistingCertificate[] {
  return plan.certificates.map((c) => ({ arn: c.arn ?? `arn:aws:acm:us-east-1:123456789012:certificate/${c.key}`, names: c.names }));
}

/** Counts, for every desired hostname, the certificate names on the listener that serve it. */
function expectEachHostnameCoveredOnce(plan: CertificatePlan, hostnames: DesiredHostname[]): void {
  const uncovered = new Set(plan.uncovered.map((u) => u.hostname));
  const byParent = new Map<string, string[]>();
  for (const { hostname } of hostnames) {
    const parent = hostname.slice(hostname.indexOf('.') + 1);
    const siblings = byParent.get(parent);
    if (siblings) siblings.push(hostname);
    else byParent.set(parent, [hostname]);
  }
  const desired = new Set(hostnames.map((h) => h.hostname));
  const matches = new Map<string, number>();
  for (const name of plan.certificates.flatMap((c) => c.names)) {
    const served = name.startsWith('*.') ? (byParent.get(name.slice(2)) ?? []).filter((h) => nameCovers(name, h)) : [];
    if (desired.has(name)) served.push(name);
    for (const h of served) matches.set(h, (matches.get(h) ?? 0) + 1);
  }
  const wrong = hostnames
    .map(({ hostname }) => ({ hostname, matches: matches.get(hostname) ?? 0, expected: uncovered.has(hostname) ? 0 : 1 }))
    .filter((m) => m.matches !== m.expected);
  expect(wrong).toEqual([]);
}

function expectWithinLimits(plan: CertificatePlan, input: PlanInput): void {
  expect(plan.certificates.length).toBeLessThanOrEqual(input.maxCertificatesPerListener);
  for (const cert of plan.certificates) {
    expect(cert.names.length).toBeGreaterThan(0);
    expect(cert.names.length).toBeLessThanOrEqual(input.maxNamesPerCertificate);
    expect(cert.names[0]!.length).toBeLessThanOrEqual(64);
  }
}

describe('certificate planner over generated fleets', () => {
  it('covers every hostname exactly once at the lower bound when wildcards are off and the listener limit does not bind', () => {
    fc.assert(
      fc.property(fleetArb(5000), fc.integer({ min: 1, max: 100 }), (hostnames, limit) => {
        const input = base(hostnames, { maxNamesPerCertificate: limit, maxCertificatesPerListener: 10_000 });
        const plan = planCertificates(input);
        expect(plan.uncovered).toEqual([]);
        expectEachHostnameCoveredOnce(plan, hostnames);
        expectWithinLimits(plan, input);
        expect(plan.certificates.length).toBe(Math.ceil(hostnames.length / limit));
        expect(plan.lowerBound).toBe(plan.certificates.length);
      }),
      { numRuns: 40 },
    );
  });

  it('covers every hostname exactly once with wildcards allowed for some environments, and never uses one over a forbidding environment', () => {
    fc.assert(
      fc.property(fleetArb(2000), fc.subarray(['dev', 'staging', 'prod']), (hostnames, wildcardEnvironments) => {
        const input = base(hostnames, { maxCertificatesPerListener: 10_000, wildcardEnvironments });
        const plan = planCertificates(input);
        expect(plan.uncovered).toEqual([]);
        expectEachHostnameCoveredOnce(plan, hostnames);
        expectWithinLimits(plan, input);
        for (const { hostname, environment } of hostnames) {
          const wildcard = plan.certificates.flatMap((c) => c.names).find((n) => n.startsWith('*.') && nameCovers(n, hostname));
          if (!wildcardEnvironments.includes(environment)) expect(wildcard).toBeUndefined();
        }
        // Wildcards only ever save names.
        expect(plan.certificates.length).toBeLessThanOrEqual(Math.ceil(hostnames.length / 10));
      }),
      { numRuns: 60 },
    );
  });

  it('adding one hostname re-issues at most one certificate and keeps every other one', () => {
    fc.assert(
      fc.property(
        fleetArb(1500),
        fc.integer({ min: 1, max: 50 }),
        fc.subarray(['dev', 'staging', 'prod']),
        fc.constantFrom('dev', 'staging', 'prod'),
        fc.integer({ min: 0, max: 40 }),
        (hostnames, limit, wildcardEnvironments, environment, parent) => {
          const input = base(hostnames, { maxNamesPerCertificate: limit, maxCertificatesPerListener: 10_000, wildcardEnvironments });
          const before = planCertificates(input);
          const added = [...hostnames, { hostname: `new.z${parent}.example.com`, tenantId: 'zz-new', environment }];
          const after = planCertificates({ ...input, hostnames: added, existing: realise(before) });
          expectEachHostnameCoveredOnce(after, added);
          const reissued = after.retire.filter((r) => r.replacedBy.length > 0);
          expect(reissued.length).toBeLessThanOrEqual(1);
          expect(after.retire.length).toBeLessThanOrEqual(1);
          expect(after.certificates.filter((c) => c.action === 'keep').length).toBeGreaterThanOrEqual(before.certificates.length - 1);
          if (wildcardEnvironments.length === 0) expect(after.certificates.length).toBe(Math.ceil(added.length / limit));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('a plan of its own reality is a no-op, and the same input always gives the same plan', () => {
    fc.assert(
      fc.property(fleetArb(800), fc.subarray(['dev', 'staging', 'prod']), (hostnames, wildcardEnvironments) => {
        const input = base(hostnames, { maxCertificatesPerListener: 10_000, wildcardEnvironments });
        const plan = planCertificates(input);
        expect(planCertificates(input)).toEqual(plan);
        const again = planCertificates({ ...input, existing: realise(plan) });
        expect(again.certificates.every((c) => c.action === 'keep')).toBe(true);
        expect(again.retire).toEqual([]);
      }),
      { numRuns: 40 },
    );
  });
});

describe('certificate planner decisions', () => {
  const host = (hostname: string, tenantId: string, environment = 'dev'): DesiredHostname => ({ hostname, tenantId, environment });

  it('removing a tenant re-issues only its certificate, which supersedes the old one', () => {
    const hostnames = [host('a.x.test', 'a'), host('api.a.x.test', 'a'), host('b.x.test', 'b'), host('c.x.test', 'c')];
    const first = planCertificates(base(hostnames, { maxNamesPerCertificate: 2 }));
    expect(first.certificates.map((c) => c.names)).toEqual([
      ['a.x.test', 'api.a.x.test'],
      ['b.x.test', 'c.x.test'],
    ]);
    const existing = realise(first);
    const plan = planCertificates(base(hostnames.filter((h) => h.tenantId !== 'b'), { maxNamesPerCertificate: 2, existing }));
    expect(plan.certificates.map((c) => [c.action, c.names])).toEqual([
      ['keep', ['a.x.test', 'api.a.x.test']],
      ['issue', ['c.x.test']],
    ]);
    expect(plan.retire).toEqual([
      { arn: existing[1]!.arn, names: ['b.x.test', 'c.x.test'], reason: 'no longer wanted: b.x.test', replacedBy: [plan.certificates[1]!.key] },
    ]);
    expect(plan.certificates[1]!.supersedes).toEqual([existing[1]!.arn]);
    expect(plan.explanation.join('\n')).toMatch(/keep 1, issue 1, retire 1/);
  });

  it('a certificate that must be replaced is reissued with the same names under a new idempotency token', () => {
    const hostnames = [host('a.x.test', 'a'), host('b.x.test', 'b')];
    const [cert] = realise(planCertificates(base(hostnames)));
    const plan = planCertificates(base(hostnames, { existing: [{ ...cert!, replaceReason: 'renewal due 2030-01-01' }] }));
    expect(plan.certificates).toHaveLength(1);
    expect(plan.certificates[0]).toMatchObject({ action: 'issue', names: cert!.names, supersedes: [cert!.arn] });
    expect(plan.retire[0]!.reason).toBe('renewal due 2030-01-01');
    const token = idempotencyToken('alb-1', plan.certificates[0]!);
    expect(token).toMatch(/^\w{32}$/);
    expect(token).not.toBe(idempotencyToken('alb-1', { names: cert!.names, supersedes: [] }));
  });

  it('uses a wildcard only when every hostname under the parent allows it', () => {
    const devOnly = [host('a.dev.test', 'a'), host('b.dev.test', 'b')];
    expect(planCertificates(base(devOnly, { wildcardEnvironments: ['dev'] })).certificates.map((c) => c.names)).toEqual([['*.dev.test']]);
    const withProd = [...devOnly, host('p.dev.test', 'p', 'prod')];
    const plan = planCertificates(base(withProd, { wildcardEnvironments: ['dev'] }));
    expect(plan.wildcards).toEqual({});
    expect(plan.certificates.map((c) => c.names)).toEqual([['a.dev.test', 'b.dev.test', 'p.dev.test']]);
  });

  it('reports hostnames the listener cannot hold instead of dropping them silently', () => {
    const hostnames = Array.from({ length: 7 }, (_, i) => host(`h${i}.x.test`, `t${i}`));
    const plan = planCertificates(base(hostnames, { maxNamesPerCertificate: 2, maxCertificatesPerListener: 3 }));
    expect(plan.certificates).toHaveLength(3);
    expect(plan.uncovered).toEqual([{ hostname: 'h6.x.test', tenantId: 't6', reason: 'listener full: at most 3 certificates of 2 names' }]);
    expect(plan.explanation.join('\n')).toContain('uncovered h6.x.test (tenant t6): listener full');
  });

  it('repacks from scratch when the stable plan would exceed the listener limit', () => {
    const hostnames = Array.from({ length: 6 }, (_, i) => host(`h${i}.x.test`, `t${i}`));
    const existing = [0, 1, 2].map((i) => ({ arn: `arn:${i}`, names: [`h${i * 2}.x.test`] }));
    const plan = planCertificates(base(hostnames, { maxNamesPerCertificate: 2, maxCertificatesPerListener: 3, existing }));
    expect(plan.repacked).toBe(true);
    expect(plan.uncovered).toEqual([]);
    expect(plan.certificates).toHaveLength(3);
    expect(plan.retire.map((r) => r.arn)).toEqual(['arn:0', 'arn:1', 'arn:2']);
  });

  it('refuses a wildcard hostname in an environment that forbids wildcards, and a hostname claimed twice', () => {
    const plan = planCertificates(base([host('*.w.test', 'w', 'prod'), host('a.x.test', 'a'), host('a.x.test', 'b')]));
    expect(plan.uncovered.map((u) => [u.hostname, u.tenantId])).toEqual([
      ['*.w.test', 'w'],
      ['a.x.test', 'b'],
    ]);
    expect(plan.certificates.map((c) => c.names)).toEqual([['a.x.test']]);
  });

  it('puts a name ACM accepts as DomainName (at most 64 characters) first', () => {
    const long = `${'a'.repeat(60)}.x.test`;
    const plan = planCertificates(base([host(long, 'a'), host('zz.x.test', 'b')]));
    expect(plan.certificates[0]!.names).toEqual(['zz.x.test', long]);
  });
});
