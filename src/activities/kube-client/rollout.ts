import type { RolloutStatus } from '../runtime/types';
import type { KubeObject } from './client';

export interface Deployment extends KubeObject {
  spec?: {
    replicas?: number;
    template?: { spec?: { containers?: { name: string; image?: string; env?: { name: string; value?: string }[] }[] } };
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

export interface RolloutJudgement extends RolloutStatus {
  /** True once the outcome is final: ready, or failed for good. */
  settled: boolean;
  /** What is still awaited, for heartbeats and timeout messages. */
  waitingFor?: string;
}

/**
 * Reads a Deployment the way `kubectl rollout status` does. Nothing counts until the
 * controller has observed the latest generation: before that, the status (and a
 * ProgressDeadlineExceeded condition left over from a previous rollout) describes the old spec.
 */
export function judgeRollout(deployment: Deployment): RolloutJudgement {
  const desired = deployment.spec?.replicas ?? 1;
  const status = deployment.status ?? {};
  const counts = {
    updatedReplicas: status.updatedReplicas ?? 0,
    readyReplicas: status.readyReplicas ?? 0,
    desiredReplicas: desired,
  };
  const generation = deployment.metadata.generation ?? 0;
  if ((status.observedGeneration ?? 0) < generation) {
    return { ...counts, ready: false, settled: false, waitingFor: `the controller to observe generation ${generation} (seen ${status.observedGeneration ?? 0})` };
  }
  const progressing = status.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return { ...counts, ready: false, settled: true, failureReason: `ProgressDeadlineExceeded: ${progressing.message ?? 'no progress within the deadline'}` };
  }
  const available = status.availableReplicas ?? 0;
  const total = status.replicas ?? 0;
  let waitingFor: string | undefined;
  if (counts.updatedReplicas < desired) waitingFor = `${counts.updatedReplicas} of ${desired} replicas updated`;
  else if (total > counts.updatedReplicas) waitingFor = `${total - counts.updatedReplicas} old replicas to terminate`;
  else if (available < counts.updatedReplicas) waitingFor = `${available} of ${counts.updatedReplicas} updated replicas available`;
  return { ...counts, ready: waitingFor === undefined, settled: waitingFor === undefined, waitingFor };
}

/** The app container's image, or undefined when the Deployment has no such container. */
export function containerImage(deployment: Deployment, container: string): string | undefined {
  return deployment.spec?.template?.spec?.containers?.find((c) => c.name === container)?.image;
}
