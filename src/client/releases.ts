import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  type Client,
  type WorkflowExecutionStatusName,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { FleetConfig } from '../shared/config/schema';
import { workflowIds } from '../shared/ids';
import {
  abortUpdate,
  approveStepUpdate,
  approveUpdate,
  pauseUpdate,
  releaseProgressQuery,
  releaseTenantProgressQuery,
  releaseWaveInputSchema,
  resumeUpdate,
  skipWindowUpdate,
  type AbortInput,
  type AbortResult,
  type ApproveInput,
  type ApproveResult,
  type ColourProgress,
  type PauseInput,
  type ProgressRequest,
  type ReleaseProgress,
  type ReleaseSummary,
  type ReleaseTenantProgress,
  type ReleaseWaveInput,
  type SkipWindowInput,
  type SkipWindowResult,
  type TenantReleaseRecord,
} from '../shared/messages/release';
import { expandReleasePlan, type ReleaseRequest } from '../shared/release/plan';
import { EnvironmentKey, PhaseKey, ReleaseIdKey } from '../shared/search-attributes';
import { TASK_QUEUES } from '../shared/task-queues';
import { InputValidationError, parseOrThrow } from '../shared/validation';
import { describeDifferences, releaseRequestDifferences } from './release-request';
import { existingWorkflowInput } from './request-differences';

type ReleaseWorkflow = (input: ReleaseWaveInput) => Promise<ReleaseSummary>;
export type ReleaseHandle = WorkflowHandle<ReleaseWorkflow>;

export interface StartedRelease {
  handle: ReleaseHandle;
  input: ReleaseWaveInput;
  /** False when a release with this ID already existed (a retried CI job): it was joined, not duplicated. */
  started: boolean;
}

/**
 * Expands the plan against the fleet (refusing bad input before anything starts) and starts
 * `release/<releaseId>`. The release ID is the idempotency key: a second start with the same ID
 * and the same request (version, plan, environments, tenants, waves, options; not who asked)
 * attaches to the existing release, running or finished; any difference is refused, naming each
 * field with both values, since one ID must mean one release and a retry with a changed request
 * would otherwise silently get the old one.
 */
export async function startRelease(client: Client, config: FleetConfig, request: ReleaseRequest): Promise<StartedRelease> {
  const input = parseOrThrow(releaseWaveInputSchema, expandReleasePlan(config, request), 'release request') as ReleaseWaveInput;
  const workflowId = workflowIds.release(request.releaseId);
  try {
    const handle = await client.workflow.start('releaseWave', {
      workflowId,
      taskQueue: TASK_QUEUES.workflows,
      args: [input],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      workflowIdConflictPolicy: 'FAIL',
      memo: { version: input.version, plan: input.plan, requestedBy: input.requestedBy },
      staticSummary: `release ${input.version} (plan ${input.plan}, ${input.waves.reduce((n, w) => n + w.tenants.length, 0)} tenants in ${input.waves.length} waves)`,
    });
    return { handle: handle as ReleaseHandle, input, started: true };
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    const existing = await existingWorkflowInput(client, workflowId);
    const differences = releaseRequestDifferences(existing, input);
    if (differences.length > 0) {
      const existingVersion = (existing as { version?: unknown } | undefined)?.version;
      throw new InputValidationError('release request', describeDifferences(request.releaseId, existingVersion, differences));
    }
    return { handle: client.workflow.getHandle<ReleaseWorkflow>(workflowId), input, started: false };
  }
}

export const releaseHandle = (client: Client, releaseId: string): ReleaseHandle => client.workflow.getHandle<ReleaseWorkflow>(workflowIds.release(releaseId));

/**
 * Counts, failures, the current wave and one page of tenants (default the first 100), or one
 * tenant with `{ tenant }`: the answer stays small at any fleet size (docs/releases.md).
 */
export const releaseProgress = (client: Client, releaseId: string, request?: ProgressRequest): Promise<ReleaseProgress> =>
  request ? releaseHandle(client, releaseId).query(releaseProgressQuery, request) : releaseHandle(client, releaseId).query(releaseProgressQuery);

/** Every tenant's record, page by page through the `progress` query (also of a finished release, when a worker answers). */
export async function releaseTenants(client: Client, releaseId: string, pageSize = 500): Promise<Record<string, TenantReleaseRecord>> {
  const tenants: Record<string, TenantReleaseRecord> = {};
  for (let page = 1; ; page++) {
    const progress = await releaseProgress(client, releaseId, { page, pageSize });
    Object.assign(tenants, progress.tenants);
    if (!('pages' in progress.page) || page >= progress.page.pages) return tenants;
  }
}
export const approveRelease = (client: Client, releaseId: string, request: ApproveInput): Promise<ApproveResult> =>
  releaseHandle(client, releaseId).executeUpdate(approveUpdate, { args: [request] });
export const abortRelease = (client: Client, releaseId: string, request: AbortInput): Promise<AbortResult> =>
  releaseHandle(client, releaseId).executeUpdate(abortUpdate, { args: [request] });
export const pauseRelease = (client: Client, releaseId: string, request: PauseInput): Promise<void> =>
  releaseHandle(client, releaseId).executeUpdate(pauseUpdate, { args: [request] });
