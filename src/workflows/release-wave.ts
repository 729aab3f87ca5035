import {
  ApplicationFailure, CancellationScope, ChildWorkflowFailure, ParentClosePolicy, allHandlersFinished, condition, continueAsNew, isCancellation,
  metricMeter, patched, setCurrentDetails, setHandler, sleep, startChild, upsertSearchAttributes, workflowInfo, type ChildWorkflowHandle,
} from '@temporalio/workflow';
import type { z } from 'zod';
import { ErrorType, permanentFailure } from '../shared/errors';
import { workflowIds } from '../shared/ids';
import {
  abortInputSchema, abortUpdate, approveInputSchema, approveUpdate, pauseInputSchema, pauseUpdate, progressRequestSchema, releaseProgressQuery, releaseWaveInputSchema,
  resumeUpdate, skipWindowInputSchema, skipWindowSignal, skipWindowUpdate, stopTenantSignal, tenantWindowSignal, type BlueGreenStrategy, type CompactReleaseState, type ReleaseTenantInput, type SkipWindowResult, type ReleaseState, type ReleaseSummary, type ReleaseWaveInput,
} from '../shared/messages/release';
import { deliveryMetrics } from '../shared/delivery-metrics';
import { releaseMetrics } from '../shared/release-metrics';
import { ReleaseDeliveryObserver } from '../shared/release/delivery';
import { childInputOf, type StartChildCommand } from '../shared/release/child-input';
import { advance, applyEvent, carriedState, openRun, step } from '../shared/release/machine';
import type { Clock, MachineState, ReleaseCommand, ReleaseEvent, ReleasePlanInput, StepResult, TimerName } from '../shared/release/machine-types';
import { refusalOf, skipWindowRefusal, type ReleaseRequest } from '../shared/release/refusals';
import { abortResultOf, legacySummaryOf, progressOf } from '../shared/release/report';
import { EnvironmentKey, PhaseKey, ReleaseIdKey, TenantIdKey } from '../shared/search-attributes';
import { describeIssues, parseOrFail } from '../shared/validation';
import { ReleaseNotifier } from './notify';
import { MERGED_STEPS_PATCH, releaseTenant } from './release-tenant';
import { BakeWatch } from './bake-watch';
import { messageOf } from './steps';
import { MAINTENANCE_WINDOWS_PATCH } from './maintenance-window';

/** Children get the release's plan, a label of their delivery metrics (src/workflows/tenant-delivery-metrics.ts). */
export const DELIVERY_METRICS_PATCH = 'release-delivery-metrics';

type End = Extract<ReleaseCommand, { type: 'continue-as-new' | 'finish' }>;

/** Runs started before it bake with a timer alone. */
export const ACTIVE_BAKE_PATCH = 'release-active-bake';

/**
 * A run continues as new on its own budget (`continueAsNewAfterEvents`, and HISTORY_BYTES_BUDGET)
 * instead of also when the server suggests it: the server's suggestion (4,096 events by default)
 * cost a release of 5,000 tenants 9 runs, each one waiting for its tenants in flight to drain
 * (#22). Runs before it follow the suggestion too.
 */
export const OWN_HISTORY_BUDGET_PATCH = 'release-own-history-budget';
/** Well under the server's 50 MB limit (and its 10 MB warning), and a replay of a few seconds. */
export const HISTORY_BYTES_BUDGET = 8 * 1024 * 1024;

/**
 * A release across the fleet (ID `release/<releaseId>`): waves one after another, each tenant
 * in its own child workflow holding the tenant's lock; failure thresholds halt the release,
 * bake times and approval gates sit between waves, and people steer it with the `approve`,
 * `abort`, `pause` and `resume` updates. What happens when is decided by the release machine
 * (src/shared/release/machine.ts); this workflow feeds it events and carries out its commands.
 */
