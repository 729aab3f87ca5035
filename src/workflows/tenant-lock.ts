import {
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
  workflowInfo,
  allHandlersFinished,
} from '@temporalio/workflow';
import type { TemporalActivities } from '../activities/temporal';
import {
  acquireLockSignal,
  lockGrantedSignal,
  lockRefusedSignal,
  lockStateQuery,
  releaseLockSignal,
  type LockHolder,
  type LockRequest,
} from '../shared/messages/lock';

const { isWorkflowRunning } = proxyActivities<TemporalActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5 },
});

export interface TenantLockInput {
  lockWorkflowId: string;
  holder?: LockHolder;
  queue?: LockRequest[];
}

/** How often a held lock checks that its holder still runs, and how long an idle lock lingers. */
const HOLDER_CHECK_INTERVAL = '1 minute';
const IDLE_LINGER = '30 seconds';

/**
 * One per tenant (ID `tenant/<id>/lock`): grants the tenant to one operation at a time, in
 * request order. Requests that may not wait are refused with the current holder's name.
 */
export async function tenantLock(input: TenantLockInput): Promise<void> {
  let holder: LockHolder | undefined = input.holder;
  const queue: LockRequest[] = [...(input.queue ?? [])];
  let changed = false;

  const grant = async (request: LockRequest) => {
    holder = {
      workflowId: request.requesterWorkflowId,
      runId: request.requesterRunId,
      operation: request.operation,
      since: new Date().toISOString(),
    };
    await getExternalWorkflowHandle(request.requesterWorkflowId, request.requesterRunId)
      .signal(lockGrantedSignal, { lockWorkflowId: input.lockWorkflowId })
      .catch(() => {
        // The requester is gone (terminated between asking and being granted): free the lock.
        holder = undefined;
      });
  };

  setHandler(lockStateQuery, () => ({
    holder,
    waiting: queue.map((r) => ({ workflowId: r.requesterWorkflowId, operation: r.operation })),
  }));

  setHandler(acquireLockSignal, async (request) => {
    changed = true;
    const sameRun = (h: { workflowId: string; runId: string }) =>
      h.workflowId === request.requesterWorkflowId && h.runId === request.requesterRunId;
    if (holder && sameRun(holder)) {
      // A retried request from the holder: repeat the grant, it may have been lost.
      await grant(request);
      return;
    }
    if (queue.some((q) => q.requesterWorkflowId === request.requesterWorkflowId && q.requesterRunId === request.requesterRunId)) return;
    if (!holder) {
      await grant(request);
    } else if (request.wait) {
      queue.push(request);
    } else {
      const heldBy = holder;
      await getExternalWorkflowHandle(request.requesterWorkflowId, request.requesterRunId)
        .signal(lockRefusedSignal, { lockWorkflowId: input.lockWorkflowId, heldBy })
        .catch(() => undefined); // a requester that is gone needs no answer
    }
  });

  setHandler(releaseLockSignal, (release) => {
    changed = true;
    if (holder && holder.workflowId === release.requesterWorkflowId && holder.runId === release.requesterRunId) {
      holder = undefined;
    }
    const queued = queue.findIndex((r) => r.requesterWorkflowId === release.requesterWorkflowId && r.requesterRunId === release.requesterRunId);
    if (queued !== -1) queue.splice(queued, 1);
  });

  for (;;) {
    changed = false;
    if (!holder && queue.length > 0) {
      await grant(queue.shift()!);
      continue;
    }
    if (!holder && queue.length === 0) {
      // Idle: end, unless a request arrives meanwhile (the server refuses to complete a run with unhandled signals).
      if (!(await condition(() => changed, IDLE_LINGER))) break;
      continue;
    }
    if (!(await condition(() => changed, HOLDER_CHECK_INTERVAL)) && holder) {
      const current: LockHolder = holder;
      if (!(await isWorkflowRunning({ workflowId: current.workflowId, runId: current.runId }))) {
        if (holder === current) holder = undefined;
      }
    }
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof tenantLock>({ lockWorkflowId: input.lockWorkflowId, holder, queue });
    }
  }
  await condition(allHandlersFinished);
}
