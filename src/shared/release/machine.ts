import type { CompactReleaseState, ReleaseState, ReleaseTenantResult } from '../messages/release';
import { addWatch, emptyWatchSet, subsetOf } from './bake-watch';
import { compactState, expandState } from './compact';
import type { ChildMode, Clock, MachineState, ReleaseCommand, ReleaseEvent, ReleaseMetric, ReleasePlanInput, StepReply, StepResult, TimerName } from './machine-types';
import { thresholdExceeded } from './plan';
import { approvalGate, refusalOf, skipWindowRefusal, stopping } from './refusals';
import { addWaveMaintenance, describeCounts, phaseDetails, summaryOf } from './report';

/**
 * The release as a state machine: `(state, event) → (state, commands)`, with no Temporal in
 * it, so every transition can be tested without a server. The workflow (src/workflows/
 * release-wave.ts) feeds in what happened (children's results, updates, timers) and carries
 * the commands out; the order of the commands is the order the workflow issued them before
 * the machine existed, so recorded histories still replay.
 *
 * A step owns the state it is given and returns it changed in place: copying thousands of
 * tenant records on every event would cost more than a workflow task can spend.
 *
 * How a run moves: waves one after another; in a wave, tenants start in order, at most
 * `maxInFlight` at a time; a busy tenant is tried again after `busyRetry.delayMs`; a wave whose
 * failures cross its threshold halts the release once its children are back; then the bake
 * timer and the approval gate before the next wave. After the waves (or an abort or halt)
 * what never started is skipped and, after an abort with rollback, what this release deployed
 * is reverted. A run continues as new only with no child in flight.
 */

export function initialState(input: ReleasePlanInput): MachineState {
  const tenants: ReleaseState['tenants'] = {};
  input.waves.forEach((wave, w) => wave.tenants.forEach((id) => (tenants[id] = { wave: w, status: 'pending', attempts: 0 })));
  return { waveIndex: 0, phase: 'starting', waves: input.waves.map((w) => ({ name: w.name, status: 'pending' })), tenants, run: 1 };
}

/**
 * The state a run starts from: the release's first run (nothing carried) or one after continue-as-new.
 * `activeBake`: this run watches its bakes (docs/releases.md, "Active bake").
 */
export function openRun(input: ReleasePlanInput, carried: ReleaseState | CompactReleaseState | undefined, { activeBake = false } = {}): MachineState {
  const state = carried === undefined ? initialState(input) : expandState(input, carried);
  return { ...state, inFlight: {}, timer: undefined, waiting: undefined, toRevert: undefined, ...(activeBake ? { activeBake } : {}), bake: undefined, toRollBack: undefined };
}

/** Records an event and, when it lets the release move on, moves it on: `applyEvent` then `advance`. */
export function step(input: ReleasePlanInput, state: MachineState, event: ReleaseEvent, clock: Clock): StepResult {
  const run = new Step(input, state, clock);
  if (run.apply(event)) run.advance();
  return run.result();
}

/**
 * Records what happened, with only its immediate commands (an abort's stops, a pause's phase).
 * `wake` says the release may now move on: the workflow then calls `advance` from its main
 * loop, after the update handlers and child callbacks of the same workflow task have run,
 * which is where the workflow always moved the release on.
 */
export function applyEvent(input: ReleasePlanInput, state: MachineState, event: ReleaseEvent, clock: Clock): StepResult & { wake: boolean } {
  const run = new Step(input, state, clock);
  const wake = run.apply(event);
  return { ...run.result(), wake };
}

/** Moves the release on from where it waits, as far as it can go without another event. */
export function advance(input: ReleasePlanInput, state: MachineState, clock: Clock): StepResult {
  const run = new Step(input, state, clock);
  run.advance();
  return run.result();
}

/** The state the next run starts from: compact (src/shared/release/compact.ts), or `legacy`, a record per tenant, as runs before it carried it. */
export function carriedState(input: ReleasePlanInput, state: MachineState, { legacy = false, boundReasons = true } = {}): ReleaseState | CompactReleaseState {
  const { inFlight: _inFlight, timer: _timer, waiting: _waiting, toRevert: _toRevert, activeBake: _activeBake, bake: _bake, toRollBack: _toRollBack, ...carried } = state;
  const next = { ...carried, run: state.run + 1 };
  return legacy ? next : compactState(input, next, { boundReasons });
}

