import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TERMINAL_TENANT_STATUSES, type WaveSpec } from '../../src/shared/messages/release';
import { addWatch, emptyWatchSet, subsetOf, watchOf } from '../../src/shared/release/bake-watch';
import { compactState, expandState } from '../../src/shared/release/compact';
import { carriedState, openRun, step } from '../../src/shared/release/machine';
import type { Clock, MachineState, ReleaseCommand, ReleaseEvent, ReleasePlanInput } from '../../src/shared/release/machine-types';
import { refusalOf, skipWindowRefusal } from '../../src/shared/release/refusals';
import { progressOf } from '../../src/shared/release/report';
import { planInput, simulate } from '../support/release-sim';

/**
 * The release machine alone (no Temporal): random plans driven by random event sequences
 * (test/support/release-sim.ts checks the invariants after every step), then examples that
 * pin down behaviours people rely on.
 */

const waveArb: fc.Arbitrary<Omit<WaveSpec, 'tenants'>> = fc.record({
  name: fc.constantFrom('canary', 'early', 'rest'),
  maxInFlight: fc.integer({ min: 1, max: 3 }),
  failureThreshold: fc.oneof(fc.record({ count: fc.integer({ min: 0, max: 2 }) }), fc.record({ percent: fc.constantFrom(0, 25, 50) })),
  bakeMs: fc.constantFrom(0, 0, 5_000),
  approval: fc.option(fc.record({ timeoutMs: fc.constantFrom(1_000, 60_000), onTimeout: fc.constantFrom('abort' as const, 'continue' as const) }), { nil: undefined }),
});

const planArb = fc
  .tuple(fc.array(fc.tuple(waveArb, fc.integer({ min: 1, max: 4 })), { minLength: 1, maxLength: 3 }), fc.boolean(), fc.integer({ min: 1, max: 3 }))
  .map(([waves, rollbackOnAbort, attempts]) =>
    planInput(
      waves.map(([wave], i) => ({ ...wave, name: `${wave.name}-${i}` })),
      waves.map(([, size]) => size),
      { rollbackOnAbort, busyRetry: { attempts, delayMs: 1_000 } },
    ),
  );

const choicesArb = fc.array(fc.nat({ max: 1 << 16 }), { maxLength: 80 });

