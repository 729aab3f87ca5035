import type { Client } from '@temporalio/client';
import { releaseOutcome, releaseHandle, type ReleaseHandle } from '../../src/client/releases';
import { workflowIds } from '../../src/shared/ids';
import type { ReleaseSummary, ReleaseWaveInput } from '../../src/shared/messages/release';
import { TASK_QUEUES } from '../../src/shared/task-queues';

/** Starts the release as tenantctl's startRelease does (same workflow ID, queue and policies). */
export async function startBenchRelease(client: Client, input: ReleaseWaveInput): Promise<ReleaseHandle> {
  await client.workflow.start('releaseWave', {
    workflowId: workflowIds.release(input.releaseId),
    taskQueue: TASK_QUEUES.workflows,
    args: [input],
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    workflowIdConflictPolicy: 'FAIL',
    memo: { version: input.version, plan: input.plan, requestedBy: input.requestedBy },
  });
  return releaseHandle(client, input.releaseId);
}

/** The summary; a release that did not succeed for every tenant makes the measurement worthless. */
export async function expectSucceeded(handle: ReleaseHandle, allowed: ReleaseSummary['status'][] = ['succeeded']): Promise<ReleaseSummary> {
  const summary = await releaseOutcome(handle);
  if (!allowed.includes(summary.status)) {
    const failed = summary.tenants.filter((t) => t.status !== 'succeeded').slice(0, 3);
    throw new Error(`bench release ${summary.releaseId} ended ${summary.status}: ${summary.reason ?? ''} ${JSON.stringify(failed)}`);
  }
  return summary;
}