class Step {
  private readonly commands: ReleaseCommand[] = [];
  private reply?: StepReply;

  constructor(
    private readonly input: ReleasePlanInput,
    private readonly state: MachineState,
    private readonly clock: Clock,
  ) {}

  result(): StepResult {
    return { state: this.state, commands: this.commands, reply: this.reply };
  }

  /** Applies the event; true when the release may move on because of it. */
  apply(event: ReleaseEvent): boolean {
    const { state } = this;
    switch (event.type) {
      case 'run-started':
        if (event.first) this.count('releaseStarted');
        break;
      case 'child-started': {
        const child = this.inFlight()[event.tenantId];
        if (!child) return false;
        child.started = true;
        // Aborted with rollback while the child was starting: it missed the stop the others got.
        if (child.mode === 'deploy' && state.abort?.rollback) this.emit({ type: 'stop-child', tenantId: event.tenantId, reason: abortReason(state) });
        return false;
      }
      case 'child-finished':
      case 'child-busy':
      case 'child-failed': {
        const child = this.inFlight()[event.tenantId];
        if (!child) return false;
        delete state.tenants[event.tenantId]!.window;
        if (event.type === 'child-finished') this.recordResult(event.tenantId, child.mode, event.result);
        else this.recordFailure(event.tenantId, child.mode, event.type === 'child-busy', event.message);
        // A regression during the bake was counted when it was found.
        if (state.tenants[event.tenantId]!.failed && child.mode !== 'rollback') this.count('tenantFailed');
        delete this.inFlight()[event.tenantId];
        break;
      }
      case 'timer-fired':
        if (state.timer !== event.timer) return false;
        state.timer = undefined;
        break;
      case 'watch-reported':
        if (state.bake?.watch !== 'out') return false;
        state.bake.watch = event.regressions.length > 0 ? 'again' : 'over';
        for (const { tenantId, reason } of event.regressions) this.regressed(tenantId, reason);
        break;
      case 'watch-failed': {
        if (state.bake?.watch !== 'out') return false;
        state.bake.watch = 'over';
        // A bake nobody could watch has not shown the wave healthy.
        if (!state.haltReason) {
          state.haltReason = `wave "${this.input.waves[state.waveIndex]!.name}": its bake could not watch the tenants: ${event.message}`;
          this.setPhase(`wave-${state.waveIndex + 1}/halted`);
        }
        break;
      }
      case 'approve': {
        const gate = approvalGate(this.input, state, event.wave);
        if (typeof gate === 'string') return this.refuse(gate);
        const record = state.waves[gate]!;
        const early = record.status !== 'awaiting-approval';
        record.approval = { by: event.by, comment: event.comment, at: this.isoNow() };
        this.reply = { wave: record.name, early };
        break;
      }
      case 'abort': {
        const refused = refusalOf(this.input, state, { type: 'abort' });
        if (refused) return this.refuse(refused);
        state.abort = { by: event.by, reason: event.reason, rollback: event.rollback ?? this.input.options.rollbackOnAbort, at: this.isoNow() };
        const stoppedStarting = Object.entries(state.tenants)
          .filter(([, t]) => t.status === 'pending' || t.status === 'busy')
          .map(([id]) => id);
        this.setPhase(`wave-${state.waveIndex + 1}/aborting`);
        // Deploys only: a rollback after a regression in the bake is already going back. Without
        // rollback, tenants still waiting for their window stop too: they have not deployed anything.
        for (const [tenantId, child] of Object.entries(this.inFlight())) {
          if (child.started && child.mode === 'deploy' && (state.abort.rollback || state.tenants[tenantId]!.window)) {
            this.emit({ type: 'stop-child', tenantId, reason: abortReason(state) });
          }
        }
        this.reply = { stoppedStarting };
        break;
      }
      case 'pause': {
        const refused = refusalOf(this.input, state, { type: 'pause' });
        if (refused) return this.refuse(refused);
        state.paused = { by: event.by, reason: event.reason, at: this.isoNow() };
        this.setPhase(`wave-${state.waveIndex + 1}/paused`);
        break;
      }
      case 'resume': {
        const refused = refusalOf(this.input, state, { type: 'resume' });
        if (refused) return this.refuse(refused);
        state.paused = undefined;
        break;
      }
      case 'window-wait': {
        const record = state.tenants[event.tenantId];
        if (!record || record.status !== 'running' || this.inFlight()[event.tenantId]?.mode !== 'deploy') return false;
        // The release stops: a tenant that has deployed nothing need not wait to be told.
        if (stopping(state)) {
          this.emit({ type: 'stop-child', tenantId: event.tenantId, reason: stopReasonOf(state) });
          return false;
        }
        record.window = { until: event.until, ...(event.waitingFor ? { waitingFor: event.waitingFor } : {}) };
        record.reason = `waiting for window until ${event.until}${event.waitingFor ? `: ${event.waitingFor}` : ''}`;
        return false;
      }
      case 'skip-window': {
        const refused = skipWindowRefusal(this.input, state, event.tenantId);
        if (refused) return this.refuse(refused);
        const record = state.tenants[event.tenantId]!;
        this.reply = { tenant: event.tenantId, wasWaitingUntil: record.window!.until };
        delete record.window;
        record.reason = `window wait skipped by ${event.by}: ${event.reason}`;
        this.emit({ type: 'skip-window', tenantId: event.tenantId, by: event.by, reason: event.reason });
        return false;
      }
    }
    return true;
  }