export const resumeRelease = (client: Client, releaseId: string, request: PauseInput): Promise<void> =>
  releaseHandle(client, releaseId).executeUpdate(resumeUpdate, { args: [request] });
/** A tenant waiting for its maintenance window deploys now; refused unless it waits. */
export const skipReleaseWindow = (client: Client, releaseId: string, request: SkipWindowInput): Promise<SkipWindowResult> =>
  releaseHandle(client, releaseId).executeUpdate(skipWindowUpdate, { args: [request] });

/**
 * Waits for the release and returns its summary whatever the outcome: a halted or aborted
 * release fails its workflow (red in the UI) and carries the summary in the failure's details.
 */
/**
 * Blue/green tenants in flight: each child's step with its colours and weights (its progress
 * query; docs/releases.md, "Blue/green"). Rolling tenants, and children that no longer answer, are left out.
 */
export async function inFlightColours(client: Client, releaseId: string, tenantIds: string[]): Promise<(ReleaseTenantProgress & { colours: ColourProgress })[]> {
  const answers = await Promise.all(
    tenantIds.map((id) =>
      client.workflow
        .getHandle(workflowIds.releaseTenant(releaseId, id))
        .query(releaseTenantProgressQuery)
        .catch(() => undefined),
    ),
  );
  return answers.filter((p): p is ReleaseTenantProgress & { colours: ColourProgress } => p?.colours !== undefined);
}

/**
 * Approves the traffic step that blue/green tenants of the release wait at (a plan step with
 * `approval: true`): the `approveStep` update goes to every tenant in flight that waits at one.
 * Returns those approved; none waiting is refused by the caller.
 */
export async function approveBlueGreenSteps(client: Client, releaseId: string, tenantIds: string[], approval: { by: string; comment?: string }): Promise<string[]> {
  const waiting = (await inFlightColours(client, releaseId, tenantIds)).filter((p) => p.step === 'approval');
  await Promise.all(waiting.map((p) => client.workflow.getHandle(workflowIds.releaseTenant(releaseId, p.tenantId)).executeUpdate(approveStepUpdate, { args: [approval] })));
  return waiting.map((p) => p.tenantId);
}

export async function releaseOutcome(handle: ReleaseHandle): Promise<ReleaseSummary> {
  try {
    return await handle.result();
  } catch (error) {
    const cause = error instanceof WorkflowFailedError ? error.cause : undefined;
    const summary = cause instanceof ApplicationFailure ? (cause.details?.[0] as ReleaseSummary | undefined) : undefined;
    if (summary?.status) return summary;
    throw error;
  }
}

/**
 * The release a request would start, validated, without starting it: for `--dry-run`, and so
 * the CLI refuses bad input before it even connects. startRelease does the same again.
 */
export function planRelease(config: FleetConfig, request: ReleaseRequest): ReleaseWaveInput {
  return parseOrThrow(releaseWaveInputSchema, expandReleasePlan(config, request), 'release request');
}

/** A release as Temporal visibility lists it (no worker needed). */
export interface ReleaseListing {
  releaseId: string;
  workflowId: string;
  runId: string;
  /** The workflow's status: RUNNING, COMPLETED (succeeded or completed with failures), FAILED (halted or aborted), ... */
  status: WorkflowExecutionStatusName;
  /** The release's own phase (Phase search attribute), e.g. `wave-2/awaiting-approval`, `aborted`. */
  phase?: string;
  environment?: string;
  version?: string;
  plan?: string;
  requestedBy?: string;
  startTime: string;
  closeTime?: string;
}

export const RELEASES_QUERY = `WorkflowType = 'releaseWave'`;

/** Releases, newest first; `running` narrows to those still in progress. */
export async function listReleases(client: Client, { limit = 20, running = false }: { limit?: number; running?: boolean } = {}): Promise<ReleaseListing[]> {
  const query = running ? `${RELEASES_QUERY} AND ExecutionStatus = 'Running'` : RELEASES_QUERY;
  const found: ReleaseListing[] = [];
  for await (const execution of client.workflow.list({ query, pageSize: Math.min(limit * 2, 1000) })) {
    // A release that continued as new is listed once, by its live (or final) run.
    if (execution.status.name === 'CONTINUED_AS_NEW') continue;
    const memo = (execution.memo ?? {}) as { version?: string; plan?: string; requestedBy?: string };
    found.push({
      releaseId: execution.typedSearchAttributes.get(ReleaseIdKey) ?? execution.workflowId.replace(/^release\//, ''),
      workflowId: execution.workflowId,
      runId: execution.runId,
      status: execution.status.name,
      phase: execution.typedSearchAttributes.get(PhaseKey),
      environment: execution.typedSearchAttributes.get(EnvironmentKey),
      version: memo.version,
      plan: memo.plan,
      requestedBy: memo.requestedBy,
      startTime: execution.startTime.toISOString(),
      closeTime: execution.closeTime?.toISOString(),
    });
    if (found.length >= limit) break;
  }
  return found.sort((a, b) => b.startTime.localeCompare(a.startTime));
}
