import { log } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { z } from 'zod';
import { certificatesInputFromConfig } from '../shared/certificates/from-config';
import { ErrorType, permanentFailure } from '../shared/errors';
import { workflowIds } from '../shared/ids';
import { certificatesInputSchema, reconcileRequestSchema, reconcileSignal, type CertificatesInput, type ReconcileRequest } from '../shared/messages/certificates';
import { abortUpdate, releaseProgressQuery, stopTenantSignal } from '../shared/messages/release';
import { acquireLockSignal, releaseLockSignal, type LockHolder, type LockRelease, type LockRequest } from '../shared/messages/lock';
import { parseOrFail } from '../shared/validation';
import type { FleetConfigSource } from './fleet';

const signalCertificatesInputSchema = z.strictObject({ start: certificatesInputSchema, request: reconcileRequestSchema });


/**
 * How long a claimed lock's workflow sleeps before its first task when nobody asks it anything:
 * longer than a release's tenant normally holds it. Then it checks its holder like any held lock.
 */
export const CLAIMED_LOCK_FIRST_TASK_DELAY = '1 hour';

/** Who claimed a lock workflow, in its memo: what a retried claim recognises as its own. */
interface ClaimMemo {
  holderWorkflowId: string;
  holderRunId: string;
}

export interface TemporalActivitiesOptions {
  client: Client;
  taskQueue: string;
  /**
   * The worker's fleet config: a certificates workflow that provisioning starts gets the same
   * start input as one started from the config (its policy, wildcard environments, tenants).
   * Without it (a worker run without TENANT_FLEET_CONFIG) the run starts on default policy.
   */
  fleetConfig?: FleetConfigSource;
}

/**
 * Workflow code cannot signal-with-start, so asking for a tenant's lock goes through this
 * activity: it starts the lock workflow if none runs and delivers the request atomically.
 */
