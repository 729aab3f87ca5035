import type { KubeObject } from '../kube-client/client';
import { judgeRollout, type Deployment } from '../kube-client/rollout';
import type { WorkloadObjectStatus } from './types';

/*
 * One line per Kubernetes object of a tenant, for `tenantctl tenant resources`: what an operator
 * would otherwise read from `kubectl get` in the tenant's namespace.
 */

type Pod = KubeObject & {
  spec?: { containers?: { name: string; image?: string }[] };
  status?: {
    phase?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; ready?: boolean; restartCount?: number; state?: { waiting?: { reason?: string } } }[];
  };
};
type Service = KubeObject & { spec?: { type?: string; clusterIP?: string; ports?: { port?: number; targetPort?: number | string; protocol?: string }[] } };
type TargetGroupBinding = KubeObject & { spec?: { targetGroupARN?: string; targetType?: string; serviceRef?: { name?: string; port?: number | string } } };

export function objectStatus(object: KubeObject, container: string): WorkloadObjectStatus {
  const base = { kind: object.kind, name: object.metadata.name };
  const deleting = object.metadata.deletionTimestamp ? 'terminating, ' : '';
  switch (object.kind) {
    case 'Deployment': {
      const deployment = object as Deployment;
      const judged = judgeRollout(deployment);
      const state = judged.failureReason ? `failed (${judged.failureReason})` : judged.ready ? 'rolled out' : `rolling out: waiting for ${judged.waitingFor}`;
      const image = deployment.spec?.template?.spec?.containers?.find((c) => c.name === container)?.image;
      return { ...base, status: `${deleting}${judged.readyReplicas}/${judged.desiredReplicas} ready, ${judged.updatedReplicas} updated, ${state}`, ...(image ? { detail: image } : {}) };
    }
    case 'Pod': {
      const pod = object as Pod;
      const ready = pod.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      const containers = pod.status?.containerStatuses ?? [];
      const waiting = [...new Set(containers.flatMap((c) => (c.state?.waiting?.reason ? [c.state.waiting.reason] : [])))];
      const restarts = containers.reduce((sum, c) => sum + (c.restartCount ?? 0), 0);
      const parts = [`${deleting}${(pod.status?.phase ?? 'unknown').toLowerCase()}`, ready ? 'ready' : 'not ready', ...waiting, ...(restarts > 0 ? [`${restarts} restarts`] : [])];
      const image = pod.spec?.containers?.find((c) => c.name === container)?.image;
      return { ...base, status: parts.join(', '), ...(image ? { detail: image } : {}) };
    }
    case 'Service': {
      const spec = (object as Service).spec ?? {};
      const ports = (spec.ports ?? []).map((p) => `${p.port}${p.targetPort !== undefined && p.targetPort !== p.port ? `->${p.targetPort}` : ''}/${p.protocol ?? 'TCP'}`);
      return { ...base, status: `${deleting}${spec.type ?? 'ClusterIP'} ${spec.clusterIP ?? ''}`.trim(), ...(ports.length ? { detail: ports.join(', ') } : {}) };
    }
    case 'TargetGroupBinding': {
      const spec = (object as TargetGroupBinding).spec ?? {};
      const service = spec.serviceRef?.name ? `service ${spec.serviceRef.name}:${spec.serviceRef.port ?? '?'}` : 'no service';
      return { ...base, status: `${deleting}${service}, target type ${spec.targetType ?? 'instance'}`, ...(spec.targetGroupARN ? { detail: spec.targetGroupARN } : {}) };
    }
    default:
      return { ...base, status: deleting ? 'terminating' : 'present' };
  }
}
