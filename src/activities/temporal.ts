import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { acquireLockSignal, type LockRequest } from '../shared/messages/lock';

/**
 * Workflow code cannot signal-with-start, so asking for a tenant's lock goes through this
 * activity: it starts the lock workflow if none runs and delivers the request atomically.
 */
export function createTemporalActivities({ client, taskQueue }: { client: Client; taskQueue: string }) {
  return {
    async requestTenantLock({ lockWorkflowId, request }: { lockWorkflowId: string; request: LockRequest }): Promise<void> {
      await client.workflow.signalWithStart('tenantLock', {
        workflowId: lockWorkflowId,
        taskQueue,
        args: [{ lockWorkflowId }],
        signal: acquireLockSignal,
        signalArgs: [request],
        staticSummary: `lock for ${lockWorkflowId.split('/')[1] ?? lockWorkflowId}`,
      });
    },

    /** Lets the lock workflow reclaim a lease whose holder ended without releasing it (terminated, timed out). */
    async isWorkflowRunning({ workflowId, runId }: { workflowId: string; runId: string }): Promise<boolean> {
      try {
        const description = await client.workflow.getHandle(workflowId, runId).describe();
        return description.status.name === 'RUNNING';
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return false;
        throw error;
      }
    },
  };
}

export type TemporalActivities = ReturnType<typeof createTemporalActivities>;
