import {
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { TemporalActivities } from '../activities/temporal';
import { ErrorType, permanentFailure } from '../shared/errors';
import {
  lockGrantedSignal,
  lockRefusedSignal,
  lockWorkflowId,
  releaseLockSignal,
  type LockRefusal,
} from '../shared/messages/lock';

const { requestTenantLock } = proxyActivities<TemporalActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 10 },
});

export interface LockOptions {
  operation: string;
  /** Wait behind the current holder (true) or fail at once with TenantLocked (false). */
  wait: boolean;
  /** How long to wait for the grant before failing with TenantLocked. */
  timeout?: Duration;
}

/**
 * Runs `body` while holding the tenant's lock, and always releases it, also when the
 * workflow is cancelled or `body` fails. Grant and refusal arrive as signals, so one
 * that arrives before this workflow starts waiting is not lost.
 */
export async function withTenantLock<T>(tenantId: string, options: LockOptions, body: () => Promise<T>): Promise<T> {
  const lockId = lockWorkflowId(tenantId);
  let granted = false;
  let refusal: LockRefusal | undefined;
  setHandler(lockGrantedSignal, ({ lockWorkflowId: from }) => {
    if (from === lockId) granted = true;
  });
  setHandler(lockRefusedSignal, (r) => {
    if (r.lockWorkflowId === lockId) refusal = r;
  });

  const { workflowId, runId } = workflowInfo();
  await requestTenantLock({
    lockWorkflowId: lockId,
    request: { requesterWorkflowId: workflowId, requesterRunId: runId, operation: options.operation, wait: options.wait },
  });
  const answered = await condition(() => granted || refusal !== undefined, options.timeout ?? '15 minutes');
  const release = () =>
    CancellationScope.nonCancellable(() =>
      getExternalWorkflowHandle(lockId).signal(releaseLockSignal, { requesterWorkflowId: workflowId, requesterRunId: runId }),
    );
  if (!granted) {
    // Also withdraws a queued request, so the lock never grants itself to a workflow that gave up.
    await release();
    const heldBy = refusal?.heldBy;
    throw permanentFailure(
      ErrorType.TenantLocked,
      heldBy
        ? `tenant ${tenantId} is busy: ${heldBy.operation} (${heldBy.workflowId}) holds its lock since ${heldBy.since}`
        : `tenant ${tenantId}: no lock within ${String(options.timeout ?? '15 minutes')}${answered ? '' : ' (still queued behind another operation)'}`,
      { details: [{ tenantId, heldBy }] },
    );
  }
  try {
    return await body();
  } finally {
    await release();
  }
}
