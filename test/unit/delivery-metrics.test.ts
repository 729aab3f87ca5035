import type { DeliveryMetrics } from '../../src/shared/delivery-metrics';
import { ReleaseDeliveryObserver } from '../../src/shared/release/delivery';
import { openRun, step } from '../../src/shared/release/machine';
import type { MachineState, ReleaseEvent, ReleasePlanInput } from '../../src/shared/release/machine-types';
import { planInput } from '../support/release-sim';

/**
 * Release duration, lead time and approval waits as the release workflow reports them
 * (src/shared/release/delivery.ts), driven by the real release machine: a recording meter
 * stands in for the workers' Prometheus exporter.
 */
const T0 = Date.parse('2026-01-01T00:00:00Z');

function recorder() {
  const calls: [string, ...unknown[]][] = [];
  const metrics: DeliveryMetrics = {
    releaseEnded: (tags, outcome, s) => calls.push(['releaseEnded', tags.environment, tags.plan, outcome, s]),
    leadTime: (tags, s) => calls.push(['leadTime', tags.environment, s]),
    tenantDeploy: (tags, outcome) => calls.push(['tenantDeploy', tags.environment, outcome]),
    restored: (tags, s) => calls.push(['restored', tags.environment, s]),
    gateOpened: (tags) => calls.push(['gateOpened', tags.environment, tags.plan]),
    gateClosed: (tags, outcome, s) => calls.push(['gateClosed', tags.environment, outcome, s]),
  };
  return { calls, metrics };
}

/** Feeds events at the given times (ms after T0) through the machine and the observer, as release-wave.ts does. */
function play(input: ReleasePlanInput, events: [number, ReleaseEvent][]) {
  const { calls, metrics } = recorder();
  const observer = new ReleaseDeliveryObserver(input, metrics, T0);
  let state: MachineState = openRun(input, undefined);
  for (const [at, event] of events) {
    const result = step(input, state, event, { now: T0 + at, historyLong: false });
    state = result.state;
    observer.observe(result.commands, state, T0 + at);
  }
  return calls;
}

const succeeded = (tenantId: string): ReleaseEvent => ({ type: 'child-finished', tenantId, result: { tenantId, status: 'succeeded', deployed: true } });
const gated = (onTimeout: 'abort' | 'continue' = 'abort') =>
  planInput(
    [
      { name: 'canary', maxInFlight: 1, failureThreshold: { count: 0 }, bakeMs: 0, approval: { timeoutMs: 3_600_000, onTimeout } },
      { name: 'rest', maxInFlight: 1, failureThreshold: { count: 0 }, bakeMs: 0 },
    ],
    [1, 1],
    { rollbackOnAbort: false },
  );

describe('release delivery metrics', () => {
  it('times the approval gate from its opening to the approval, and the release and its lead time to the last wave', () => {
    const input = { ...gated(), environments: ['staging', 'prod'] };
    const calls = play(input, [
      [0, { type: 'run-started', first: true }],
      [1_000, { type: 'child-started', tenantId: 't0' }],
      [10_000, succeeded('t0')],
      [70_000, { type: 'approve', by: 'alice' }],
      [71_000, { type: 'child-started', tenantId: 't1' }],
      [100_000, succeeded('t1')],
    ]);
    // Once in each environment the release touches.
    expect(calls).toEqual([
      ['gateOpened', 'staging', 'sim'],
      ['gateOpened', 'prod', 'sim'],
      ['gateClosed', 'staging', 'approved', 60],
      ['gateClosed', 'prod', 'approved', 60],
      ['releaseEnded', 'staging', 'sim', 'succeeded', 100],
      ['releaseEnded', 'prod', 'sim', 'succeeded', 100],
      ['leadTime', 'staging', 100],
      ['leadTime', 'prod', 100],
    ]);
  });

  it('counts an approval sent before the gate opened as no wait', () => {
    const calls = play(gated(), [
      [0, { type: 'run-started', first: true }],
      [1_000, { type: 'approve', by: 'alice' }],
      [10_000, succeeded('t0')],
    ]);
    expect(calls).toEqual([['gateOpened', 'dev', 'sim'], ['gateClosed', 'dev', 'approved', 0]]);
  });

  it('reports a gate that timed out, and no lead time for a release whose waves did not all go through', () => {
    const calls = play(gated('abort'), [
      [0, { type: 'run-started', first: true }],
      [10_000, succeeded('t0')],
      [3_610_000, { type: 'timer-fired', timer: 'gate' }],
    ]);
    expect(calls).toEqual([
      ['gateOpened', 'dev', 'sim'],
      ['gateClosed', 'dev', 'timed-out', 3600],
      ['releaseEnded', 'dev', 'sim', 'aborted', 3610],
    ]);
  });

  it('closes a gate that an abort ends', () => {
    const calls = play(gated(), [
      [0, { type: 'run-started', first: true }],
      [10_000, succeeded('t0')],
      [40_000, { type: 'abort', by: 'bob', reason: 'wrong build', rollback: false }],
    ]);
    expect(calls).toEqual([
      ['gateOpened', 'dev', 'sim'],
      ['gateClosed', 'dev', 'release-ended', 30],
      ['releaseEnded', 'dev', 'sim', 'aborted', 40],
    ]);
  });
});
