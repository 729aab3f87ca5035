import type { ReleaseTenantResult, WaveSpec } from '../../src/shared/messages/release';
import { carriedState, openRun, step } from '../../src/shared/release/machine';
import type { ChildMode, MachineState, ReleaseCommand, ReleaseEvent, ReleasePlanInput, StepResult, TimerName } from '../../src/shared/release/machine-types';
import { thresholdExceeded } from '../../src/shared/release/plan';
import { refusalOf, stopping } from '../../src/shared/release/refusals';

/**
 * Plays the workflow's part around the release machine, without Temporal: children start and
 * finish, timers fire, people approve, abort, pause and resume, and the run continues as new,
 * all in an order picked by `choices`. It records every step and checks the release's
 * invariants after each one; a broken invariant throws, naming the step.
 */

export interface SimOptions {
  /** Round-trip the machine's state through JSON after this many steps (what continue-as-new does to it). */
  jsonRoundTripAt?: number;
  /** Continue as new with the record-per-tenant state of runs before the compact format. */
  legacyCarry?: boolean;
  /** Runs watch their bakes (the `release-active-bake` patch): watches report regressions, come back clean or fail. */
  activeBake?: boolean;
}

export interface SimResult {
  log: { event: string; commands: ReleaseCommand[] }[];
  state: MachineState;
  finish: Extract<ReleaseCommand, { type: 'finish' }>;
  runs: number;
}

type Action = { event: ReleaseEvent; advanceMs?: number } | { historyLong: boolean } | { advanceMs: number } | { watch: true };