export async function releaseWave(rawInput: ReleaseWaveInput, carried?: ReleaseState | CompactReleaseState): Promise<ReleaseSummary> {
  const input = parseOrFail(releaseWaveInputSchema, rawInput, 'releaseWave input');
  const legacy = !patched('release-compact-payloads'); // before it, a record per tenant in state, result and replies (docs/releases.md)
  // Bakes watch the wave's tenants and roll back those that regress (docs/releases.md, "Active bake").
  const activeBake = patched(ACTIVE_BAKE_PATCH);
  const shell = new Shell(input, openRun(input, carried, { activeBake }), legacy, ReleaseNotifier.start(input), patched(OWN_HISTORY_BUDGET_PATCH));
  shell.install();
  upsertSearchAttributes([{ key: ReleaseIdKey, value: input.releaseId }, { key: EnvironmentKey, value: input.environments.join(',') }]);
  const end = await shell.run(carried === undefined);
  // An update still running (an abort stopping children) finishes before the run ends.
  await condition(allHandlersFinished);
  // Deliveries still retrying would be dropped with the run; each is bounded by its schedule-to-close.
  await shell.notifier.settled();
  // Beyond a budget, failures' reasons stay in the tenants' own workflows (src/shared/release/compact.ts).
  if (end.type === 'continue-as-new') return continueAsNew<typeof releaseWave>(rawInput, carriedState(input, shell.state, { legacy, boundReasons: !legacy && patched('release-bounded-reasons') }));
  const summary = legacy ? legacySummaryOf(input, shell.state) : end.summary;
  if (!end.failure) return summary;
  // A failed workflow in the UI for a release that did not go through; the summary rides along for the client.
  throw permanentFailure(end.failure.kind === 'aborted' ? ErrorType.Aborted : ErrorType.ReleaseHalted, end.failure.message, { details: [summary] });
}

class Shell {
  private end?: End;
  private wakes = 0;
  private readonly children = new Map<string, ChildWorkflowHandle<typeof releaseTenant>>();
  private readonly timers = new Map<TimerName, { scope: CancellationScope; settled: Promise<void> }>();
  /** Counters in the workers' Prometheus exporter; the workflow meter does not count again on replay. */
  private readonly metrics = releaseMetrics(metricMeter);
  private readonly bakeWatch = new BakeWatch((event) => void this.feed(event));
  /** Release duration, lead time and approval waits (src/shared/release/delivery.ts); it issues no command. */
  private readonly delivery: ReleaseDeliveryObserver;
  /** Each tenant's windows and freezes, for its deploy; only in releases that have any (and runs since the patch). */
  private readonly maintenance = new Map<string, NonNullable<ReleaseWaveInput['maintenance']>[number]>();
  /** Tenants released blue/green, and how (docs/releases.md, "Blue/green"). */
  private readonly blueGreen = new Map<string, BlueGreenStrategy>();
  /** Each tenant's migration, in releases that run them (docs/releases.md, "Migrations"). */
  private readonly migrations = new Map<string, NonNullable<ReleaseWaveInput['migrations']>[number]>();

  constructor(
    private readonly input: ReleasePlanInput,
    public state: MachineState,
    private readonly legacy: boolean,
    readonly notifier: ReleaseNotifier,
    private readonly ownHistoryBudget: boolean,
  ) {
    this.delivery = new ReleaseDeliveryObserver(input, deliveryMetrics(metricMeter), workflowInfo().startTime.getTime());
    if (input.maintenance && patched(MAINTENANCE_WINDOWS_PATCH)) for (const group of input.maintenance) for (const id of group.tenants) this.maintenance.set(id, group);
    // A new input field, set only by releases that release blue/green: no command changes for the others.
    for (const group of input.blueGreen ?? []) for (const id of group.tenants) this.blueGreen.set(id, group.strategy);
    for (const group of input.migrations ?? []) for (const id of group.tenants) this.migrations.set(id, group);
  }

  clock(): Clock {
    const info = workflowInfo();
    const overBudget = info.historyLength >= this.input.options.continueAsNewAfterEvents;
    const historyLong = this.ownHistoryBudget ? overBudget || info.historySize >= HISTORY_BYTES_BUDGET : info.continueAsNewSuggested || overBudget;
    return { now: Date.now(), historyLong };
  }

  /**
   * The main loop: the release moves on here, once the update handlers and child callbacks
   * of a workflow task have recorded their events (the order the recorded histories expect).
   */
  async run(first: boolean): Promise<End> {
    // An event recorded while the loop carried out a step (a child ending while an abort's stop
    // signals were on their way) used to be missed, and the release waited for ever.
    const keepWakes = patched('release-wave-keeps-wakes');
    await this.carryOut(step(this.input, this.state, { type: 'run-started', first }, this.clock()));
    let seen = this.wakes;
    while (!this.end) {
      if (!keepWakes) seen = this.wakes;
      await condition(() => this.wakes !== seen);
      seen = this.wakes;
      await this.carryOut(advance(this.input, this.state, this.clock()));
    }
    return this.end;
  }

