import { ApplicationFailure } from '@temporalio/common';
import { KubeApiError, KubeConnectionError, KubeTransientError, toKubeFailure } from '../../src/activities/kube-client/errors';
import { judgeRollout, type Deployment } from '../../src/activities/kube-client/rollout';

function deployment(generation: number, status: Deployment['status'], replicas = 2): Deployment {
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'app', namespace: 'tenant-x', generation }, spec: { replicas }, status };
}
const deadlineExceeded = { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "app-1" has timed out progressing.' };

describe('judgeRollout', () => {
  it('waits for the controller to observe the new generation, even over an old failure', () => {
    const judged = judgeRollout(deployment(3, { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2, conditions: [deadlineExceeded] }));
    expect(judged).toMatchObject({ ready: false, settled: false, waitingFor: 'the controller to observe generation 3 (seen 2)' });
    expect(judged.failureReason).toBeUndefined();
  });

  it('reports a progress deadline as a settled failure with the controller message', () => {
    const judged = judgeRollout(deployment(3, { observedGeneration: 3, replicas: 3, updatedReplicas: 1, readyReplicas: 2, availableReplicas: 2, conditions: [deadlineExceeded] }));
    expect(judged).toMatchObject({ ready: false, settled: true, updatedReplicas: 1, readyReplicas: 2, desiredReplicas: 2 });
    expect(judged.failureReason).toBe('ProgressDeadlineExceeded: ReplicaSet "app-1" has timed out progressing.');
  });

  it.each([
    [{ replicas: 2, updatedReplicas: 1, availableReplicas: 2 }, '1 of 2 replicas updated'],
    [{ replicas: 3, updatedReplicas: 2, availableReplicas: 2 }, '1 old replicas to terminate'],
    [{ replicas: 2, updatedReplicas: 2, availableReplicas: 1 }, '1 of 2 updated replicas available'],
  ])('is not ready while %j', (counts, waitingFor) => {
    expect(judgeRollout(deployment(1, { observedGeneration: 1, ...counts }))).toMatchObject({ ready: false, settled: false, waitingFor });
  });

  it('is ready when every replica is updated and available and no old one is left', () => {
    const judged = judgeRollout(deployment(4, { observedGeneration: 4, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 }));
    expect(judged).toEqual({ ready: true, settled: true, waitingFor: undefined, updatedReplicas: 2, readyReplicas: 2, desiredReplicas: 2 });
  });
});

describe('toKubeFailure', () => {
  const api = (status: number, reason?: string) => new KubeApiError('PATCH', '/apis/apps/v1/namespaces/tenant-x/deployments/app', status, reason, 'the server said so');

  it.each([
    [404, 'NotFound', 'ResourceNotFound'],
    [422, 'Invalid', 'InvalidInput'],
    [403, 'Forbidden', 'AccessDenied'],
  ])('makes HTTP %i a non-retryable %s failure (%s), naming what was done and keeping the cause', (status, reason, type) => {
    const failure = toKubeFailure(api(status, reason), 'applying Deployment tenant-x/app') as ApplicationFailure;
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.type).toBe(type);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain(`applying Deployment tenant-x/app: PATCH /apis/apps/v1/namespaces/tenant-x/deployments/app: HTTP ${status} ${reason}: the server said so`);
    expect(failure.cause?.message).toContain('the server said so');
  });

  it.each([409, 429, 500, 503])('leaves HTTP %i to the retry policy with the server message', (status) => {
    const error = toKubeFailure(api(status), 'applying Deployment tenant-x/app');
    expect(error).toBeInstanceOf(KubeTransientError);
    expect((error as Error).message).toContain(`HTTP ${status}: the server said so`);
    expect((error as Error).cause).toBeInstanceOf(KubeApiError);
  });

  it('leaves a lost connection to the retry policy, and passes anything else through', () => {
    const lost = new KubeConnectionError('GET', 'https://10.0.0.1/api', new Error('connect ECONNREFUSED'));
    expect(toKubeFailure(lost, 'reading Namespace tenant-x')).toBeInstanceOf(KubeTransientError);
    const bug = new TypeError('x is undefined');
    expect(toKubeFailure(bug, 'anything')).toBe(bug);
  });
});