  private refuse(reason: string): false {
    this.reply = { refused: reason };
    return false;
  }

  /** Moves the run on from where it waits, as far as it can go without another event. */
  advance(): void {
    const { state, input } = this;
    for (;;) {
      if (state.waiting === 'concluded' || state.waiting === 'continuing') return;
      if (state.waiting === 'reverting') return this.revert();
      if (state.waveIndex >= input.waves.length) return this.finishWaves();
      const outcome = this.wave(state.waveIndex);
      if (outcome === 'wait') return;
      if (outcome === 'stop') return this.finishWaves();
      if (outcome === 'continue-as-new') {
        this.setPhase(`wave-${state.waveIndex + 1}/continuing`);
        state.waiting = 'continuing';
        this.emit({ type: 'continue-as-new' });
        return;
      }
      // What the wave's bake watched is over with the wave.
      state.bakeWatch = undefined;
      state.waveIndex += 1;
    }
  }

  /** One wave: its tenants, its bake time, the approval gate after it. Resumes where it waits. */
  private wave(w: number): 'wait' | 'next' | 'stop' | 'continue-as-new' {
    const { state, input } = this;
    const wave = input.waves[w]!;
    const record = state.waves[w]!;
    const resuming = state.waiting;
    if (resuming === undefined && stopping(state)) return 'stop';

    if (record.status === 'pending' || record.status === 'running') {
      if (record.status === 'pending') Object.assign(record, { status: 'running', startedAt: this.isoNow() });
      // Anything that happened while the wave waited sends it round again, with a fresh retry timer.
      if (resuming === 'tenants' && state.timer === 'busy-retry') this.cancelTimer('busy-retry');
      state.waiting = undefined;
      const outcome = this.tenants(w);
      if (outcome !== 'done') return outcome;
      if (stopping(state)) {
        if (state.haltReason) record.status = 'halted';
        return 'stop';
      }
      record.status = 'baking';
    }

    if (record.status === 'baking') {
      if (wave.bakeMs > 0) {
        if (state.waiting !== 'bake') {
          this.setPhase(`wave-${w + 1}/baking`);
          this.startTimer('bake', wave.bakeMs);
          state.waiting = 'bake';
          if (state.activeBake) state.bake = { since: this.clock.now, until: this.clock.now + wave.bakeMs, watch: 'again' };
        }
        if (state.bake) {
          if (this.activeBake(w) === 'wait') return 'wait';
          state.waiting = undefined;
          if (stopping(state)) {
            if (state.haltReason) record.status = 'halted';
            return 'stop';
          }
        } else if (stopping(state)) {
          this.cancelTimer('bake');
          state.waiting = undefined;
          return 'stop';
        }
        if (state.timer === 'bake') return 'wait';
        state.waiting = undefined;
      }
      record.status = wave.approval && w < input.waves.length - 1 ? 'awaiting-approval' : 'done';
    }

    if (record.status === 'awaiting-approval' && wave.approval) {
      if (state.waiting !== 'gate') {
        this.setPhase(`wave-${w + 2}/awaiting-approval`);
        this.startTimer('gate', wave.approval.timeoutMs);
        state.waiting = 'gate';
      }
      const answered = record.approval !== undefined;
      if (!answered && !stopping(state) && state.timer === 'gate') return 'wait';
      state.waiting = undefined;
      if (state.timer === 'gate') this.cancelTimer('gate');
      if (stopping(state)) return 'stop';
      if (!answered) {
        if (wave.approval.onTimeout === 'abort') {
          const reason = `no approval for wave "${input.waves[w + 1]?.name}" within ${wave.approval.timeoutMs} ms`;
          state.abort = { by: 'release plan', reason, rollback: input.options.rollbackOnAbort, at: this.isoNow() };
          return 'stop';
        }
        record.approval = { by: 'release plan', comment: 'approval timed out; the plan says continue', at: this.isoNow() };
      }
    }
    Object.assign(record, { status: 'done', finishedAt: this.isoNow() });
    return 'next';
  }

