import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';
import { releaseIdSchema, workflowIds } from '../shared/ids';
import { releaseWaveInputSchema, type ReleaseWaveInput } from '../shared/messages/release';
import {
  rollbackProgressQuery, stopRollbackUpdate, type ReleaseRollbackInput, type RollbackProgress, type RollbackSummary, type StopRollbackInput,
} from '../shared/messages/rollback';
import { planRollback } from '../shared/release/rollback';
import { ReleaseIdKey } from '../shared/search-attributes';
import { TASK_QUEUES } from '../shared/task-queues';
import { InputValidationError, parseOrThrow } from '../shared/validation';
import { existingWorkflowInput } from './request-differences';

type RollbackWorkflow = (input: ReleaseRollbackInput) => Promise<RollbackSummary>;
export type RollbackHandle = WorkflowHandle<RollbackWorkflow>;

export const rollbackRequestSchema = z.strictObject({
  releaseId: releaseIdSchema,
  requestedBy: z.string().trim().min(1, 'expected who is acting (a name or CI job)').max(200),
  reason: z.string().trim().min(1, 'expected why the release is rolled back').max(1000),
  /** A wait between waves (default none). */
  bakeMs: z.number().int().min(0).max(24 * 3_600_000).optional(),
});
export type RollbackRequest = z.input<typeof rollbackRequestSchema>;

export interface StartedRollback {
  handle: RollbackHandle;
  input: ReleaseRollbackInput;
  /** False when a rollback of this release was already running: it was joined, not started twice. */
  started: boolean;
}

export const rollbackHandle = (client: Client, releaseId: string): RollbackHandle => client.workflow.getHandle<RollbackWorkflow>(workflowIds.releaseRollback(releaseId));

/**
 * Starts `release/<releaseId>/rollback` (docs/releases.md, "Rolling back a blue/green release")
 * from the release's own input (its waves and which tenants it released blue/green), refusing
 * before anything starts an unknown release, or one that released no tenant blue/green. A rollback
 * of the same release already running is joined; one that has ended may be started again (each
 * tenant already back only has its clean-up checked).
 */
export async function startRollback(client: Client, request: RollbackRequest): Promise<StartedRollback> {
  const { releaseId, requestedBy, reason, bakeMs } = parseOrThrow(rollbackRequestSchema, request, 'rollback request');
  let release: ReleaseWaveInput;
  try {
    release = parseOrThrow(releaseWaveInputSchema, await existingWorkflowInput(client, workflowIds.release(releaseId)), `release ${releaseId}'s input`);
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) {
      throw new InputValidationError('rollback request', [`releaseId: no release with this ID in this namespace; \`tenantctl release list\` shows recent ones (got ${JSON.stringify(releaseId)})`]);
    }
    throw error;
  }
  const input = planRollback(release, { requestedBy, reason, ...(bakeMs !== undefined ? { bakeMs } : {}) });
  if (!input) {
    throw new InputValidationError('rollback request', [
      `releaseId: release ${releaseId} (${release.version}, plan ${release.plan}) released no tenant blue/green, so no tenant has a colour to switch back to; a rolling release is undone by releasing the previous version (got ${JSON.stringify(releaseId)})`,
    ]);
  }
  const running = await rollbackHandle(client, releaseId)
    .describe()
    .then((d) => d.status.name === 'RUNNING')
    .catch((error: unknown) => {
      if (error instanceof WorkflowNotFoundError) return false;
      throw error;
    });
  if (running) return { handle: rollbackHandle(client, releaseId), input, started: false };
  const handle = await client.workflow.start('releaseRollback', {
    workflowId: workflowIds.releaseRollback(releaseId),
    taskQueue: TASK_QUEUES.workflows,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    typedSearchAttributes: [{ key: ReleaseIdKey, value: releaseId }],
    memo: { version: release.version, requestedBy },
    staticSummary: `rollback of release ${releaseId} (${release.version}): ${input.waves.reduce((n, w) => n + w.tenants.length, 0)} blue/green tenants in ${input.waves.length} waves`,
  });
  return { handle: handle as RollbackHandle, input, started: true };
}

export const rollbackProgress = (client: Client, releaseId: string): Promise<RollbackProgress> => rollbackHandle(client, releaseId).query(rollbackProgressQuery);
export const stopRollback = (client: Client, releaseId: string, request: StopRollbackInput): Promise<{ notStarted: number }> =>
  rollbackHandle(client, releaseId).executeUpdate(stopRollbackUpdate, { args: [request] });