const TARGET = { accountId: '123456789012', region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/TenantFleetAccess', externalId: 'ext' };

const RESULTS: ReleaseTenantResult['status'][] = ['succeeded', 'succeeded', 'succeeded', 'rolled-back', 'rollback-failed', 'skipped'];

export function simulate(input: ReleasePlanInput, choices: number[], options: SimOptions = {}): SimResult {
  const { activeBake = false } = options;
  let state = openRun(input, undefined, { activeBake });
  let now = 1_800_000_000_000;
  let historyLong = false;
  let runs = 1;
  let steps = 0;
  let finish: SimResult['finish'] | undefined;
  const children = new Map<string, { mode: ChildMode; started: boolean; wave: number }>();
  const timers = new Map<TimerName, number>();
  const log: SimResult['log'] = [];
  const waveOf = new Map(input.waves.flatMap((w, i) => w.tenants.map((id) => [id, i] as const)));
  const failures = input.waves.map(() => 0);
  let haltedAt: number | undefined;
  /** The bake's watch out now: the tenants it watches. */
  let watch: string[] | undefined;
  /** Tenants whose deploy succeeded and changed them: only those can regress during a bake. */
  const deployed = new Set<string>();

  const violation = (what: string) => new Error(`step ${steps} (${log.at(-1)?.event}): ${what}`);

  const feed = (label: string, run: () => StepResult, failedDeploy?: string) => {
    const result = run();
    state = result.state;
    steps += 1;
    log.push({ event: label, commands: result.commands });
    if (failedDeploy !== undefined) failures[waveOf.get(failedDeploy)!]! += 1;
    for (const command of result.commands) {
      if (command.type === 'start-child') {
        if (children.has(command.tenantId)) throw violation(`${command.tenantId} started twice at once`);
        children.set(command.tenantId, { mode: command.mode, started: false, wave: waveOf.get(command.tenantId)! });
        // An abort or a halt comes from this step's event, applied before anything starts.
        if (command.mode === 'deploy' && state.abort) throw violation(`${command.tenantId} started after the abort`);
        if (command.mode === 'deploy' && state.haltReason) throw violation(`${command.tenantId} started after the release halted`);
      }
      if (command.type === 'start-timer') {
        if (command.timer !== 'busy-retry' && state.haltReason) throw violation(`the ${command.timer} timer started after the release halted`);
        timers.set(command.timer, now + command.ms);
      }
      if (command.type === 'cancel-timer') timers.delete(command.timer);
      if (command.type === 'watch-bake') {
        if (watch) throw violation('a second watch went out while one was out');
        if (!timers.has('bake')) throw violation('a watch went out with no bake under way');
        if (stopping(state)) throw violation('a watch went out after the release stopped');
        watch = Object.keys(command.tenants.of);
        for (const id of watch) if (!deployed.has(id) || waveOf.get(id) !== state.waveIndex) throw violation(`the watch took ${id}, not deployed in the current wave`);
      }
      if (command.type === 'stop-watch') watch = undefined;
      if (command.type === 'finish') finish = command;
      if (command.type === 'continue-as-new') {
        if (children.size > 0) throw violation(`continued as new with ${children.size} children in flight`);
        timers.clear();
        runs += 1;
        historyLong = false;
        if (watch) throw violation('continued as new with a watch out');
        state = openRun(input, JSON.parse(JSON.stringify(carriedState(input, state, { legacy: options.legacyCarry }))) as MachineState, { activeBake });
        feed('run-started', () => step(input, state, { type: 'run-started', first: false }, { now, historyLong }));
        return;
      }
    }
    // A wave over its failure threshold has halted the release.
    input.waves.forEach((wave, w) => {
      if (thresholdExceeded(wave, failures[w]!) && haltedAt === undefined) {
        if (!state.haltReason) throw violation(`wave ${wave.name} has ${failures[w]} failures over its threshold and the release did not halt`);
        haltedAt = w;
      }
    });
    state.waves.forEach((wave, w) => {
      if (haltedAt !== undefined && w > haltedAt && wave.status !== 'pending' && wave.status !== 'skipped') throw violation(`wave ${wave.name} is ${wave.status} after wave ${haltedAt} halted`);
    });
    input.waves.forEach((wave, w) => {
      const inFlight = [...children.values()].filter((c) => c.mode !== 'revert' && c.wave === w).length;
      if (inFlight > wave.maxInFlight) throw violation(`${inFlight} children in flight in wave ${wave.name} (maxInFlight ${wave.maxInFlight})`);
    });
    const reverts = [...children.values()].filter((c) => c.mode === 'revert').length;
    if (reverts > Math.max(...input.waves.map((w) => w.maxInFlight))) throw violation(`${reverts} reverts in flight`);
    if (options.jsonRoundTripAt === steps) state = JSON.parse(JSON.stringify(state)) as MachineState;
  };

  const send = (event: ReleaseEvent, failedDeploy?: string) =>
    feed(event.type + ('tenantId' in event ? ` ${event.tenantId}` : '') + ('timer' in event ? ` ${event.timer}` : ''), () => step(input, state, event, { now, historyLong }), failedDeploy);

  const fire = (timer: TimerName) => {
    now = Math.max(now, timers.get(timer)!);
    timers.delete(timer);
    send({ type: 'timer-fired', timer });
  };

  const settle = (tenantId: string, pick: number) => {
    const child = children.get(tenantId)!;
    children.delete(tenantId);
    const kind = pick % 8;
    if (kind === 6) return send({ type: 'child-busy', tenantId, message: 'tenant is busy' });
    if (kind === 7) return send({ type: 'child-failed', tenantId, message: 'boom' }, child.mode === 'deploy' ? tenantId : undefined);
    const status = RESULTS[kind % RESULTS.length]!;
    const result: ReleaseTenantResult = { tenantId, status, deployed: status !== 'skipped' && pick % 5 !== 0, previousVersion: '1.0.0', reason: status === 'succeeded' ? undefined : 'why' };
    if (child.mode === 'deploy' && status === 'succeeded' && result.deployed) {
      deployed.add(tenantId);
      result.watch = { target: TARGET, alarmNames: [`tenant-${tenantId}-5xx`] };
    }
    const failed = child.mode === 'deploy' && (status === 'rolled-back' || status === 'rollback-failed');
    send({ type: 'child-finished', tenantId, result }, failed ? tenantId : undefined);
  };

  const report = (pick: number) => {
    const watched = watch!;
    watch = undefined;
    const kind = pick % 4;
    if (kind === 3) return send({ type: 'watch-failed', message: 'CloudWatch unreachable' });
    // Some of the watched tenants regress (kind 1, 2), or none (kind 0: the bake's time is up).
    const regressed = kind === 0 ? [] : watched.filter((_, i) => (pick >> (i % 12)) % 2 === 1 || i === 0);
    for (const id of regressed) {
      deployed.delete(id);
      failures[waveOf.get(id)!]! += 1;
    }
    send({ type: 'watch-reported', regressions: regressed.map((tenantId) => ({ tenantId, reason: 'tenant-x-5xx is in ALARM' })) });
  };

  const actions = (pick: number): Action[] => {
    const list: Action[] = [];
    if (watch) list.push({ watch: true });
    for (const [tenantId, child] of children) {
      if (!child.started) list.push({ event: { type: 'child-started', tenantId } });
      list.push({ event: { type: 'child-finished', tenantId, result: undefined! } });
    }
    for (const timer of timers.keys()) list.push({ event: { type: 'timer-fired', timer } });
    const wave = input.waves[pick % input.waves.length]!.name;
    if (!refusalOf(input, state, { type: 'approve', wave })) list.push({ event: { type: 'approve', by: 'sim', wave } });
    if (!refusalOf(input, state, { type: 'approve' })) list.push({ event: { type: 'approve', by: 'sim' } });
    if (!refusalOf(input, state, { type: 'abort' }) && pick % 4 === 0) list.push({ event: { type: 'abort', by: 'sim', reason: 'sim', rollback: pick % 3 === 0 ? undefined : pick % 3 === 1 } });
    if (!refusalOf(input, state, { type: 'pause' })) list.push({ event: { type: 'pause', by: 'sim' } });
    if (!refusalOf(input, state, { type: 'resume' })) list.push({ event: { type: 'resume' } });
    list.push({ historyLong: !historyLong }, { advanceMs: 500 });
    return list;
  };

  const act = (action: Action, pick: number) => {
    if ('watch' in action) return report(pick);
    if ('historyLong' in action) historyLong = action.historyLong;
    if (!('event' in action)) {
      if ('advanceMs' in action) now += action.advanceMs;
      return;
    }
    const { event } = action;
    if (event.type === 'child-started') {
      children.get(event.tenantId)!.started = true;
      return send(event);
    }
    if (event.type === 'child-finished') return settle(event.tenantId, pick);
    if (event.type === 'timer-fired') return fire(event.timer);
    send(event);
  };

  feed('run-started', () => step(input, state, { type: 'run-started', first: true }, { now, historyLong }));
  for (const choice of choices) {
    if (finish) break;
    const list = actions(choice >> 4);
    act(list[choice % list.length]!, choice >> 4);
  }
  // Then the release runs to its end: children succeed, timers fire, gates are approved.
  historyLong = false;
  for (let guard = 0; !finish; guard++) {
    if (guard > 10_000) throw violation('the release never finished');
    const [tenantId, child] = [...children.entries()][0] ?? [];
    if (tenantId && child && !child.started) act({ event: { type: 'child-started', tenantId } }, 0);
    else if (tenantId) act({ event: { type: 'child-finished', tenantId, result: undefined! } }, 0);
    else if (watch) report(0);
    else if (state.paused) send({ type: 'resume' });
    else if (timers.size > 0) fire([...timers.keys()][0]!);
    else if (!refusalOf(input, state, { type: 'approve' })) send({ type: 'approve', by: 'sim' });
    else throw violation(`the release waits for nothing (waiting: ${state.waiting})`);
  }
  if (children.size > 0 || timers.size > 0 || watch) throw violation(`finished with ${children.size} children, ${timers.size} timers and ${watch ? 'a watch' : 'no watch'} left`);
  return { log, state, finish, runs };
}

export function planInput(waves: Omit<WaveSpec, 'tenants'>[], sizes: number[], options: Partial<ReleasePlanInput['options']> = {}): ReleasePlanInput {
  let next = 0;
  return {
    releaseId: 'sim',
    version: '2.0.0',
    plan: 'sim',
    environments: ['dev'],
    requestedBy: 'sim',
    waves: waves.map((wave, w) => ({ ...wave, tenants: Array.from({ length: sizes[w]! }, () => `t${next++}`) })),
    options: { verifyWindowMs: 0, restoreDatabaseOnRollback: false, rollbackOnAbort: true, busyRetry: { attempts: 2, delayMs: 1_000 }, continueAsNewAfterEvents: 10_000, ...options },
  };
}