  /**
   * The bake while it is watched: the tenants that regressed are rolled back (at most `maxInFlight`
   * at once), the watch goes out again while the bake has time left, and the bake is over once its
   * timer fired (or the release stops), the watch is back and every rollback has finished.
   */
  private activeBake(w: number): 'wait' | 'over' {
    const { state } = this;
    const bake = state.bake!;
    const wave = this.input.waves[w]!;
    const queue = state.toRollBack ?? [];
    while (queue.length > 0 && Object.keys(this.inFlight()).length < wave.maxInFlight) {
      const id = queue.shift()!;
      this.startChild(w, id, 'rollback', regressionOf(state.tenants[id]!.reason));
    }
    if (queue.length === 0) state.toRollBack = undefined;
    if (stopping(state)) {
      this.cancelTimer('bake');
      if (bake.watch === 'out') this.emit({ type: 'stop-watch' });
      bake.watch = 'over';
    }
    if (bake.watch === 'again') {
      const watched = wave.tenants.filter((id) => state.tenants[id]!.status === 'succeeded' && state.tenants[id]!.deployed && state.bakeWatch?.of[id] !== undefined);
      if (state.timer === 'bake' && watched.length > 0) {
        bake.watch = 'out';
        this.emit({ type: 'watch-bake', wave: wave.name, since: bake.since, until: bake.until, tenants: subsetOf(state.bakeWatch!, watched) });
      } else {
        bake.watch = 'over';
      }
    }
    if (state.timer === 'bake' || bake.watch === 'out' || state.toRollBack || Object.keys(this.inFlight()).length > 0) return 'wait';
    state.bake = undefined;
    state.bakeWatch = undefined;
    return 'over';
  }

  /** A tenant that regressed during the bake: it counts against the wave's threshold now, and waits for its rollback. */
  private regressed(tenantId: string, why: string): void {
    const { state } = this;
    const record = state.tenants[tenantId];
    if (!record || record.wave !== state.waveIndex || record.status !== 'succeeded' || !record.deployed) return;
    Object.assign(record, { status: 'running', reason: `${REGRESSED}${why}`, failed: true });
    (state.toRollBack ??= []).push(tenantId);
    this.count('tenantFailed');
    this.checkThreshold(record.wave);
  }

  /** Starts the wave's tenants until all are done, the release stops, or it must wait. */
  private tenants(w: number): 'wait' | 'done' | 'continue-as-new' {
    const { state, input, clock } = this;
    const wave = input.waves[w]!;
    for (;;) {
      const wantsNewRun = clock.historyLong;
      const next = this.nextTenant(w);
      const inFlight = Object.keys(this.inFlight()).length;
      const mayStart = !stopping(state) && !state.paused && !wantsNewRun && inFlight < wave.maxInFlight;
      if (!stopping(state)) this.setPhase(state.paused ? `wave-${w + 1}/paused` : `wave-${w + 1}/running`);
      if (mayStart && next.ready) {
        this.startChild(w, next.ready, 'deploy');
        continue;
      }
      if (inFlight === 0) {
        if (wantsNewRun && !stopping(state)) return 'continue-as-new';
        if (stopping(state) || (next.ready === undefined && next.retryAt === undefined)) return 'done';
      }
      if (mayStart && next.retryAt !== undefined) this.startTimer('busy-retry', Math.max(1, next.retryAt - clock.now));
      state.waiting = 'tenants';
      return 'wait';
    }
  }