describe('release machine invariants over random event sequences', () => {
  // Children in flight, starts after an abort or halt, thresholds: checked after every step by the simulator.
  it('never runs more than maxInFlight children, starts nothing after an abort or a halt, and halts on a threshold crossing', () => {
    fc.assert(fc.property(planArb, choicesArb, (input, choices) => void simulate(input, choices)), { numRuns: 300 });
  });

  it('ends every tenant in exactly one terminal status', () => {
    fc.assert(
      fc.property(planArb, choicesArb, (input, choices) => {
        const { finish, state } = simulate(input, choices);
        const all = input.waves.flatMap((w) => w.tenants).sort();
        for (const id of all) expect(TERMINAL_TENANT_STATUSES).toContain(state.tenants[id]!.status);
        expect(Object.values(finish.summary.counts).reduce((a, b) => a + b, 0)).toBe(all.length);
        // The summary lists every tenant that ran and did not succeed, and counts those never started.
        const ran = all.filter((id) => state.tenants[id]!.status !== 'succeeded' && !(state.tenants[id]!.status === 'skipped' && state.tenants[id]!.attempts === 0));
        expect(finish.summary.tenants.map((t) => t.tenantId).sort()).toEqual(ran);
        for (const t of finish.summary.tenants) expect(TERMINAL_TENANT_STATUSES).toContain(t.status);
        expect(finish.summary.notStarted?.count ?? 0).toBe(all.length - ran.length - finish.summary.counts.succeeded);
      }),
      { numRuns: 300 },
    );
  });

  it('gives the same release when its state goes through JSON midway (what continue-as-new does)', () => {
    fc.assert(
      fc.property(planArb, choicesArb, fc.nat({ max: 60 }), (input, choices, at) => {
        const plain = simulate(input, choices);
        const roundTripped = simulate(input, choices, { jsonRoundTripAt: at });
        // Compared as JSON: an `undefined` field and a missing one are the same release (key order aside).
        const json = (value: unknown): unknown => JSON.parse(JSON.stringify(value));
        expect(json(roundTripped.log)).toEqual(json(plain.log));
        expect(json(roundTripped.state)).toEqual(json(plain.state));
      }),
      { numRuns: 300 },
    );
  });

  it('with active bakes: a regression counts against its wave and is rolled back, a watch goes out only during a bake, and the release still ends', () => {
    fc.assert(
      fc.property(planArb, choicesArb, (input, choices) => {
        const { state, finish } = simulate(input, choices, { activeBake: true });
        for (const id of input.waves.flatMap((w) => w.tenants)) expect(TERMINAL_TENANT_STATUSES).toContain(state.tenants[id]!.status);
        expect(state.bakeWatch).toBeUndefined();
        expect(finish.summary.counts.running).toBe(0);
      }),
      { numRuns: 300 },
    );
    // The same through JSON midway and in either carried format.
    fc.assert(
      fc.property(planArb, choicesArb, fc.nat({ max: 60 }), (input, choices, at) => {
        const json = (value: unknown): unknown => JSON.parse(JSON.stringify(value));
        const plain = simulate(input, choices, { activeBake: true });
        for (const other of [simulate(input, choices, { activeBake: true, jsonRoundTripAt: at }), simulate(input, choices, { activeBake: true, legacyCarry: true })]) {
          expect(json(other.log)).toEqual(json(plain.log));
          expect(json(other.state)).toEqual(json(plain.state));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('gives the same release whichever format the state continued as new in (compact, or a record per tenant as before)', () => {
    fc.assert(
      fc.property(planArb, choicesArb, (input, choices) => {
        const compact = simulate(input, choices);
        const legacy = simulate(input, choices, { legacyCarry: true });
        const json = (value: unknown): unknown => JSON.parse(JSON.stringify(value));
        expect(json(legacy.log)).toEqual(json(compact.log));
        expect(json(legacy.state)).toEqual(json(compact.state));
      }),
      { numRuns: 300 },
    );
  });
});

// --- examples --------------------------------------------------------------------------------

const wave = (name: string, extra: Partial<Omit<WaveSpec, 'tenants'>> = {}): Omit<WaveSpec, 'tenants'> => ({ name, maxInFlight: 2, failureThreshold: { count: 0 }, bakeMs: 0, ...extra });

class Driver {
  state: MachineState;
  clock: Clock = { now: 1_800_000_000_000, historyLong: false };
  constructor(readonly input: ReleasePlanInput, { activeBake = false } = {}) {
    this.state = openRun(input, undefined, { activeBake });
  }
  send(event: ReleaseEvent): ReleaseCommand[] {
    const result = step(this.input, this.state, event, this.clock);
    this.state = result.state;
    this.reply = result.reply;
    return result.commands;
  }
  reply: unknown;
  succeed(tenantId: string): ReleaseCommand[] {
    const watch = { target: TARGET, alarmNames: [`tenant-${tenantId}-5xx`] };
    return this.send({ type: 'child-finished', tenantId, result: { tenantId, status: 'succeeded', deployed: true, previousVersion: '1.0.0', watch } });
  }
}

const TARGET = { accountId: '123456789012', region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/TenantFleetAccess', externalId: 'ext' };

const types = (commands: ReleaseCommand[]) => commands.map((c) => (c.type === 'set-phase' ? `phase ${c.phase}` : c.type === 'start-child' ? `${c.mode} ${c.tenantId}` : c.type === 'start-timer' || c.type === 'cancel-timer' ? `${c.type} ${c.timer}` : c.type === 'count' ? `count ${c.metric}` : c.type));

describe('release machine examples', () => {
  it('starts waves in order, at most maxInFlight at a time, and finishes with a summary', () => {
    const d = new Driver(planInput([wave('canary', { maxInFlight: 1 }), wave('rest')], [1, 3]));
    expect(types(d.send({ type: 'run-started', first: true }))).toEqual(['count releaseStarted', 'phase wave-1/running', 'deploy t0']);
    expect(types(d.succeed('t0'))).toEqual(['count tenantDeployed', 'phase wave-2/running', 'deploy t1', 'deploy t2']);
    expect(types(d.succeed('t1'))).toEqual(['count tenantDeployed', 'deploy t3']);
    d.succeed('t2');
    const end = d.send({ type: 'child-finished', tenantId: 't3', result: { tenantId: 't3', status: 'rolled-back', deployed: true, reason: 'alarm' } });
    expect(types(end)).toEqual(['count tenantRolledBack', 'phase wave-2/halted', 'count tenantFailed', 'phase halted', 'finish']);
    const finish = end.at(-1) as Extract<ReleaseCommand, { type: 'finish' }>;
    expect(finish.failure?.kind).toBe('halted');
    expect(finish.failure?.message).toMatch(/wave "rest": 1 of 3 tenants failed \(0 allowed\)/);
  });

  it('keeps an early approval, waits at the gate otherwise, and the gate timeout follows the plan', () => {
    const input = planInput([wave('canary', { approval: { timeoutMs: 60_000, onTimeout: 'abort' } }), wave('rest')], [1, 1], { rollbackOnAbort: false });
    const early = new Driver(input);
    early.send({ type: 'run-started', first: true });
    early.send({ type: 'approve', by: 'alice' });
    expect(early.reply).toEqual({ wave: 'canary', early: true });
    expect(refusalOf(input, early.state, { type: 'approve' })).toMatch(/no wave of release sim waits for approval/);
    expect(types(early.succeed('t0'))).toEqual(['count tenantDeployed', 'phase wave-2/awaiting-approval', 'start-timer gate', 'cancel-timer gate', 'phase wave-2/running', 'deploy t1']);

    const late = new Driver(input);
    late.send({ type: 'run-started', first: true });
    expect(types(late.succeed('t0'))).toEqual(['count tenantDeployed', 'phase wave-2/awaiting-approval', 'start-timer gate']);
    expect(types(late.send({ type: 'timer-fired', timer: 'gate' }))).toEqual(['phase aborted', 'finish']);
    expect(late.state.abort).toMatchObject({ by: 'release plan', reason: 'no approval for wave "rest" within 60000 ms' });

    const onward = new Driver(planInput([wave('canary', { approval: { timeoutMs: 1_000, onTimeout: 'continue' } }), wave('rest')], [1, 1]));
    onward.send({ type: 'run-started', first: true });
    onward.succeed('t0');
    expect(types(onward.send({ type: 'timer-fired', timer: 'gate' }))).toEqual(['phase wave-2/running', 'deploy t1']);
    expect(onward.state.waves[0]!.approval).toMatchObject({ by: 'release plan' });
  });

  it('retries a busy tenant after the delay, then skips it without counting a failure', () => {
    const d = new Driver(planInput([wave('only')], [1], { busyRetry: { attempts: 2, delayMs: 30_000 } }));
    d.send({ type: 'run-started', first: true });
    expect(types(d.send({ type: 'child-busy', tenantId: 't0', message: 'tenant t0 is busy' }))).toEqual(['start-timer busy-retry']);
    expect(d.state.tenants.t0).toMatchObject({ status: 'busy', attempts: 1 });
    d.clock = { ...d.clock, now: d.clock.now + 30_000 };
    expect(types(d.send({ type: 'timer-fired', timer: 'busy-retry' }))).toEqual(['deploy t0']);
    const end = d.send({ type: 'child-busy', tenantId: 't0', message: 'tenant t0 is busy' });
    expect(types(end)).toEqual(['phase completed-with-failures', 'finish']);
    expect(d.state.tenants.t0).toMatchObject({ status: 'skipped', reason: 'still busy after 2 attempts: tenant t0 is busy', failed: false });
  });

  it('on abort with rollback stops the children in flight, starts nothing new and reverts what it deployed', () => {
    const d = new Driver(planInput([wave('only', { maxInFlight: 2 })], [3]));
    d.send({ type: 'run-started', first: true });
    d.send({ type: 'child-started', tenantId: 't0' });
    const aborting = d.send({ type: 'abort', by: 'bob', reason: 'bad metrics', rollback: true });
    expect(types(aborting)).toEqual(['phase wave-1/aborting', 'stop-child']);
    expect(d.reply).toEqual({ stoppedStarting: ['t2'] });
    // t1 had not started when the abort came: it gets its stop once it has.
    expect(types(d.send({ type: 'child-started', tenantId: 't1' }))).toEqual(['stop-child']);
    expect(types(d.succeed('t0'))).toEqual(['count tenantDeployed']);
    const reverting = d.send({ type: 'child-finished', tenantId: 't1', result: { tenantId: 't1', status: 'rolled-back', deployed: true } });
    // Its failure halts the wave too; the abort came first and names the outcome.
    expect(types(reverting)).toEqual(['count tenantRolledBack', 'phase wave-1/halted', 'count tenantFailed', 'phase reverting', 'revert t0']);
    expect(reverting).toContainEqual(expect.objectContaining({ type: 'start-child', tenantId: 't0', mode: 'revert', revertTo: '1.0.0' }));
    const end = d.send({ type: 'child-finished', tenantId: 't0', result: { tenantId: 't0', status: 'rolled-back', deployed: true } });
    expect(types(end)).toEqual(['count tenantRolledBack', 'phase aborted', 'finish']);
    expect(d.state.tenants).toMatchObject({ t0: { status: 'rolled-back' }, t1: { status: 'rolled-back' }, t2: { status: 'skipped' } });
    expect(refusalOf(d.input, d.state, { type: 'pause' })).toMatch(/cannot pause release sim: it was aborted by bob/);
  });

  it('continues as new before it opens a gate, so the gate opens (and is announced) once, in the next run', () => {
    const d = new Driver(planInput([wave('canary', { approval: { timeoutMs: 60_000, onTimeout: 'abort' } }), wave('rest')], [1, 1], { rollbackOnAbort: false }));
    d.send({ type: 'run-started', first: true });
    d.clock = { ...d.clock, historyLong: true };
    expect(types(d.succeed('t0'))).toEqual(['count tenantDeployed', 'phase wave-1/continuing', 'continue-as-new']);
    d.state = openRun(d.input, JSON.parse(JSON.stringify(carriedState(d.input, d.state))) as MachineState);
    d.clock = { ...d.clock, historyLong: false };
    expect(types(d.send({ type: 'run-started', first: false }))).toEqual(['phase wave-1/running', 'phase wave-2/awaiting-approval', 'start-timer gate']);
  });

  it('continues as new only once no child is in flight; paused meanwhile, the next run starts paused', () => {
    const d = new Driver(planInput([wave('only', { maxInFlight: 2 })], [3]));
    d.send({ type: 'run-started', first: true });
    d.clock = { ...d.clock, historyLong: true };
    expect(types(d.succeed('t0'))).toEqual(['count tenantDeployed']);
    expect(types(d.succeed('t1'))).toEqual(['count tenantDeployed', 'phase wave-1/continuing', 'continue-as-new']);
    d.send({ type: 'pause', by: 'carol' });
    expect(refusalOf(d.input, d.state, { type: 'pause' })).toMatch(/already paused \(by carol/);
    // The next run: still paused, so it starts nothing until someone resumes.
    d.state = openRun(d.input, JSON.parse(JSON.stringify(carriedState(d.input, d.state))) as MachineState);
    d.clock = { ...d.clock, historyLong: false };
    expect(types(d.send({ type: 'run-started', first: false }))).toEqual([]);
    expect(d.state.paused).toMatchObject({ by: 'carol' });
    expect(types(d.send({ type: 'resume', by: 'carol' }))).toEqual(['phase wave-1/running', 'deploy t2']);
  });
});

describe('maintenance windows (docs/releases.md, "Maintenance windows and freezes")', () => {
  const waitUntil = '2026-12-06T01:00:00.000Z';
  const waiting = (d: Driver, tenantId: string) => d.send({ type: 'window-wait', tenantId, until: waitUntil, waitingFor: 'window Sun 02:00-04:00 Europe/Berlin' });

  it('a waiting tenant is listed with its window; a skip is taken only while it waits, and says so in its record', () => {
    const d = new Driver(planInput([wave('only', { maxInFlight: 1 })], [2]));
    d.send({ type: 'run-started', first: true });
    d.send({ type: 'child-started', tenantId: 't0' });
    expect(skipWindowRefusal(d.input, d.state, 't0')).toBe('tenant t0 is not waiting for a maintenance window in release sim: its status is running');
    expect(skipWindowRefusal(d.input, d.state, 't1')).toBe('tenant t1 is not waiting for a maintenance window in release sim: it has not started yet; it can be skipped once it waits');
    expect(types(waiting(d, 't0'))).toEqual([]);
    expect(progressOf(d.input, d.state).waitingForWindow).toEqual([{ tenantId: 't0', until: waitUntil, waitingFor: 'window Sun 02:00-04:00 Europe/Berlin' }]);
    expect(d.state.tenants.t0!.reason).toBe(`waiting for window until ${waitUntil}: window Sun 02:00-04:00 Europe/Berlin`);

    expect(d.send({ type: 'skip-window', tenantId: 't0', by: 'dana', reason: 'customer asked' })).toEqual([{ type: 'skip-window', tenantId: 't0', by: 'dana', reason: 'customer asked' }]);
    expect(d.reply).toEqual({ tenant: 't0', wasWaitingUntil: waitUntil });
    expect(progressOf(d.input, d.state).waitingForWindow).toBeUndefined();
    expect(d.state.tenants.t0!.reason).toBe('window wait skipped by dana: customer asked');
    d.send({ type: 'skip-window', tenantId: 't0', by: 'dana', reason: 'again' });
    expect(d.reply).toEqual({ refused: 'tenant t0 is not waiting for a maintenance window in release sim: its status is running' });
    expect(types(d.succeed('t0'))).toEqual(['count tenantDeployed', 'deploy t1']);
    expect(d.state.tenants.t0!.window).toBeUndefined();
  });

  it('an abort without rollback stops only the tenants still waiting; a halt stops them too, and one that starts waiting afterwards', () => {
    const d = new Driver(planInput([wave('only', { maxInFlight: 3 })], [3], { rollbackOnAbort: false }));
    d.send({ type: 'run-started', first: true });
    for (const id of ['t0', 't1']) d.send({ type: 'child-started', tenantId: id });
    waiting(d, 't0');
    const aborting = d.send({ type: 'abort', by: 'erin', reason: 'wrong tag', rollback: false });
    expect(aborting.filter((c) => c.type === 'stop-child')).toEqual([{ type: 'stop-child', tenantId: 't0', reason: 'release aborted by erin: wrong tag' }]);

    const h = new Driver(planInput([wave('only', { maxInFlight: 3, failureThreshold: { count: 0 } })], [3]));
    h.send({ type: 'run-started', first: true });
    for (const id of ['t0', 't1', 't2']) h.send({ type: 'child-started', tenantId: id });
    waiting(h, 't0');
    const halting = h.send({ type: 'child-finished', tenantId: 't1', result: { tenantId: 't1', status: 'rolled-back', deployed: true, reason: 'alarm' } });
    expect(halting.filter((c) => c.type === 'stop-child')).toEqual([{ type: 'stop-child', tenantId: 't0', reason: 'release halted: wave "only": 1 of 3 tenants failed (0 allowed)' }]);
    expect(waiting(h, 't2')).toEqual([{ type: 'stop-child', tenantId: 't2', reason: 'release halted: wave "only": 1 of 3 tenants failed (0 allowed)' }]);
    expect(skipWindowRefusal(h.input, h.state, 't0')).toMatch(/^cannot skip a window of release sim: it halted/);
  });
});

describe('the active bake (docs/releases.md, "Active bake")', () => {
  const baked = (threshold: number) => planInput([wave('canary', { bakeMs: 60_000, failureThreshold: { count: threshold } }), wave('rest')], [2, 1], { rollbackOnAbort: false });
  const regress = (d: Driver, ...ids: string[]) => d.send({ type: 'watch-reported', regressions: ids.map((tenantId) => ({ tenantId, reason: `tenant-${tenantId}-5xx is in ALARM (jest)` })) });
  const watchOf = (commands: ReleaseCommand[]) => commands.find((c): c is Extract<ReleaseCommand, { type: 'watch-bake' }> => c.type === 'watch-bake');
  const baking = (threshold: number) => {
    const d = new Driver(baked(threshold), { activeBake: true });
    d.send({ type: 'run-started', first: true });
    d.succeed('t0');
    const commands = d.succeed('t1');
    return { d, commands };
  };

  it('watches the wave\'s deployed tenants from the bake\'s start to its end, their specs shared in one template', () => {
    const { d, commands } = baking(0);
    expect(types(commands)).toEqual(['count tenantDeployed', 'phase wave-1/baking', 'start-timer bake', 'watch-bake']);
    const watch = watchOf(commands)!;
    expect(watch).toMatchObject({ wave: 'canary', since: d.clock.now, until: d.clock.now + 60_000 });
    expect(Object.keys(watch.tenants.of)).toEqual(['t0', 't1']);
    expect(watch.tenants.specs).toHaveLength(1);
    // A clean bake: the watch comes back with nothing at the bake's end, and the release goes on.
    expect(types(d.send({ type: 'timer-fired', timer: 'bake' }))).toEqual([]);
    expect(types(d.send({ type: 'watch-reported', regressions: [] }))).toEqual(['phase wave-2/running', 'deploy t2']);
    expect(d.state.bakeWatch).toBeUndefined();
  });

  it('rolls back a tenant that regresses, counts it against the threshold and halts the release once it is back', () => {
    const { d } = baking(0);
    const found = regress(d, 't1');
    expect(types(found)).toEqual(['count tenantFailed', 'phase wave-1/halted', 'rollback t1', 'cancel-timer bake']);
    expect(found).toContainEqual(expect.objectContaining({ type: 'start-child', tenantId: 't1', mode: 'rollback', revertTo: '1.0.0', reason: 'tenant-t1-5xx is in ALARM (jest)' }));
    expect(d.state.tenants.t1).toMatchObject({ status: 'running', reason: 'regressed during bake: tenant-t1-5xx is in ALARM (jest)', failed: true });
    const end = d.send({ type: 'child-finished', tenantId: 't1', result: { tenantId: 't1', status: 'rolled-back', deployed: true, reason: 'tenant-t1-5xx is in ALARM (jest)' } });
    expect(types(end)).toEqual(['count tenantRolledBack', 'phase halted', 'finish']);
    expect(d.state.tenants.t1).toMatchObject({ status: 'rolled-back', reason: 'rolled back during bake: tenant-t1-5xx is in ALARM (jest)', failed: true });
    expect(d.state.tenants.t2).toMatchObject({ status: 'skipped' });
    const finish = end.at(-1) as Extract<ReleaseCommand, { type: 'finish' }>;
    expect(finish.summary.reason).toBe('wave "canary": 1 of 2 tenants failed (0 allowed)');
    expect(d.state.waves[0]!.status).toBe('halted');
  });

  it('under the threshold: the watch goes out again for the others, and the wave waits for the rollback before going on', () => {
    const { d } = baking(1);
    const found = regress(d, 't1');
    expect(types(found)).toEqual(['count tenantFailed', 'rollback t1', 'watch-bake']);
    expect(Object.keys(watchOf(found)!.tenants.of)).toEqual(['t0']);
    expect(types(d.send({ type: 'watch-reported', regressions: [] }))).toEqual([]);
    expect(types(d.send({ type: 'timer-fired', timer: 'bake' }))).toEqual([]);
    const back = d.send({ type: 'child-finished', tenantId: 't1', result: { tenantId: 't1', status: 'rollback-failed', deployed: true, reason: 'rollout not ready' } });
    expect(types(back)).toEqual(['phase wave-2/running', 'deploy t2']);
    expect(d.state.tenants.t1).toMatchObject({ status: 'rollback-failed', reason: 'rollback during bake failed: rollout not ready' });
  });

  it('an abort during the bake stops the watch; a watch that fails for good halts the release', () => {
    const aborted = baking(0).d;
    expect(types(aborted.send({ type: 'abort', by: 'bob', reason: 'enough' }))).toEqual(['phase wave-1/aborting', 'cancel-timer bake', 'stop-watch', 'phase aborted', 'finish']);
    // A late answer of the stopped watch changes nothing.
    expect(types(regress(aborted, 't0'))).toEqual([]);
    expect(aborted.state.tenants.t0).toMatchObject({ status: 'succeeded' });

    const failed = baking(0).d;
    expect(types(failed.send({ type: 'watch-failed', message: 'AccessDenied: cloudwatch:DescribeAlarms' }))).toEqual(['phase wave-1/halted', 'cancel-timer bake', 'phase halted', 'finish']);
    expect(failed.state.haltReason).toBe('wave "canary": its bake could not watch the tenants: AccessDenied: cloudwatch:DescribeAlarms');
  });

  it('carries what the bake watches across continue-as-new, and a run without the patch bakes with its timer alone', () => {
    const d = new Driver(baked(0), { activeBake: true });
    d.send({ type: 'run-started', first: true });
    d.clock = { ...d.clock, historyLong: true };
    d.succeed('t0');
    expect(types(d.succeed('t1'))).toEqual(['count tenantDeployed', 'phase wave-1/continuing', 'continue-as-new']);
    d.state = openRun(d.input, JSON.parse(JSON.stringify(carriedState(d.input, d.state))) as MachineState, { activeBake: true });
    d.clock = { ...d.clock, historyLong: false };
    const next = d.send({ type: 'run-started', first: false });
    expect(types(next)).toEqual(['phase wave-1/running', 'phase wave-1/baking', 'start-timer bake', 'watch-bake']);
    expect(Object.keys(watchOf(next)!.tenants.of)).toEqual(['t0', 't1']);

    const passive = new Driver(baked(0));
    passive.send({ type: 'run-started', first: true });
    passive.succeed('t0');
    expect(types(passive.succeed('t1'))).toEqual(['count tenantDeployed', 'phase wave-1/baking', 'start-timer bake']);
    expect(passive.state.bakeWatch).toBeUndefined();
  });
});

describe('watch sets', () => {
  it('share one template among tenants alike, give each its own spec back, and keep a spec holding the token as it is', () => {
    const set = emptyWatchSet();
    const spec = (id: string) => ({ target: TARGET, alarmNames: [`tenant-${id}-5xx`], loadBalancer: { target: TARGET, alarmNames: [`tenant-${id}-target-5xx`] } });
    for (const id of ['acme', 'globex', 'initech']) addWatch(set, id, spec(id));
    addWatch(set, 'odd', { target: TARGET, alarmNames: ['{tenant}-latency'] });
    expect(set.specs).toHaveLength(2);
    expect(watchOf(set, 'globex')).toEqual(spec('globex'));
    expect(watchOf(set, 'odd')).toEqual({ target: TARGET, alarmNames: ['{tenant}-latency'] });
    const part = subsetOf(set, ['odd', 'acme', 'nobody']);
    expect(part.of).toEqual({ odd: 0, acme: 1 });
    expect(watchOf(part, 'acme')).toEqual(spec('acme'));
  });
});

describe('the compact continue-as-new state', () => {
  it('shares one record among tenants alike, keeps each failure, and refuses a state that does not fit the plan', () => {
    const input = planInput([wave('only', { maxInFlight: 3 })], [6]);
    const state = openRun(input, undefined);
    for (const id of ['t0', 't1', 't2', 't4', 't5']) Object.assign(state.tenants[id]!, { status: 'succeeded', attempts: 1, deployed: true, previousVersion: '1.0.0', failed: false });
    Object.assign(state.tenants.t3!, { status: 'rolled-back', attempts: 1, reason: 'alarm', deployed: true, failed: true });
    const carried = compactState(input, state);
    expect(carried).toMatchObject({ format: 2, runs: [0, 3, 1, 1, 0, 2] });
    expect(carried.records).toHaveLength(2);
    expect(expandState(input, JSON.parse(JSON.stringify(carried)) as typeof carried).tenants).toEqual(JSON.parse(JSON.stringify(state.tenants)));
    expect(() => expandState(planInput([wave('only')], [7]), carried)).toThrow('carried release state does not fit the plan: its runs cover 6 tenants, the plan has 7');
    expect(() => expandState(input, { ...carried, runs: [5, 6] })).toThrow('run 0 points at record 5, it has 2');
  });
});

describe('release machine modules', () => {
  // Testable without a server only while nothing in src/shared/release loads Temporal (messages/release does, at runtime).
  it('import nothing from Temporal, not even through the message definitions', () => {
    const dir = join(__dirname, '..', '..', 'src', 'shared', 'release');
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    expect(files).toEqual(expect.arrayContaining(['machine.ts', 'refusals.ts', 'report.ts']));
    for (const file of files) {
      const source = readFileSync(join(dir, file), 'utf8');
      const valueImports = [...source.matchAll(/^import (?!type )[^;]*from '([^']+)'/gm)].map((m) => m[1]);
      expect({ file, imports: valueImports.filter((from) => from!.startsWith('@temporalio') || from!.endsWith('messages/release')) }).toEqual({ file, imports: [] });
    }
  });
});