export function createTemporalActivities({ client, taskQueue, fleetConfig }: TemporalActivitiesOptions) {
  /**
   * The start input of `certs/<group>`: built from the fleet config like `tenantctl certs sync`
   * does, so the config's `certificates:` policy applies; the caller's `start` (the tenant's
   * load balancer only) is what the config must agree with.
   */
  async function certificatesStart(start: CertificatesInput): Promise<CertificatesInput> {
    if (!fleetConfig) {
      log.warn(`certificates group ${start.group}: this worker has no fleet config, so a run started now uses the default certificate policy`);
      return start;
    }
    const config = await fleetConfig();
    let fromConfig: CertificatesInput;
    try {
      fromConfig = certificatesInputFromConfig(config, start.group);
    } catch (error) {
      throw permanentFailure(ErrorType.InvalidInput, `fleet config: ${(error as Error).message}`, { cause: error });
    }
    if (fromConfig.loadBalancer.listenerArn !== start.loadBalancer.listenerArn) {
      throw permanentFailure(
        ErrorType.InvalidInput,
        `fleet config: loadBalancers[name=${start.group}].listenerArn is ${JSON.stringify(fromConfig.loadBalancer.listenerArn)}, expected the tenant's listener ${JSON.stringify(start.loadBalancer.listenerArn)}`,
      );
    }
    parseOrFail(certificatesInputSchema, fromConfig, `certificates input for group ${start.group} from the fleet config`);
    return fromConfig;
  }

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
     * Takes a tenant's lock when nobody holds it, by workflow-ID uniqueness: starts the tenant's
     * lock workflow already held by the caller, with its first workflow task delayed, so an
     * uncontended lock costs no workflow task until its holder releases it (the release signal,
     * or any other request, dispatches that task at once). `claimed: false` when a lock
     * workflow already runs: the caller then asks it with requestTenantLock and waits for its
     * answer. A retried claim whose first attempt went through finds its own claim.
     */
    async claimTenantLock({ lockWorkflowId, holder }: { lockWorkflowId: string; holder: Omit<LockHolder, 'since'> }): Promise<{ claimed: boolean }> {
      const memo: ClaimMemo = { holderWorkflowId: holder.workflowId, holderRunId: holder.runId };
      try {
        await client.workflow.start('tenantLock', {
          workflowId: lockWorkflowId,
          taskQueue,
          args: [{ lockWorkflowId, holder: { ...holder, since: new Date().toISOString() }, claimed: true }],
          startDelay: CLAIMED_LOCK_FIRST_TASK_DELAY,
          memo: { ...memo },
          staticSummary: `lock for ${lockWorkflowId.split('/')[1] ?? lockWorkflowId}`,
        });
        return { claimed: true };
      } catch (error) {
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      }
      const running = await client.workflow.getHandle(lockWorkflowId).describe().catch((error: unknown) => {
        if (error instanceof WorkflowNotFoundError) return undefined;
        throw error;
      });
      const ours = running?.status.name === 'RUNNING' && (running.memo as Partial<ClaimMemo> | undefined)?.holderRunId === holder.runId;
      return { claimed: ours };
    },

    /**
     * Releases a lock taken by claimTenantLock. Signal-with-start, because a plain signal does not
     * wake a workflow whose first task is still delayed (a signal-with-start does, at once); the
     * woken lock sees it is released and ends, or grants whoever waits. Safe to repeat: on a lock
     * that has ended meanwhile it starts one that has nothing to release and ends at once.
     */
    async releaseClaimedTenantLock({ lockWorkflowId, release }: { lockWorkflowId: string; release: LockRelease }): Promise<void> {
      await client.workflow.signalWithStart('tenantLock', {
        workflowId: lockWorkflowId,
        taskQueue,
        args: [{ lockWorkflowId }],
        signal: releaseLockSignal,
        signalArgs: [release],
        staticSummary: `lock for ${lockWorkflowId.split('/')[1] ?? lockWorkflowId}`,
      });
    },

    /**
     * Tells the group's certificates workflow that a tenant's hostnames changed, starting it if
     * it does not run (from the fleet config when the worker has one, else from `start`);
     * provisioning and deprovisioning call it last. Safe to repeat: a running workflow only
     * gets the same `reconcile` again, which it applies as a set.
     */
    async signalCertificates(input: { start: CertificatesInput; request: ReconcileRequest }): Promise<{ workflowId: string }> {
      parseOrFail(signalCertificatesInputSchema, input, 'signalCertificates input');
      const { start, request } = input;
      const workflowId = workflowIds.certificates(start.group);
      await client.workflow.signalWithStart('certificates', {
        workflowId,
        taskQueue,
        args: [await certificatesStart(start)],
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

    /**
     * A release being rolled back (src/workflows/release-rollback.ts) stops first: no tenant starts
     * any more (an abort without its own revert, so the rollback's waves do the switching), and each
     * tenant in flight is stopped, which switches a blue/green one back to its live colour at once.
     * Safe to repeat: an aborted or finished release is left as it is.
     */
    async stopReleaseForRollback({ releaseId, by, reason }: { releaseId: string; by: string; reason: string }): Promise<{ wasRunning: boolean; inFlight: string[] }> {
      const release = client.workflow.getHandle(workflowIds.release(releaseId));
      let running: boolean;
      try {
        running = (await release.describe()).status.name === 'RUNNING';
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) throw permanentFailure(ErrorType.InvalidInput, `release ${releaseId}: no such release in this namespace`, { cause: error });
        throw error;
      }
      if (!running) return { wasRunning: false, inFlight: [] };
      try {
        await release.executeUpdate(abortUpdate, { args: [{ by, reason: `rollback: ${reason}`, rollback: false }] });
      } catch (error) {
        // Refused because it is aborted already (or ended meanwhile): stopping its tenants in flight is still this activity's job.
        if (!(error instanceof WorkflowUpdateFailedError) && !(error instanceof WorkflowNotFoundError)) throw error;
      }
      const progress = await release.query(releaseProgressQuery).catch(() => undefined);
      const inFlight = progress?.inFlight ?? [];
      await Promise.all(
        inFlight.map((tenantId) =>
          client.workflow
            .getHandle(workflowIds.releaseTenant(releaseId, tenantId))
            .signal(stopTenantSignal, { reason: `rollback of release ${releaseId}: ${reason}` })
            .catch((error: unknown) => {
              // A child that ended a moment ago needs no stop.
              if (!(error instanceof WorkflowNotFoundError)) throw error;
            }),
        ),
      );
      return { wasRunning: true, inFlight };
    },

    /**
     * Settles a retained colour's retirement (`tenant/<id>/retire/<releaseId>`) once a rollback made
     * that colour live again: a running one is cancelled (it sleeps, or waits for the lock the
     * rollback holds), so it never scales the live colour down. Safe to repeat.
     */
    async cancelRetireColour({ workflowId, reason }: { workflowId: string; reason: string }): Promise<{ settled: 'cancelled' | 'already-closed' | 'none' }> {
      const handle = client.workflow.getHandle(workflowId);
      try {
        if ((await handle.describe()).status.name !== 'RUNNING') return { settled: 'already-closed' };
        // The reason goes into the retirement's history (WorkflowExecutionCancelRequested), for the UI.
        try {
          await client.workflowService.requestCancelWorkflowExecution({ namespace: client.options.namespace, workflowExecution: { workflowId }, reason, identity: client.options.identity });
        } catch (error) {
          // It ended between the two calls (the raw service answers NOT_FOUND for a closed run): nothing left to cancel.
          if ((await handle.describe()).status.name !== 'RUNNING') return { settled: 'already-closed' };
          throw error;
        }
        return { settled: 'cancelled' };
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return { settled: 'none' };
        throw error;
      }
    },
  };
}

export type TemporalActivities = ReturnType<typeof createTemporalActivities>;