  /** The wave's next startable tenant, or when the earliest busy one may be tried again. */
  private nextTenant(w: number): { ready?: string; retryAt?: number } {
    let retryAt: number | undefined;
    for (const id of this.input.waves[w]!.tenants) {
      const tenant = this.state.tenants[id]!;
      if (tenant.status === 'pending') return { ready: id };
      if (tenant.status === 'busy') {
        const notBefore = tenant.notBefore ?? 0;
        if (notBefore <= this.clock.now) return { ready: id };
        retryAt = retryAt === undefined ? notBefore : Math.min(retryAt, notBefore);
      }
    }
    return { retryAt };
  }

  private startChild(w: number, tenantId: string, mode: ChildMode, reason?: string): void {
    const record = this.state.tenants[tenantId]!;
    Object.assign(record, { status: 'running', notBefore: undefined });
    if (mode === 'deploy') record.attempts += 1;
    this.inFlight()[tenantId] = { mode, started: false };
    const revertTo = mode === 'deploy' ? undefined : record.previousVersion;
    this.emit({ type: 'start-child', tenantId, mode, wave: this.input.waves[w]!.name, revertTo, ...(reason !== undefined ? { reason } : {}) });
  }

  private recordResult(tenantId: string, mode: ChildMode, result: ReleaseTenantResult): void {
    const record = this.state.tenants[tenantId]!;
    // Only a deploy puts a tenant on the maintenance page (a rollback or revert goes back with traffic flowing).
    if (mode === 'deploy' && result.maintenance) {
      const wave = this.state.waves[record.wave]!;
      wave.maintenance = addWaveMaintenance(wave.maintenance, tenantId, result.maintenance);
    }
    if (result.status === 'succeeded' && result.deployed && mode === 'deploy') this.count('tenantDeployed');
    if (result.status === 'rolled-back' && result.deployed) this.count('tenantRolledBack');
    if (mode === 'rollback') {
      const regression = regressionOf(record.reason);
      Object.assign(record, {
        status: result.status === 'rolled-back' ? 'rolled-back' : result.status === 'rollback-failed' ? 'rollback-failed' : 'skipped',
        reason:
          result.status === 'rolled-back'
            ? `rolled back during bake: ${result.reason ?? regression}`
            : result.status === 'rollback-failed'
              ? `rollback during bake failed: ${result.reason ?? regression}`
              : `regressed during bake (${regression}); not rolled back: ${result.reason ?? result.status}`,
      });
      return;
    }
    if (mode === 'deploy' && result.status === 'succeeded' && result.deployed && result.watch && this.state.activeBake && this.input.waves[record.wave]!.bakeMs > 0) {
      addWatch((this.state.bakeWatch ??= emptyWatchSet()), tenantId, result.watch);
    }
    if (mode === 'revert') {
      const reverted = result.status === 'rolled-back';
      Object.assign(record, {
        status: reverted ? 'rolled-back' : 'rollback-failed',
        reason: reverted ? `reverted after the abort${result.reason ? ` (${result.reason})` : ''}` : result.reason,
        failed: !reverted,
      });
      return;
    }
    Object.assign(record, {
      status: result.status,
      reason: result.reason,
      previousVersion: result.previousVersion,
      deployed: result.deployed,
      failed: result.status === 'rolled-back' || result.status === 'rollback-failed',
    });
    this.checkThreshold(record.wave);
  }

  private recordFailure(tenantId: string, mode: ChildMode, busy: boolean, message: string): void {
    const { state, input } = this;
    const record = state.tenants[tenantId]!;
    if (mode === 'deploy' && busy && record.attempts < input.options.busyRetry.attempts && !stopping(state)) {
      // Another operation holds the tenant: report it, try again later, never touch it twice at once.
      Object.assign(record, { status: 'busy', reason: message, notBefore: this.clock.now + input.options.busyRetry.delayMs });
      return;
    }
    if (mode === 'revert') {
      Object.assign(record, { status: 'rollback-failed', reason: `revert after the abort failed: ${message}`, failed: true });
      return;
    }
    if (mode === 'rollback') {
      Object.assign(record, { status: 'rollback-failed', reason: `rollback during bake failed: ${record.reason ?? 'regressed during bake'}; ${message}`, failed: true });
      return;
    }
    Object.assign(record, {
      status: 'skipped',
      reason: busy ? `still busy after ${record.attempts} attempts: ${message}` : `failed before deploying: ${message}`,
      failed: !busy,
    });
    this.checkThreshold(record.wave);
  }

