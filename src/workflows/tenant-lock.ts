import {
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  patched,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
  allHandlersFinished,
} from '@temporalio/workflow';
import type { LockActivities, LockAnswer } from '../activities/lock';
import type { TemporalActivities } from '../activities/temporal';
import { activitiesFor, lockLocal } from './activity-options';
import {
  acquireLockSignal,
  lockGrantedSignal,
  lockRefusedSignal,
  lockStateQuery,
  releaseLockSignal,
  type LockHolder,
  type LockRequest,
} from '../shared/messages/lock';

/** No attempt limit: a requester that never hears its answer waits out its whole timeout. */
const { answerLockRequest } = proxyLocalActivities<LockActivities>(lockLocal);

const temporal = activitiesFor<TemporalActivities>();

export interface TenantLockInput {
  lockWorkflowId: string;
  holder?: LockHolder;
  queue?: LockRequest[];
  /**
   * Started already held by claimTenantLock (src/activities/temporal.ts). Such runs exist only
   * since LEAN_LOCK_PATCH, so they need not ask for it (asking records a marker and a search
   * attribute update: two events in every claimed lock).
   */
  claimed?: boolean;
}

/** How often a held lock checks that its holder still runs. */
const HOLDER_CHECK_INTERVAL = '1 minute';
/** How long an idle lock lingered before LEAN_LOCK_PATCH; kept for runs recorded with it. */
const IDLE_LINGER = '30 seconds';
/**
 * Measured by `npm run bench` (#10), two costs every lock paid:
 * - grants and refusals were signal commands: two events and a workflow task for the delivery
 *   report each; they are now local activities (one marker in the task already running);
 * - an idle lock lingered 30 s (a timer, one more workflow task, half a minute in the worker's
 *   cache) to save a workflow start when the same tenant is locked again within it. It now ends
 *   at once; a request that arrives meanwhile still keeps it running (the server refuses to
 *   complete a run with unhandled signals).
 */
export const LEAN_LOCK_PATCH = 'tenant-lock-lean';

/**
 * One per tenant (ID `tenant/<id>/lock`): grants the tenant to one operation at a time, in
 * request order. Requests that may not wait are refused with the current holder's name.
 */
export async function tenantLock(input: TenantLockInput): Promise<void> {
  const lean = input.claimed === true || patched(LEAN_LOCK_PATCH);
  let holder: LockHolder | undefined = input.holder;
  const queue: LockRequest[] = [...(input.queue ?? [])];
  let changed = false;

  /** False when the requester no longer runs. */
  const answer = async (request: LockRequest, message: LockAnswer): Promise<boolean> => {
    if (lean) return (await answerLockRequest({ requester: { workflowId: request.requesterWorkflowId, runId: request.requesterRunId }, answer: message })).delivered;
    const requester = getExternalWorkflowHandle(request.requesterWorkflowId, request.requesterRunId);
    const sent = message.kind === 'granted' ? requester.signal(lockGrantedSignal, { lockWorkflowId: message.lockWorkflowId }) : requester.signal(lockRefusedSignal, { lockWorkflowId: message.lockWorkflowId, heldBy: message.heldBy });
    return sent.then(
      () => true,
      () => false,
    );
  };

  const grant = async (request: LockRequest) => {
    holder = {
      workflowId: request.requesterWorkflowId,
      runId: request.requesterRunId,
      operation: request.operation,
      since: new Date().toISOString(),
    };
    // The requester is gone (terminated between asking and being granted): free the lock.
    if (!(await answer(request, { kind: 'granted', lockWorkflowId: input.lockWorkflowId }))) holder = undefined;
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
      // A requester that is gone needs no answer.
      await answer(request, { kind: 'refused', lockWorkflowId: input.lockWorkflowId, heldBy: holder });
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
      if (lean || !(await condition(() => changed, IDLE_LINGER))) break;
      continue;
    }
    if (!(await condition(() => changed, HOLDER_CHECK_INTERVAL)) && holder) {
      const current: LockHolder = holder;
      if (!(await temporal.isWorkflowRunning({ workflowId: current.workflowId, runId: current.runId }))) {
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
