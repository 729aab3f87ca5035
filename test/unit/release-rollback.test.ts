import { EXIT } from '../../src/client/cli/exit-codes';
import type { ReleaseWaveInput } from '../../src/shared/messages/release';
import { runCliCaptured, OFFLINE_CLI_ENV } from '../support/cli';
import { decideTenantRollback, planRollback, rollbackStatusOf, thresholdExceeded, type TenantRollbackFacts } from '../../src/shared/release/rollback';

/* The decisions behind `tenantctl release rollback` (docs/releases.md, "Rolling back a blue/green release"). */

const strategy = { type: 'blueGreen' as const, steps: [{ weight: 100, bakeMs: 0 }], blueRetentionMs: 3_600_000 };
const release = (blueGreen: string[] | undefined): ReleaseWaveInput => ({
  releaseId: 'rel-1',
  version: '2.0.0',
  plan: 'standard',
  environments: ['prod'],
  requestedBy: 'ci',
  options: { verifyWindowMs: 0, restoreDatabaseOnRollback: false, rollbackOnAbort: false, busyRetry: { attempts: 1, delayMs: 0 } },
  waves: [
    { name: 'canary', tenants: ['acme'], maxInFlight: 1, failureThreshold: { count: 0 }, bakeMs: 600_000 },
    { name: 'early', tenants: ['globex', 'hooli'], maxInFlight: 2, failureThreshold: { percent: 50 }, bakeMs: 0 },
    { name: 'rest', tenants: ['initech', 'umbrella'], maxInFlight: 5, failureThreshold: { count: 1 }, bakeMs: 0 },
  ],
  ...(blueGreen ? { blueGreen: [{ tenants: blueGreen, strategy }] } : {}),
});
const request = { requestedBy: 'alice', reason: 'errors' };

describe('planRollback', () => {
  it("keeps the release's waves in order with only its blue/green tenants, and refuses the rolled ones by name", () => {
    const plan = planRollback(release(['acme', 'initech', 'umbrella']), request)!;
    expect(plan.waves).toEqual([
      { name: 'canary', tenants: ['acme'], maxInFlight: 1, failureThreshold: { count: 0 } },
      { name: 'rest', tenants: ['initech', 'umbrella'], maxInFlight: 5, failureThreshold: { count: 1 } },
    ]);
    expect(plan.refused.map((r) => r.tenantId)).toEqual(['globex', 'hooli']);
    expect(plan.refused[0]!.reason).toMatch(/released rolling.*release start --tenants globex/);
    expect(plan).toMatchObject({ releaseId: 'rel-1', version: '2.0.0', bakeMs: 0, requestedBy: 'alice', reason: 'errors' });
  });

  it('has nothing to plan for a release without blue/green tenants', () => {
    expect(planRollback(release(undefined), request)).toBeUndefined();
  });
});

