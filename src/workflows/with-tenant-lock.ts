import {
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { LockActivities } from '../activities/lock';
import type { TemporalActivities } from '../activities/temporal';
import { activitiesFor, lockLocal, temporalCall } from './activity-options';
import { ErrorType, permanentFailure } from '../shared/errors';
import {
  lockGrantedSignal,
  lockRefusedSignal,
  lockWorkflowId,
  releaseLockSignal,
  type LockRefusal,
} from '../shared/messages/lock';

const remote = activitiesFor<TemporalActivities>();
const local = proxyLocalActivities<TemporalActivities>(temporalCall);
/** No attempt limit within its schedule-to-close: the lock must hear of the release, or it holds the tenant until its holder check. */
const localLock = proxyLocalActivities<LockActivities>(lockLocal);
const localRelease = proxyLocalActivities<Pick<TemporalActivities, 'releaseClaimedTenantLock'>>(lockLocal);

export interface LockOptions {
  operation: string;
  /** Wait behind the current holder (true) or fail at once with TenantLocked (false). */
  wait: boolean;
  /** How long to wait for the grant before failing with TenantLocked. */
  timeout?: Duration;
  /**
   * Send the request and the release from this worker as local activities (one history marker
   * each, no task-queue round trip, no workflow task for a delivery report) instead of an
   * activity task and a signal command. Workflows whose recorded histories hold the old
   * commands must keep them, so this is chosen per call site behind a patch.
   */
  viaLocalActivities?: boolean;
  /**
   * First try to take a free lock by starting its workflow already held (claimTenantLock, a
   * local activity): no signal back and no workflow task in either workflow. Only when a lock
   * workflow already runs is it asked and its answer awaited, as without this option. Chosen per
   * call site behind a patch, like `viaLocalActivities` (which it implies).
   */
  claimIfFree?: boolean;
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
  let claimed = false;
  if (options.claimIfFree) {
    claimed = (await local.claimTenantLock({ lockWorkflowId: lockId, holder: { workflowId, runId, operation: options.operation } })).claimed;
    granted = claimed;
  }
  let answered = true;
  if (!granted) {
    await (options.viaLocalActivities || options.claimIfFree ? local : remote).requestTenantLock({
      lockWorkflowId: lockId,
      request: { requesterWorkflowId: workflowId, requesterRunId: runId, operation: options.operation, wait: options.wait },
    });
    answered = await condition(() => granted || refusal !== undefined, options.timeout ?? '15 minutes');
  }
  const lease = { requesterWorkflowId: workflowId, requesterRunId: runId };
  const release = () =>
    CancellationScope.nonCancellable(() =>
      claimed
        ? localRelease.releaseClaimedTenantLock({ lockWorkflowId: lockId, release: lease })
        : options.viaLocalActivities || options.claimIfFree
          ? localLock.releaseTenantLock({ lockWorkflowId: lockId, release: lease })
          : getExternalWorkflowHandle(lockId).signal(releaseLockSignal, lease),
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
