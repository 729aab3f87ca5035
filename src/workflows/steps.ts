import { ApplicationFailure } from '@temporalio/common';
import { isCancellation } from '@temporalio/workflow';
import { ErrorType, permanentFailure } from '../shared/errors';
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
      if (isCancellation(error)) throw error;
      this.mark(name, 'failed', messageOf(error));
      // An ApplicationFailure fails the workflow; a plain Error would only fail (and retry) the workflow task.
      throw permanentFailure(failureTypeOf(error), `step "${name}" failed: ${messageOf(error)}`, { cause: error, details: [{ step: name }] });
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

/** The step a failure thrown by `StepTracker.run` happened in. */
export function failedStepOf(error: unknown): string | undefined {
  const details = error instanceof ApplicationFailure ? (error.details as { step?: string }[] | undefined) : undefined;
  return details?.[0]?.step;
}

/** Keeps the activity's own error type (StackFailed, RolloutFailed, ...) when there is one. */
export function failureTypeOf(error: unknown): ErrorType {
  const type = (error as { type?: string; cause?: { type?: string } })?.cause?.type ?? (error as { type?: string })?.type;
  return Object.values(ErrorType).includes(type as ErrorType) ? (type as ErrorType) : ErrorType.StackFailed;
}

export function messageOf(error: unknown): string {
  if (error instanceof ApplicationFailure || !(error instanceof Error)) return (error as Error)?.message ?? String(error);
  // Activity failures wrap the activity's ApplicationFailure as their cause.
  const cause = (error as Error & { cause?: unknown }).cause;
  return cause instanceof Error ? `${error.message}: ${messageOf(cause)}` : error.message;
}
