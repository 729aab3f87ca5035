import { objectChanges } from '../../src/activities/kube-client/object-diff';
import type { KubeObject } from '../../src/activities/kube-client/client';
import { objectStatus } from '../../src/activities/runtime/kubernetes-objects';

const deployment = (replicas: number, image: string, env: { name: string; value: string }[], server: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'app', namespace: 'tenant-a', labels: { app: 'a' }, ...server },
  spec: { replicas, template: { spec: { containers: [{ name: 'sidecar', image: 'x:1' }, { name: 'app', image, env }] } } },
  status: { readyReplicas: replicas },
});

describe('Kubernetes object diff (tenant diff)', () => {
  it('lists each changed field by path, matching named list items by name, and ignores status and server-kept metadata', () => {
    const before = deployment(2, 'r/app:1', [{ name: 'A', value: '1' }], { resourceVersion: '10', generation: 3, managedFields: [{ manager: 'x' }] });
    const after: KubeObject = { ...deployment(3, 'r/app:1', [{ name: 'A', value: '2' }, { name: 'B', value: '3' }], { resourceVersion: '11', generation: 4 }), status: { readyReplicas: 0 } };
    // The same containers in another order are the same containers.
    (after.spec as { template: { spec: { containers: unknown[] } } }).template.spec.containers.reverse();
    expect(objectChanges('Deployment tenant-a/app', before, after)).toEqual([
      { object: 'Deployment tenant-a/app', field: 'spec.replicas', action: 'modify', before: 2, after: 3 },
      { object: 'Deployment tenant-a/app', field: 'spec.template.spec.containers[app].env[A].value', action: 'modify', before: '1', after: '2' },
      { object: 'Deployment tenant-a/app', field: 'spec.template.spec.containers[app].env[B]', action: 'add', after: { name: 'B', value: '3' } },
    ]);
    expect(objectChanges('x', before, { ...before, metadata: { ...before.metadata, resourceVersion: '12', creationTimestamp: new Date() } })).toEqual([]);
  });

  it('summarises a Deployment, a pod and a TargetGroupBinding in one line each', () => {
    const d = { ...deployment(2, 'r/app:1.0.0', []), metadata: { name: 'app', generation: 1 }, status: { observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 } };
    expect(objectStatus(d, 'app')).toEqual({ kind: 'Deployment', name: 'app', status: '2/2 ready, 2 updated, rolled out', detail: 'r/app:1.0.0' });
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'app-1' },
      spec: { containers: [{ name: 'app', image: 'r/app:1.0.0' }] },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }], containerStatuses: [{ name: 'app', restartCount: 2, state: { waiting: { reason: 'CrashLoopBackOff' } } }] },
    };
    expect(objectStatus(pod, 'app').status).toBe('running, not ready, CrashLoopBackOff, 2 restarts');
    const tgb: KubeObject = { apiVersion: 'elbv2.k8s.aws/v1beta1', kind: 'TargetGroupBinding', metadata: { name: 'app' }, spec: { targetGroupARN: 'arn:tg', targetType: 'ip', serviceRef: { name: 'app', port: 80 } } };
    expect(objectStatus(tgb, 'app')).toEqual({ kind: 'TargetGroupBinding', name: 'app', status: 'service app:80, target type ip', detail: 'arn:tg' });
  });
});
