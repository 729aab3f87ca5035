import { defineQuery, defineSignal } from '@temporalio/workflow';

/** Who asks for a tenant's lock; the lease is the requester's run, so a retried request is recognised. */
export interface LockRequest {
  requesterWorkflowId: string;
  requesterRunId: string;
  /** What the holder is doing to the tenant, shown to whoever is refused. */
  operation: string;
  /** Queue behind the holder (provisioning) or be refused at once (release: retried later). */
  wait: boolean;
}

export interface LockHolder {
  workflowId: string;
  runId: string;
  operation: string;
  since: string;
}

export interface LockGrant {
  lockWorkflowId: string;
}

export interface LockRefusal {
  lockWorkflowId: string;
  heldBy: LockHolder;
}

export interface LockRelease {
  requesterWorkflowId: string;
  requesterRunId: string;
}

export interface LockState {
  holder?: LockHolder;
  waiting: { workflowId: string; operation: string }[];
}

/** Sent to the lock workflow. */
export const acquireLockSignal = defineSignal<[LockRequest]>('acquireLock');
export const releaseLockSignal = defineSignal<[LockRelease]>('releaseLock');
export const lockStateQuery = defineQuery<LockState>('lockState');

/** Sent back by the lock workflow to the requester. */
export const lockGrantedSignal = defineSignal<[LockGrant]>('lockGranted');
export const lockRefusedSignal = defineSignal<[LockRefusal]>('lockRefused');

export const lockWorkflowId = (tenantId: string) => `tenant/${tenantId}/lock`;
