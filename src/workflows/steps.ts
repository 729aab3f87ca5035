import { ApplicationFailure } from '@temporalio/common';
import { setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import type { StepProgress, StepStatus, TenantOperationProgress } from '../shared/messages/provisioning';
import { PhaseKey } from '../shared/search-attributes';

/**
 * Tracks named steps for the `progress` query, the Phase search attribute and the UI's
 * current details, and runs compensations (saga) in reverse order when asked to.
 */
export class StepTracker {
  readonly progress: TenantOperationProgress;
  private readonly compensations: { step: string; undo: () => Promise<unknown> }[] = [];

  constructor(tenantId: string, operation: TenantOperationProgress['operation'], stepNames: string[]) {
    this.progress = { tenantId, operation, phase: 'starting', steps: stepNames.map((name) => ({ name, status: 'pending' })) };
  }

  async run<T>(name: string, body: () => Promise<T>, describe?: (result: T) => string | undefined): Promise<T> {
    this.setPhase(name);
    this.mark(name, 'running');
    try {
      const result = await body();
      this.mark(name, 'done', describe?.(result));
      return result;
    } catch (error) {
      this.mark(name, 'failed', messageOf(error));
      throw new StepFailure(name, error);
    }
  }

  skip(name: string, detail: string): void {
    this.mark(name, 'skipped', detail);
  }

  /** Registers how to undo a step that has succeeded (or half-succeeded). */
  onCompensate(step: string, undo: () => Promise<unknown>): void {
    this.compensations.push({ step, undo });
  }

  /** Runs every compensation, newest first; one that fails does not stop the others. */
  async compensate(): Promise<string[]> {
    this.setPhase('compensating');
    const problems: string[] = [];
    for (const { step, undo } of this.compensations.reverse()) {
      try {
        await undo();
        this.mark(step, 'compensated');
      } catch (error) {
        problems.push(`${step}: ${messageOf(error)}`);
      }
    }
    return problems;
  }

  setPhase(phase: string): void {
    this.progress.phase = phase;
    upsertSearchAttributes([{ key: PhaseKey, value: phase }]);
    setCurrentDetails(`**${this.progress.operation} ${this.progress.tenantId}**: ${phase}`);
  }

  private mark(name: string, status: StepStatus, detail?: string): void {
    const step: StepProgress | undefined = this.progress.steps.find((s) => s.name === name);
    if (step) {
      step.status = status;
      step.detail = detail;
    } else {
      this.progress.steps.push({ name, status, detail });
    }
  }
}

/** Names the step in which the cause happened; the cause is kept, never swallowed. */
export class StepFailure extends Error {
  constructor(
    readonly step: string,
    override readonly cause: unknown,
  ) {
    super(`step "${step}" failed: ${messageOf(cause)}`);
    this.name = 'StepFailure';
  }
}

export function messageOf(error: unknown): string {
  if (error instanceof ApplicationFailure || !(error instanceof Error)) return (error as Error)?.message ?? String(error);
  // Activity failures wrap the activity's ApplicationFailure as their cause.
  const cause = (error as Error & { cause?: unknown }).cause;
  return cause instanceof Error ? `${error.message}: ${messageOf(cause)}` : error.message;
}