  /** Records one event; resolves `stopped` once the children it stops have their signal. */
  feed(event: ReleaseEvent): { result: StepResult; stopped: Promise<unknown> } {
    const result = applyEvent(this.input, this.state, event, this.clock());
    if (result.wake) this.wakes += 1;
    return { result, stopped: this.carryOut(result) };
  }

  /** Resolves once the children it stops have their signal. */
  private async carryOut({ state, commands }: StepResult): Promise<unknown> {
    this.state = state;
    this.delivery.observe(commands, state, Date.now());
    const signals: Promise<unknown>[] = [];
    for (const command of commands) {
      switch (command.type) {
        case 'set-phase':
          upsertSearchAttributes([{ key: PhaseKey, value: command.phase }]);
          setCurrentDetails(command.details);
          this.notifier.onPhase(command.phase, this.state.abort?.reason ?? this.state.haltReason);
          break;
        case 'start-child':
          this.startChild(command);
          break;
        case 'stop-child': {
          // A child that finished a moment ago cannot take the signal, and needs no stopping: its result is on its way.
          const child = this.children.get(command.tenantId);
          if (child) signals.push(child.signal(stopTenantSignal, { reason: command.reason }).catch(() => undefined));
          break;
        }
        case 'start-timer':
          this.startTimer(command.timer, command.ms);
          break;
        case 'cancel-timer': {
          const timer = this.timers.get(command.timer);
          this.timers.delete(command.timer);
          timer?.scope.cancel();
          // The SDK issues the cancel a moment later; what follows must come after it, as in the recorded histories.
          await timer?.settled;
          break;
        }
        case 'count':
          // A release is started once in each environment it touches; tenants' environments are the child's to count (delivery metrics).
          if (command.metric === 'releaseStarted') for (const environment of this.input.environments) this.metrics.releaseStarted({ environment, plan: this.input.plan });
          else this.metrics[command.metric]({ plan: this.input.plan });
          break;
        case 'watch-bake':
          this.bakeWatch.start(command, this.input.releaseId);
          break;
        case 'stop-watch':
          this.bakeWatch.stop();
          break;
        case 'skip-window': {
          // Refused by the validator unless the child waits: it is in flight and has said so.
          const child = this.children.get(command.tenantId);
          if (child) signals.push(child.signal(skipWindowSignal, { by: command.by, reason: command.reason }).catch(() => undefined));
          break;
        }
        default:
          this.end = command;
      }
    }
    return Promise.all(signals);
  }

  private startChild(command: StartChildCommand): void {
    const { tenantId, mode, wave } = command;
    const { releaseId, version } = this.input;
    const maintenance = mode === 'deploy' ? this.maintenance.get(tenantId) : undefined;
    const migration = mode === 'deploy' ? this.migrations.get(tenantId) : undefined;
    const childInput: ReleaseTenantInput = {
      ...childInputOf(this.input, command),
      ...(patched(DELIVERY_METRICS_PATCH) ? { plan: this.input.plan } : {}),
      ...(maintenance ? { maintenance: { windows: maintenance.windows, freezes: maintenance.freezes } } : {}),
      ...(migration ? { migration: { command: migration.command, timeoutMs: migration.timeoutMs } } : {}),
      ...(patched(MERGED_STEPS_PATCH) ? { steps: 'merged' as const } : {}),
      ...(this.blueGreen.has(tenantId) ? { strategy: this.blueGreen.get(tenantId)! } : {}),
    };
    // Never rejects: every outcome, failures included, becomes an event.
    void startChild(releaseTenant, {
      workflowId: workflowIds.releaseTenant(releaseId, tenantId),
      args: [childInput],
      // Terminating the release must not leave a tenant without its rollback.
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      staticSummary: `${mode} ${version} on ${tenantId} (release ${releaseId}, wave ${wave})`,
      // Set at the start, the child need not upsert them (an event each); the environment only when the release has one.
      typedSearchAttributes: [
        { key: TenantIdKey, value: tenantId },
        { key: ReleaseIdKey, value: releaseId },
        ...(this.input.environments.length === 1 ? [{ key: EnvironmentKey, value: this.input.environments[0]! }] : []),
      ],
    })
      .then(async (child) => {
        this.children.set(tenantId, child);
        await this.feed({ type: 'child-started', tenantId }).stopped;
        return child.result();
      })
      .then(
        (result) => this.feed({ type: 'child-finished', tenantId, result }),
        (error: unknown) => {
          const cause = error instanceof ChildWorkflowFailure ? error.cause : error;
          const busy = cause instanceof ApplicationFailure && cause.type === ErrorType.TenantLocked;
          return this.feed({ type: busy ? 'child-busy' : 'child-failed', tenantId, message: messageOf(cause) });
        },
      )
      .finally(() => this.children.delete(tenantId));
  }