  private checkThreshold(w: number): void {
    const { state } = this;
    if (state.haltReason) return;
    const wave = this.input.waves[w]!;
    const failures = wave.tenants.filter((id) => state.tenants[id]!.failed).length;
    if (!thresholdExceeded(wave, failures)) return;
    const limit = 'count' in wave.failureThreshold ? `${wave.failureThreshold.count} allowed` : `${wave.failureThreshold.percent}% allowed`;
    state.haltReason = `wave "${wave.name}": ${failures} of ${wave.tenants.length} tenants failed (${limit})`;
    this.setPhase(`wave-${w + 1}/halted`);
    // A halt waits for the children in flight; those still waiting for their window have nothing to finish.
    for (const [tenantId, child] of Object.entries(this.inFlight())) {
      if (child.started && child.mode === 'deploy' && state.tenants[tenantId]!.window) this.emit({ type: 'stop-child', tenantId, reason: stopReasonOf(state) });
    }
  }

  /** After the waves: skip what never started; after an abort with rollback, revert what this release deployed. */
  private finishWaves(): void {
    const { state } = this;
    state.bakeWatch = undefined;
    const why = state.abort ? abortReason(state) : state.haltReason ? `release halted: ${state.haltReason}` : undefined;
    for (const record of Object.values(state.tenants)) {
      if (record.status === 'pending' || record.status === 'busy') Object.assign(record, { status: 'skipped', reason: `not started: ${why ?? 'release ended'}`, notBefore: undefined });
    }
    for (const wave of state.waves) if (wave.status === 'pending') wave.status = 'skipped';
    if (!state.abort?.rollback) return this.conclude();
    this.setPhase('reverting');
    state.toRevert = Object.entries(state.tenants)
      .filter(([, t]) => t.status === 'succeeded' && t.deployed)
      .map(([id]) => id);
    state.waiting = 'reverting';
    this.revert();
  }

  private revert(): void {
    const { state } = this;
    const queue = state.toRevert ?? [];
    const limit = Math.max(...this.input.waves.map((w) => w.maxInFlight));
    while (queue.length > 0 && Object.keys(this.inFlight()).length < limit) {
      const id = queue.shift()!;
      this.startChild(state.tenants[id]!.wave, id, 'revert');
    }
    if (queue.length === 0 && Object.keys(this.inFlight()).length === 0) {
      state.toRevert = undefined;
      this.conclude();
    }
  }

  private conclude(): void {
    const summary = summaryOf(this.input, this.state);
    this.setPhase(summary.status);
    this.state.waiting = 'concluded';
    const failure =
      summary.status === 'aborted' || summary.status === 'halted'
        ? { kind: summary.status, message: `release ${this.input.releaseId} of ${this.input.version} ${summary.status}: ${summary.reason ?? ''} (${describeCounts(summary.counts)})` }
        : undefined;
    this.emit({ type: 'finish', summary, failure });
  }

  private setPhase(phase: string): void {
    if (this.state.phase === phase) return;
    this.state.phase = phase;
    this.emit({ type: 'set-phase', phase, details: phaseDetails(this.input, this.state, phase) });
  }

  private startTimer(timer: TimerName, ms: number): void {
    this.state.timer = timer;
    this.emit({ type: 'start-timer', timer, ms });
  }

  private cancelTimer(timer: TimerName): void {
    if (this.state.timer !== timer) return;
    this.state.timer = undefined;
    this.emit({ type: 'cancel-timer', timer });
  }

  private count(metric: ReleaseMetric): void {
    this.emit({ type: 'count', metric });
  }

  private emit(command: ReleaseCommand): void {
    this.commands.push(command);
  }

  private inFlight(): NonNullable<MachineState['inFlight']> {
    return (this.state.inFlight ??= {});
  }

  private isoNow(): string {
    return new Date(this.clock.now).toISOString();
  }
}

/** A tenant's reason while its rollback after a regression in the bake runs; `regressionOf` gives the regression back. */
const REGRESSED = 'regressed during bake: ';
function regressionOf(reason: string | undefined): string {
  return reason?.startsWith(REGRESSED) ? reason.slice(REGRESSED.length) : (reason ?? 'regressed during bake');
}

function stopReasonOf(state: MachineState): string {
  return state.abort ? abortReason(state) : `release halted: ${state.haltReason}`;
}

function abortReason(state: MachineState): string {
  return `release aborted by ${state.abort!.by}: ${state.abort!.reason}`;
}
