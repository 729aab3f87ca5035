import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { workflowIds } from '../shared/ids';
import { reconcileSignal, type CertificatesInput, type ReconcileRequest } from '../shared/messages/certificates';
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

    /**
     * Tells the group's certificates workflow that a tenant's hostnames changed, starting it
     * (with `start`) if it does not run; provisioning and deprovisioning call it last.
     */
    async signalCertificates({ start, request }: { start: CertificatesInput; request: ReconcileRequest }): Promise<{ workflowId: string }> {
      const workflowId = workflowIds.certificates(start.group);
      await client.workflow.signalWithStart('certificates', {
        workflowId,
        taskQueue,
        args: [start],
        signal: reconcileSignal,
        signalArgs: [request],
        staticSummary: `certificates of ${start.group}`,
      });
      return { workflowId };
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