  private startTimer(timer: TimerName, ms: number): void {
    const scope = new CancellationScope();
    const settled = scope.run(() => sleep(ms)).then(
      () => {
        if (this.timers.get(timer)?.scope !== scope) return;
        this.timers.delete(timer);
        this.feed({ type: 'timer-fired', timer });
      },
      (error: unknown) => {
        if (!isCancellation(error)) throw error;
      },
    );
    this.timers.set(timer, { scope, settled });
  }

  install(): void {
    setHandler(releaseProgressQuery, (request) => progressOf(this.input, this.state, parseOrFail(progressRequestSchema, request ?? {}, 'progress query')));
    const refuse = (what: ReleaseRequest['type'], schema: z.ZodType<object>) => ({ validator: (request: unknown) => this.refuse(what, schema, request) });
    setHandler(approveUpdate, (request) => this.answer(this.feed({ type: 'approve', ...approveInputSchema.parse(request) }).result), refuse('approve', approveInputSchema));
    setHandler(
      abortUpdate,
      async (request) => {
        const { result, stopped } = this.feed({ type: 'abort', ...abortInputSchema.parse(request) });
        await stopped;
        return abortResultOf(this.answer<{ stoppedStarting: string[] }>(result).stoppedStarting, this.legacy);
      },
      refuse('abort', abortInputSchema),
    );
    setHandler(pauseUpdate, (request) => void this.answer(this.feed({ type: 'pause', ...pauseInputSchema.parse(request) }).result), refuse('pause', pauseInputSchema));
    setHandler(resumeUpdate, (request) => void this.answer(this.feed({ type: 'resume', ...pauseInputSchema.parse(request) }).result), refuse('resume', pauseInputSchema));
    setHandler(tenantWindowSignal, ({ tenantId, until, waitingFor }) => void this.feed({ type: 'window-wait', tenantId, until, waitingFor }));
    setHandler(
      skipWindowUpdate,
      async (request) => {
        const { tenant, by, reason } = skipWindowInputSchema.parse(request);
        const { result, stopped } = this.feed({ type: 'skip-window', tenantId: tenant, by, reason });
        await stopped;
        return this.answer<SkipWindowResult>(result);
      },
      {
        validator: (request: unknown) => {
          const parsed = skipWindowInputSchema.safeParse(request);
          if (!parsed.success) throw refusal(`skipWindow: ${describeIssues(parsed.error.issues, request).join('; ')}`);
          const reason = skipWindowRefusal(this.input, this.state, parsed.data.tenant);
          if (reason) throw refusal(reason);
        },
      },
    );
  }

  /** The update's reply; a refusal here means the state changed between validator and handler. */
  private answer<R>(result: StepResult): R {
    if (result.reply && 'refused' in result.reply) throw refusal(result.reply.refused);
    return result.reply as R;
  }

  private refuse(what: ReleaseRequest['type'], schema: z.ZodType<object>, request: unknown): void {
    const parsed = schema.safeParse(request);
    if (!parsed.success) throw refusal(`${what}: ${describeIssues(parsed.error.issues, request).join('; ')}`);
    const reason = refusalOf(this.input, this.state, { type: what, wave: (parsed.data as { wave?: string }).wave });
    if (reason) throw refusal(reason);
  }
}

function refusal(message: string): ApplicationFailure {
  return permanentFailure(ErrorType.InvalidInput, message);
}
