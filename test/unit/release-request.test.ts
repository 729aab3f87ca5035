import { describeDifferences, releaseRequestDifferences } from '../../src/client/release-request';
import type { ReleaseWaveInput } from '../../src/shared/messages/release';

/**
 * The comparison behind `startRelease`'s idempotency: the same release ID attaches only to the
 * same request. The integration test (tenantctl.test.ts) shows it against a real release; these
 * pin down which differences count and how they are named.
 */
const existing: ReleaseWaveInput = {
  releaseId: 'ci-42',
  version: '2.1.0',
  plan: 'gated',
  environments: ['staging'],
  waves: [
    { name: 'canary', tenants: ['globex'], maxInFlight: 1, failureThreshold: { count: 0 }, bakeMs: 0, approval: { timeoutMs: 600_000, onTimeout: 'abort' } },
    { name: 'rest', tenants: ['hooli', 'umbrella'], maxInFlight: 3, failureThreshold: { count: 0 }, bakeMs: 0 },
  ],
  options: { verifyWindowMs: 1_000, restoreDatabaseOnRollback: false, rollbackOnAbort: false, busyRetry: { attempts: 5, delayMs: 30_000 }, continueAsNewAfterEvents: 10_000 },
  requestedBy: 'gitlab-ci:acme/jobs/1',
};

const copy = (): ReleaseWaveInput => structuredClone(existing);

describe('releaseRequestDifferences', () => {
  it('finds none for the same request from another CI job, with keys in another order (as a payload round trip may leave them)', () => {
    const stored: unknown = JSON.parse(JSON.stringify({ options: existing.options, waves: existing.waves, plan: existing.plan, environments: existing.environments, version: existing.version, releaseId: existing.releaseId, requestedBy: existing.requestedBy }));
    expect(releaseRequestDifferences(stored, { ...copy(), requestedBy: 'gitlab-ci:acme/jobs/2' })).toEqual([]);
  });

  it('fills defaults added since the release started: an input without continueAsNewAfterEvents equals one with the default', () => {
    const older = copy() as { options: Partial<ReleaseWaveInput['options']> };
    delete older.options.continueAsNewAfterEvents;
    expect(releaseRequestDifferences(older, copy())).toEqual([]);
  });

  it('names the version, the plan and the selected tenants with both values, not every wave the selection shifted', () => {
    const requested = copy();
    requested.version = '2.1.1';
    requested.plan = 'quick';
    requested.waves[0]!.tenants = ['hooli'];
    requested.waves[1]!.tenants = ['umbrella'];
    expect(releaseRequestDifferences(existing, requested)).toEqual([
      { field: 'version', existing: '2.1.0', requested: '2.1.1' },
      { field: 'plan', existing: 'gated', requested: 'quick' },
      { field: 'tenants', existing: ['globex', 'hooli', 'umbrella'], requested: ['hooli', 'umbrella'] },
    ]);
  });

  it('names the environments and each changed wave setting and option', () => {
    const requested = copy();
    requested.environments = ['staging', 'prod'];
    requested.waves[1]!.maxInFlight = 10;
    delete requested.waves[0]!.approval;
    requested.options.verifyWindowMs = 120_000;
    expect(releaseRequestDifferences(existing, requested)).toEqual([
      { field: 'environments', existing: ['staging'], requested: ['staging', 'prod'] },
      { field: 'waves[0].approval', existing: { timeoutMs: 600_000, onTimeout: 'abort' }, requested: undefined },
      { field: 'waves[1].maxInFlight', existing: 3, requested: 10 },
      { field: 'options.verifyWindowMs', existing: 1_000, requested: 120_000 },
    ]);
  });

  it('names each wave whose tenants moved when the same tenants are split otherwise', () => {
    const requested = copy();
    requested.waves[0]!.tenants = ['hooli'];
    requested.waves[1]!.tenants = ['globex', 'umbrella'];
    expect(releaseRequestDifferences(existing, requested).map((d) => d.field)).toEqual(['waves[0].tenants', 'waves[1].tenants']);
  });

  it('names the waves when the plan cuts another number of them', () => {
    const requested = copy();
    requested.waves = [{ name: 'all', tenants: ['globex', 'hooli', 'umbrella'], maxInFlight: 3, failureThreshold: { count: 0 }, bakeMs: 0 }];
    expect(releaseRequestDifferences(existing, requested).map((d) => d.field)).toEqual(['waves']);
  });
});

describe('describeDifferences', () => {
  it('says which release exists and lists each field with the existing value and the requested one', () => {
    const lines = describeDifferences('ci-42', '2.1.0', [
      { field: 'plan', existing: 'gated', requested: 'quick' },
      { field: 'tenants', existing: ['globex', 'hooli'], requested: ['hooli'] },
    ]);
    expect(lines).toEqual([
      'releaseId: release ci-42 already exists for version "2.1.0" with a different request (plan, tenants); repeat its request to attach to it, or choose another release ID (got "ci-42")',
      'plan: differs from release ci-42, which has "gated" (got "quick")',
      'tenants: differs from release ci-42, which has ["globex","hooli"] (got ["hooli"])',
    ]);
  });

  it('shortens long values so a thousand-tenant selection stays readable', () => {
    const many = Array.from({ length: 500 }, (_, i) => `tenant-${i}`);
    const [, line] = describeDifferences('ci-42', '2.1.0', [{ field: 'tenants', existing: many, requested: many.slice(1) }]);
    expect(line!.length).toBeLessThan(500);
    expect(line).toMatch(/^tenants: differs from release ci-42, which has \["tenant-0",.*\.\.\. \(got \["tenant-1",.*\.\.\.\)$/);
  });
});
