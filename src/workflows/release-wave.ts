import {
  ApplicationFailure,
  ChildWorkflowFailure,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  metricMeter,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import type { z } from 'zod';
import { ErrorType, permanentFailure } from '../shared/errors';
import { workflowIds } from '../shared/ids';
import {
  abortInputSchema,
  abortUpdate,
  approveInputSchema,
  approveUpdate,
  pauseInputSchema,
  pauseUpdate,
  releaseProgressQuery,
  releaseWaveInputSchema,
  resumeUpdate,
  stopTenantSignal,
  TERMINAL_TENANT_STATUSES,
  type ReleaseProgress,
  type ReleaseState,
  type ReleaseStatus,
  type ReleaseSummary,
  type ReleaseTenantResult,
  type ReleaseWaveInput,
  type TenantReleaseStatus,
} from '../shared/messages/release';
import { releaseMetrics } from '../shared/release-metrics';
import { thresholdExceeded } from '../shared/release/plan';
import { EnvironmentKey, PhaseKey, ReleaseIdKey } from '../shared/search-attributes';
import { releaseTenant } from './release-tenant';
import { messageOf } from './steps';
import { describeIssues, parseOrFail } from '../shared/validation';

type Input = ReturnType<typeof parseInput>;
const parseInput = (raw: unknown) => parseOrFail(releaseWaveInputSchema, raw, 'releaseWave input');
const isTerminal = (status: TenantReleaseStatus) => TERMINAL_TENANT_STATUSES.includes(status);


/**
 * A release across the fleet (ID `release/<releaseId>`): waves one after another, each tenant
 * in its own child workflow holding the tenant's lock; failure thresholds halt the release,
 * bake times and approval gates sit between waves, and people steer it with the `approve`,
 * `abort`, `pause` and `resume` updates. The state is plain JSON and carried across
 * continue-as-new, which happens only with no tenant in flight.
 */
export async function releaseWave(rawInput: ReleaseWaveInput, carried?: ReleaseState): Promise<ReleaseSummary> {
  const input = parseInput(rawInput);
  const state: ReleaseState = carried ?? initialState(input);
  const release = new ReleaseRun(input, state);
  if (!carried) release.metrics.releaseStarted({ plan: input.plan });
  release.install();
  upsertSearchAttributes([
    { key: ReleaseIdKey, value: input.releaseId },
    { key: EnvironmentKey, value: input.environments.join(',') },
  ]);

  for (; state.waveIndex < input.waves.length; state.waveIndex++) {
    const outcome = await release.runWave(state.waveIndex);
    if (outcome === 'continue-as-new') {
      release.setPhase(`wave-${state.waveIndex + 1}/continuing`);
      await condition(allHandlersFinished);
      return continueAsNew<typeof releaseWave>(rawInput, { ...state, run: state.run + 1 });
    }
    if (outcome === 'stop') break;
  }
  await release.finish();
  return release.conclude();
}

function initialState(input: Input): ReleaseState {
  const tenants: ReleaseState['tenants'] = {};
  input.waves.forEach((wave, w) => wave.tenants.forEach((id) => (tenants[id] = { wave: w, status: 'pending', attempts: 0 })));
  return { waveIndex: 0, phase: 'starting', waves: input.waves.map((w) => ({ name: w.name, status: 'pending' })), tenants, run: 1 };
}

class ReleaseRun {
  /** Children of this run; always empty when the run continues as new. */
  private readonly inFlight = new Map<string, ChildWorkflowHandle<typeof releaseTenant> | undefined>();
  /** Counters in the workers' Prometheus exporter; the workflow meter does not count again on replay. */
  readonly metrics = releaseMetrics(metricMeter);
  private wake = 0;

  constructor(
    private readonly input: Input,
    private readonly state: ReleaseState,
  ) {}

  install(): void {
    const { state } = this;
    setHandler(releaseProgressQuery, () => this.progress());

    setHandler(
      approveUpdate,
      (request) => {
        const { by, comment, wave } = approveInputSchema.parse(request);
        const gate = this.approvalGate(wave);
        if (typeof gate === 'string') throw refusal(gate);
        const record = state.waves[gate]!;
        const early = record.status !== 'awaiting-approval';
        record.approval = { by, comment, at: new Date().toISOString() };
        this.changed();
        return { wave: record.name, early };
      },
      {
        validator: (request) => {
          const parsed = approveInputSchema.safeParse(request);
          if (!parsed.success) throw refusal(`approve: ${describeIssues(parsed.error.issues, request).join('; ')}`);
          const gate = this.approvalGate(parsed.data.wave);
          if (typeof gate === 'string') throw refusal(gate);
        },
      },
    );

    setHandler(
      abortUpdate,
      async (request) => {
        const { by, reason, rollback } = abortInputSchema.parse(request);
        state.abort = { by, reason, rollback: rollback ?? this.input.options.rollbackOnAbort, at: new Date().toISOString() };
        const stoppedStarting = Object.entries(state.tenants)
          .filter(([, t]) => t.status === 'pending' || t.status === 'busy')
          .map(([id]) => id);
        this.setPhase(`wave-${state.waveIndex + 1}/aborting`);
        this.changed();
        if (state.abort.rollback) {
          const started = [...this.inFlight.values()].filter((child) => child !== undefined);
          await Promise.all(started.map((child) => stopChild(child, `release aborted by ${by}: ${reason}`)));
        }
        return { stoppedStarting };
      },
      { validator: (request) => this.refuseWhenFinished('abort', abortInputSchema, request) },
    );

    setHandler(
      pauseUpdate,
      (request) => {
        const { by, reason } = pauseInputSchema.parse(request);
        state.paused = { by, reason, at: new Date().toISOString() };
        this.setPhase(`wave-${state.waveIndex + 1}/paused`);
        this.changed();
      },
      {
        validator: (request) => {
          this.refuseWhenFinished('pause', pauseInputSchema, request);
          if (state.paused) throw refusal(`release ${this.input.releaseId} is already paused (by ${state.paused.by} at ${state.paused.at})`);
        },
      },
    );

    setHandler(
      resumeUpdate,
      (request) => {
        pauseInputSchema.parse(request);
        state.paused = undefined;
        this.changed();
      },
      {
        validator: (request) => {
          this.refuseWhenFinished('resume', pauseInputSchema, request);
          if (!state.paused) throw refusal(`release ${this.input.releaseId} is not paused`);
        },
      },
    );
  }

  /** Runs (or resumes) one wave, its bake time and the approval gate after it. */
  async runWave(w: number): Promise<'next' | 'stop' | 'continue-as-new'> {
    const { state, input } = this;
    const wave = input.waves[w]!;
    const record = state.waves[w]!;
    if (this.stopping()) return 'stop';

    if (record.status === 'pending' || record.status === 'running') {
      if (record.status === 'pending') Object.assign(record, { status: 'running', startedAt: new Date().toISOString() });
      const outcome = await this.runTenants(w);
      if (outcome !== 'done') return outcome;
      if (this.stopping()) {
        if (state.haltReason) record.status = 'halted';
        return 'stop';
      }
      record.status = 'baking';
    }

    if (record.status === 'baking') {
      if (wave.bakeMs > 0) {
        this.setPhase(`wave-${w + 1}/baking`);
        if (await condition(() => this.stopping(), wave.bakeMs)) return 'stop';
      }
      record.status = wave.approval && w < input.waves.length - 1 ? 'awaiting-approval' : 'done';
    }

    if (record.status === 'awaiting-approval' && wave.approval) {
      this.setPhase(`wave-${w + 2}/awaiting-approval`);
      const answered = await condition(() => record.approval !== undefined || this.stopping(), wave.approval.timeoutMs);
      if (this.stopping()) return 'stop';
      if (!answered) {
        if (wave.approval.onTimeout === 'abort') {
          state.abort = { by: 'release plan', reason: `no approval for wave "${input.waves[w + 1]?.name}" within ${wave.approval.timeoutMs} ms`, rollback: input.options.rollbackOnAbort, at: new Date().toISOString() };
          return 'stop';
        }
        record.approval = { by: 'release plan', comment: 'approval timed out; the plan says continue', at: new Date().toISOString() };
      }
    }
    Object.assign(record, { status: 'done', finishedAt: new Date().toISOString() });
    return 'next';
  }

  /** Starts the wave's tenants, at most maxInFlight at a time, until all are done or the release stops. */
  private async runTenants(w: number): Promise<'done' | 'continue-as-new'> {
    const { state, input } = this;
    const wave = input.waves[w]!;
    for (;;) {
      const wantsNewRun = this.historyIsLong();
      const next = this.nextTenant(w);
      const mayStart = !this.stopping() && !state.paused && !wantsNewRun && this.inFlight.size < wave.maxInFlight;
      if (!this.stopping()) this.setPhase(state.paused ? `wave-${w + 1}/paused` : `wave-${w + 1}/running`);
      if (mayStart && next.ready) {
        this.start(w, next.ready);
        continue;
      }
      if (this.inFlight.size === 0) {
        if (wantsNewRun && !this.stopping()) return 'continue-as-new';
        if (this.stopping() || (next.ready === undefined && next.retryAt === undefined)) return 'done';
      }
      const seen = this.wake;
      if (mayStart && next.retryAt !== undefined) await condition(() => this.wake !== seen, Math.max(1, next.retryAt - Date.now()));
      else await condition(() => this.wake !== seen);
    }
  }

  /** The wave's next startable tenant, or when the earliest busy one may be tried again. */
  private nextTenant(w: number): { ready?: string; retryAt?: number } {
    let retryAt: number | undefined;
    for (const id of this.input.waves[w]!.tenants) {
      const tenant = this.state.tenants[id]!;
      if (tenant.status === 'pending') return { ready: id };
      if (tenant.status === 'busy') {
        if ((tenant.notBefore ?? 0) <= Date.now()) return { ready: id };
        retryAt = Math.min(retryAt ?? Infinity, tenant.notBefore!);
      }
    }
    return { retryAt };
  }

  private start(w: number, tenantId: string, mode: 'deploy' | 'revert' = 'deploy'): void {
    const record = this.state.tenants[tenantId]!;
    Object.assign(record, { status: 'running', notBefore: undefined });
    if (mode === 'deploy') record.attempts += 1;
    this.inFlight.set(tenantId, undefined);
    const { releaseId, version, options } = this.input;
    // Never rejects: every outcome, failures included, is recorded by the handlers below.
    void startChild(releaseTenant, {
      workflowId: workflowIds.releaseTenant(releaseId, tenantId),
      args: [
        {
          releaseId,
          tenantId,
          version,
          mode,
          revertTo: mode === 'revert' ? record.previousVersion : undefined,
          verifyWindowMs: options.verifyWindowMs,
          restoreDatabaseOnRollback: options.restoreDatabaseOnRollback,
        },
      ],
      // Terminating the release must not leave a tenant without its rollback.
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      staticSummary: `${mode} ${version} on ${tenantId} (release ${releaseId}, wave ${this.input.waves[w]!.name})`,
    })
      .then(async (child) => {
        this.inFlight.set(tenantId, child);
        const abort = this.state.abort;
        if (mode === 'deploy' && abort?.rollback) await stopChild(child, `release aborted by ${abort.by}: ${abort.reason}`);
        return child.result();
      })
      .then(
        (result) => this.recordResult(w, tenantId, mode, result),
        (error: unknown) => this.recordFailure(w, tenantId, mode, error),
      )
      .then(() => {
        if (this.state.tenants[tenantId]!.failed) this.metrics.tenantFailed({ plan: this.input.plan });
      })
      .finally(() => {
        this.inFlight.delete(tenantId);
        this.changed();
      });
  }

  private recordResult(w: number, tenantId: string, mode: 'deploy' | 'revert', result: ReleaseTenantResult): void {
    const record = this.state.tenants[tenantId]!;
    if (result.status === 'succeeded' && result.deployed && mode === 'deploy') this.metrics.tenantDeployed({ plan: this.input.plan });
    if (result.status === 'rolled-back' && result.deployed) this.metrics.tenantRolledBack({ plan: this.input.plan });
    if (mode === 'revert') {
      Object.assign(record, {
        status: result.status === 'rolled-back' ? 'rolled-back' : 'rollback-failed',
        reason: result.status === 'rolled-back' ? `reverted after the abort${result.reason ? ` (${result.reason})` : ''}` : result.reason,
        failed: result.status !== 'rolled-back',
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
    this.checkThreshold(w);
  }

  private recordFailure(w: number, tenantId: string, mode: 'deploy' | 'revert', error: unknown): void {
    const record = this.state.tenants[tenantId]!;
    const cause = error instanceof ChildWorkflowFailure ? error.cause : error;
    const type = cause instanceof ApplicationFailure ? cause.type : undefined;
    if (mode === 'deploy' && type === ErrorType.TenantLocked && record.attempts < this.input.options.busyRetry.attempts && !this.stopping()) {
      // Another operation holds the tenant: report it, try again later, never touch it twice at once.
      Object.assign(record, { status: 'busy', reason: messageOf(cause), notBefore: Date.now() + this.input.options.busyRetry.delayMs });
      return;
    }
    if (mode === 'revert') {
      Object.assign(record, { status: 'rollback-failed', reason: `revert after the abort failed: ${messageOf(cause)}`, failed: true });
      return;
    }
    const busy = type === ErrorType.TenantLocked;
    Object.assign(record, {
      status: 'skipped',
      reason: busy ? `still busy after ${record.attempts} attempts: ${messageOf(cause)}` : `failed before deploying: ${messageOf(cause)}`,
      failed: !busy,
    });
    this.checkThreshold(w);
  }

  private checkThreshold(w: number): void {
    if (this.state.haltReason) return;
    const wave = this.input.waves[w]!;
    const failures = wave.tenants.filter((id) => this.state.tenants[id]!.failed).length;
    if (thresholdExceeded(wave, failures)) {
      const limit = 'count' in wave.failureThreshold ? `${wave.failureThreshold.count} allowed` : `${wave.failureThreshold.percent}% allowed`;
      this.state.haltReason = `wave "${wave.name}": ${failures} of ${wave.tenants.length} tenants failed (${limit})`;
      this.setPhase(`wave-${w + 1}/halted`);
    }
  }

  /** After the waves: skip what never started; after an abort with rollback, revert what this release deployed. */
  async finish(): Promise<void> {
    const { state } = this;
    const why = state.abort ? `release aborted by ${state.abort.by}: ${state.abort.reason}` : state.haltReason ? `release halted: ${state.haltReason}` : undefined;
    for (const record of Object.values(state.tenants)) {
      if (record.status === 'pending' || record.status === 'busy') Object.assign(record, { status: 'skipped', reason: `not started: ${why ?? 'release ended'}`, notBefore: undefined });
    }
    state.waves.forEach((wave) => {
      if (wave.status === 'pending') wave.status = 'skipped';
    });
    if (!state.abort?.rollback) return;

    this.setPhase('reverting');
    const toRevert = Object.entries(state.tenants)
      .filter(([, t]) => t.status === 'succeeded' && t.deployed)
      .map(([id]) => id);
    const limit = Math.max(...this.input.waves.map((w) => w.maxInFlight));
    for (const id of toRevert) {
      await condition(() => this.inFlight.size < limit);
      this.start(state.tenants[id]!.wave, id, 'revert');
    }
    await condition(() => this.inFlight.size === 0);
  }

  conclude(): ReleaseSummary {
    const { state, input } = this;
    const counts = countStatuses(Object.values(state.tenants).map((t) => t.status));
    const tenants = Object.entries(state.tenants).map(([tenantId, t]) => ({
      tenantId,
      wave: input.waves[t.wave]!.name,
      status: t.status,
      reason: t.reason,
      previousVersion: t.previousVersion,
    }));
    const allSucceeded = counts.succeeded === tenants.length;
    const status: ReleaseSummary['status'] = state.abort ? 'aborted' : state.haltReason ? 'halted' : allSucceeded ? 'succeeded' : 'completed-with-failures';
    const reason = state.abort ? `aborted by ${state.abort.by}: ${state.abort.reason}` : state.haltReason;
    const summary: ReleaseSummary = { releaseId: input.releaseId, version: input.version, status, reason, counts, tenants };
    this.setPhase(status);
    if (status === 'aborted' || status === 'halted') {
      // A failed workflow in the UI for a release that did not go through; the summary rides along for the client.
      throw permanentFailure(status === 'aborted' ? ErrorType.Aborted : ErrorType.ReleaseHalted, `release ${input.releaseId} of ${input.version} ${status}: ${reason ?? ''} (${describeCounts(counts)})`, {
        details: [summary],
      });
    }
    return summary;
  }

  progress(): ReleaseProgress {
    const { state, input } = this;
    return {
      releaseId: input.releaseId,
      version: input.version,
      plan: input.plan,
      status: this.status(),
      phase: state.phase,
      waves: state.waves.map((record, w) => {
        const ids = input.waves[w]!.tenants;
        return { ...record, tenants: ids, counts: countStatuses(ids.map((id) => state.tenants[id]!.status)) };
      }),
      tenants: state.tenants,
      inFlight: [...this.inFlight.keys()],
      paused: state.paused,
      abort: state.abort,
      haltReason: state.haltReason,
    };
  }

  setPhase(phase: string): void {
    if (this.state.phase === phase) return;
    this.state.phase = phase;
    upsertSearchAttributes([{ key: PhaseKey, value: phase }]);
    const counts = countStatuses(Object.values(this.state.tenants).map((t) => t.status));
    setCurrentDetails(`**release ${this.input.releaseId}** of \`${this.input.version}\` (plan ${this.input.plan}): ${phase}\n\n${describeCounts(counts)}`);
  }

  private status(): ReleaseStatus {
    const { state } = this;
    if (state.phase === 'succeeded' || state.phase === 'completed-with-failures') return state.phase;
    if (state.abort) return 'aborted';
    if (state.haltReason) return 'halted';
    return state.paused ? 'paused' : 'running';
  }

  /** The gate an approval is for, or why there is none. */
  private approvalGate(waveName?: string): number | string {
    const { state, input } = this;
    const ended = this.endedReason();
    if (ended) return `nothing to approve: ${ended}`;
    const last = input.waves.length - 1;
    const open = (w: number) => w >= state.waveIndex && w < last && input.waves[w]!.approval !== undefined && state.waves[w]!.approval === undefined;
    if (waveName !== undefined) {
      const w = input.waves.findIndex((wave) => wave.name === waveName);
      if (w === -1) return `release ${input.releaseId} has no wave "${waveName}"; its waves are ${input.waves.map((x) => x.name).join(', ')}`;
      if (!open(w)) return `wave "${waveName}" has no open approval gate (${state.waves[w]!.approval ? `approved by ${state.waves[w]!.approval.by}` : input.waves[w]!.approval ? 'already passed' : 'the plan needs no approval after it'})`;
      return w;
    }
    const w = input.waves.findIndex((_, i) => open(i));
    return w === -1 ? `no wave of release ${input.releaseId} waits for approval: every remaining gate is approved or the plan has none (phase ${state.phase})` : w;
  }

  private refuseWhenFinished(what: string, schema: z.ZodType, request: unknown): void {
    const parsed = schema.safeParse(request);
    if (!parsed.success) throw refusal(`${what}: ${describeIssues(parsed.error.issues, request).join('; ')}`);
    const ended = this.endedReason();
    if (ended) throw refusal(`cannot ${what} release ${this.input.releaseId}: ${ended}`);
  }

  private endedReason(): string | undefined {
    const { state } = this;
    if (state.abort) return `it was aborted by ${state.abort.by} (${state.abort.reason})`;
    if (state.haltReason) return `it halted: ${state.haltReason}`;
    if (state.waveIndex >= this.input.waves.length) return 'every wave has finished';
    return undefined;
  }

  private stopping(): boolean {
    return this.state.abort !== undefined || this.state.haltReason !== undefined;
  }

  private historyIsLong(): boolean {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength >= this.input.options.continueAsNewAfterEvents;
  }

  private changed(): void {
    this.wake++;
  }
}

/** A child that finished a moment ago cannot take the signal, and needs no stopping: its result is on its way. */
async function stopChild(child: ChildWorkflowHandle<typeof releaseTenant>, reason: string): Promise<void> {
  await child.signal(stopTenantSignal, { reason }).catch(() => undefined);
}

function refusal(message: string): ApplicationFailure {
  return permanentFailure(ErrorType.InvalidInput, message);
}

function countStatuses(statuses: TenantReleaseStatus[]): Record<TenantReleaseStatus, number> {
  const counts: Record<TenantReleaseStatus, number> = { pending: 0, running: 0, busy: 0, succeeded: 0, 'rolled-back': 0, 'rollback-failed': 0, skipped: 0 };
  for (const status of statuses) counts[status] += 1;
  return counts;
}

function describeCounts(counts: Record<TenantReleaseStatus, number>): string {
  return (Object.entries(counts) as [TenantReleaseStatus, number][])
    .filter(([status, n]) => n > 0 || (isTerminal(status) && status === 'succeeded'))
    .map(([status, n]) => `${n} ${status}`)
    .join(', ');
}
