import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  lockGrantedSignal,
  lockRefusedSignal,
  releaseLockSignal,
  type LockGrant,
  type LockRefusal,
  type LockRelease,
} from '../shared/messages/lock';

export type LockAnswer = ({ kind: 'granted' } & LockGrant) | ({ kind: 'refused' } & LockRefusal);

/**
 * The lock's messages sent by the client, for workflows to run as local activities: a signal
 * from workflow code costs two history events and a workflow task of its own (the server
 * reports the delivery), a local activity one marker in the task already running. Both are
 * safe to repeat: a second grant, refusal or release changes nothing.
 */
export function createLockActivities({ client }: { client: Client }) {
  return {
    /** `delivered: false` when the requester has ended: the lock must not wait for it. */
    async answerLockRequest({ requester, answer }: { requester: { workflowId: string; runId: string }; answer: LockAnswer }): Promise<{ delivered: boolean }> {
      const handle = client.workflow.getHandle(requester.workflowId, requester.runId);
      try {
        if (answer.kind === 'granted') await handle.signal(lockGrantedSignal, { lockWorkflowId: answer.lockWorkflowId });
        else await handle.signal(lockRefusedSignal, { lockWorkflowId: answer.lockWorkflowId, heldBy: answer.heldBy });
        return { delivered: true };
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return { delivered: false };
        throw error;
      }
    },

    /** A lock that has ended holds nothing for anyone, so there is nothing to release. */
    async releaseTenantLock({ lockWorkflowId, release }: { lockWorkflowId: string; release: LockRelease }): Promise<void> {
      try {
        await client.workflow.getHandle(lockWorkflowId).signal(releaseLockSignal, release);
      } catch (error) {
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      }
    },
  };
}

export type LockActivities = ReturnType<typeof createLockActivities>;