describe('decideTenantRollback', () => {
  const facts = (over: Partial<TenantRollbackFacts> & { blue?: Partial<TenantRollbackFacts['colours']['blue']>; green?: Partial<TenantRollbackFacts['colours']['green']> } = {}): TenantRollbackFacts => ({
    releaseVersion: '2.0.0',
    weights: over.weights ?? { blue: 0, green: 100, forwards: true },
    colours: {
      blue: { exists: true, version: '1.0.0', desiredReplicas: 2, readyReplicas: 2, ...over.blue },
      green: { exists: true, version: '2.0.0', desiredReplicas: 2, readyReplicas: 2, ...over.green },
    },
  });

  it('switches back to the retained colour that runs the previous version', () => {
    expect(decideTenantRollback(facts())).toEqual({ action: 'switch', from: 'green', to: 'blue', toVersion: '1.0.0' });
    // The live colour alternates: a release that went from green to blue goes back to green.
    const onBlue = facts({ weights: { blue: 100, green: 0, forwards: true }, blue: { version: '2.0.0' }, green: { version: '1.0.0' } });
    expect(decideTenantRollback(onBlue)).toEqual({ action: 'switch', from: 'blue', to: 'green', toVersion: '1.0.0' });
    // A mix (never left by a release holding the lock) goes by its larger side.
    expect(decideTenantRollback(facts({ weights: { blue: 10, green: 90, forwards: true } }))).toMatchObject({ action: 'switch', to: 'blue' });
  });

  it('finds a tenant already back (an earlier run, or the release revert) and only settles it', () => {
    const back = facts({ weights: { blue: 100, green: 0, forwards: true }, green: { desiredReplicas: 0, readyReplicas: 0 } });
    expect(decideTenantRollback(back)).toEqual({ action: 'settle', from: 'green', to: 'blue', toVersion: '1.0.0' });
  });

  it('reports a retired old colour with how to go back instead', () => {
    const decision = decideTenantRollback(facts({ blue: { desiredReplicas: 0, readyReplicas: 0 } }));
    expect(decision).toMatchObject({ action: 'report', status: 'retired' });
    expect(decision.action === 'report' && decision.reason).toMatch(/blue \(1\.0\.0\) is already retired.*release start --version 1\.0\.0/);
    expect(decideTenantRollback(facts({ blue: { exists: false, version: undefined, desiredReplicas: 0, readyReplicas: 0 } }))).toMatchObject({ action: 'report', status: 'retired' });
  });

  it('leaves alone a tenant this release never deployed or a later one moved on', () => {
    // A later release deployed into blue and retains green (this release's version): not this rollback's to scale down.
    const movedOn = facts({ weights: { blue: 100, green: 0, forwards: true }, blue: { version: '3.0.0' } });
    expect(decideTenantRollback(movedOn)).toMatchObject({ action: 'report', status: 'skipped' });
    expect(decideTenantRollback(facts({ weights: { blue: 100, green: 0, forwards: true }, blue: { version: '3.0.0' }, green: { version: '1.5.0' } }))).toMatchObject({ action: 'report', status: 'skipped' });
    expect(decideTenantRollback(facts({ blue: { version: '2.0.0' } }))).toMatchObject({ action: 'report', status: 'skipped' });
  });

  it('does not switch to an old colour without a ready replica, nor touch a rule that does not forward', () => {
    expect(decideTenantRollback(facts({ blue: { readyReplicas: 0 } }))).toMatchObject({ action: 'report', status: 'failed' });
    expect(decideTenantRollback(facts({ weights: { blue: 0, green: 0, forwards: false } }))).toMatchObject({ action: 'report', status: 'failed' });
  });
});

describe('thresholds and the outcome', () => {
  it("halts past a wave's failure threshold, by count or by percent", () => {
    expect(thresholdExceeded({ tenants: ['a'], failureThreshold: { count: 0 } }, 0)).toBe(false);
    expect(thresholdExceeded({ tenants: ['a'], failureThreshold: { count: 0 } }, 1)).toBe(true);
    expect(thresholdExceeded({ tenants: ['a', 'b', 'c', 'd'], failureThreshold: { percent: 50 } }, 2)).toBe(false);
    expect(thresholdExceeded({ tenants: ['a', 'b', 'c', 'd'], failureThreshold: { percent: 50 } }, 3)).toBe(true);
  });

  it('succeeds only when no tenant is left on the release version', () => {
    expect(rollbackStatusOf([{ tenantId: 'a', status: 'rolled-back' }, { tenantId: 'b', status: 'skipped' }], {})).toBe('succeeded');
    for (const status of ['retired', 'refused', 'failed', 'not-started'] as const) {
      expect([status, rollbackStatusOf([{ tenantId: 'a', status: 'rolled-back' }, { tenantId: 'b', status }], {})]).toEqual([status, 'completed-with-failures']);
    }
    expect(rollbackStatusOf([], { halted: 'wave canary' })).toBe('halted');
    expect(rollbackStatusOf([], { stopped: 'by alice', halted: 'x' })).toBe('stopped');
  });
});

describe('tenantctl release rollback: refused before it connects', () => {
  // Any attempt to connect would end in exit 4 (cannot connect): the offline environment refuses.
  it.each([
    [['r-1'], '--reason: required'],
    [['r-1', '--stop'], '--reason: required'],
    [['r-1', '--reason', 'x', '--stop', '--wait'], '--stop: stops a running rollback'],
    [['r-1', '--reason', 'x', '--bake', '90'], '--bake: expected a duration'],
    [['r-1', '--reason', 'x', '--bake', '25h'], 'at most 24h (got "25h")'],
    [['no/such id', '--reason', 'x'], '<id>'],
  ])('%j', async (argv, expected) => {
    const { code, err } = await runCliCaptured(['release', 'rollback', ...argv], OFFLINE_CLI_ENV);
    expect([code, err]).toEqual([EXIT.refused, expect.stringContaining(expected)]);
  });
});
