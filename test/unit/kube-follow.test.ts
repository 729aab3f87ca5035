import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient, retryAfterMs, statusOf, type KubeObject, type WatchEvent } from '../../src/activities/kube-client/client';
import { KubeApiError, KubeConnectionError, KubeTransientError } from '../../src/activities/kube-client/errors';
import { FOLLOW_RETRY, followObject } from '../../src/activities/kube-client/follow';
import { createKubernetesActivities } from '../../src/activities/runtime/kubernetes';
import type { TenantChart } from '../../src/activities/kube-chart/tenant-chart';
import { kubeServerError, kubeThrottle } from '../sandbox/fault-proxy/kube';
import { MockActivityEnvironment } from '@temporalio/testing';
import { errorsOnlyLogger } from '../support/quiet-runtime';

type Obj = KubeObject & { status?: { ready?: boolean } };
const obj = (resourceVersion: string, ready: boolean): Obj => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'n', resourceVersion }, status: { ready } });

/**
 * A scripted stand-in for the project's own KubeClient (not for the API server): each list
 * answers the next snapshot, each watch replays the next script of events, then ends.
 */
function scripted(lists: ({ items: Obj[]; resourceVersion: string } | Error)[], watches: (WatchEvent<Obj>[] | Error)[]) {
  const calls: string[] = [];
  const kube = {
    list: () => {
      const next = lists.shift()!;
      if (next instanceof Error) {
        calls.push(`list -> ${next.message}`);
        return Promise.reject(next);
      }
      calls.push(`list -> ${next.resourceVersion}`);
      return Promise.resolve(next);
    },
    watch: (_collection: unknown, query: { resourceVersion?: string }, onEvent: (event: WatchEvent<Obj>) => boolean) => {
      calls.push(`watch from ${query.resourceVersion}`);
      const script = watches.shift() ?? [];
      if (script instanceof Error) return Promise.reject(script);
      for (const event of script) if (onEvent(event)) break;
      return Promise.resolve();
    },
  };
  return { kube: kube as unknown as KubeClient, calls };
}

const follow = (kube: KubeClient, timeoutMs = 60_000) =>
  followObject<Obj, boolean | undefined>(kube, {
    ref: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'n' } },
    what: 'x',
    judge: (o) => o?.status?.ready,
    done: (ready) => ready === true,
    timeoutMs,
    onTimeout: () => new Error('timed out'),
  });

/** The fault proxy's own answers (test/sandbox/fault-proxy/kube.ts), as KubeClient reports them for a list. */
const throttledList = () => {
  const answer = kubeThrottle();
  const status = statusOf(answer.body);
  return new KubeApiError('GET', '/api/v1/namespaces/n/configmaps', answer.status, status.reason, status.message, retryAfterMs(answer.headers, status.retryAfterSeconds));
};
// A watch refused before it starts: the official client's Watch hands over the status code only.
const throttledWatch = () => new KubeApiError('WATCH', '/api/v1/namespaces/n/configmaps', 429, undefined, 'Too Many Requests');

/** Runs `work` under fake timers, advancing them in steps; how long (fake time) it took. */
async function withFakeTime<T>(work: () => Promise<T>, stepMs = 100, maxMs = 10 * 60_000): Promise<{ outcome: PromiseSettledResult<T>; tookMs: number }> {
  jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] });
  try {
    const started = Date.now();
    let settled: PromiseSettledResult<T> | undefined;
    const running = work().then(
      (value) => (settled = { status: 'fulfilled', value }),
      (reason: unknown) => (settled = { status: 'rejected', reason }),
    );
    while (settled === undefined && Date.now() - started < maxMs) await jest.advanceTimersByTimeAsync(stepMs);
    await running;
    return { outcome: settled!, tookMs: Date.now() - started };
  } finally {
    jest.useRealTimers();
  }
}

describe('followObject', () => {
  it('watches from the listed resourceVersion and renews a watch the server ended from the last one it saw (bookmarks too)', async () => {
    const { kube, calls } = scripted(
      [{ items: [obj('10', false)], resourceVersion: '10' }],
      [[{ type: 'MODIFIED', object: obj('11', false) }, { type: 'BOOKMARK', object: obj('15', false) }], [{ type: 'MODIFIED', object: obj('16', true) }]],
    );
    await expect(follow(kube)).resolves.toBe(true);
    expect(calls).toEqual(['list -> 10', 'watch from 10', 'watch from 15']);
  });

  it('lists again when the resourceVersion has expired (410 Gone as an ERROR event or as the answer)', async () => {
    const gone = { type: 'ERROR', object: { code: 410, reason: 'Expired', message: 'too old resource version' } } as unknown as WatchEvent<Obj>;
    const { kube, calls } = scripted(
      [
        { items: [obj('10', false)], resourceVersion: '10' },
        { items: [obj('20', false)], resourceVersion: '20' },
        { items: [obj('30', true)], resourceVersion: '30' },
      ],
      [[gone], new KubeApiError('WATCH', '/api/v1/namespaces/n/configmaps', 410, 'Expired', 'too old resource version')],
    );
    await expect(follow(kube)).resolves.toBe(true);
    expect(calls).toEqual(['list -> 10', 'watch from 10', 'list -> 20', 'watch from 20', 'list -> 30']);
  });

  it('passes any other watch error on', async () => {
    const { kube } = scripted([{ items: [obj('10', false)], resourceVersion: '10' }], [new KubeApiError('WATCH', '/x', 403, 'Forbidden', 'no')]);
    await expect(follow(kube)).rejects.toMatchObject({ status: 403 });
  });

  it('passes an error that retrying cannot help (a 401) on at once', async () => {
    const { kube, calls } = scripted([new KubeApiError('GET', '/x', 401, 'Unauthorized', 'no')], []);
    await expect(follow(kube)).rejects.toMatchObject({ status: 401 });
    expect(calls).toEqual(['list -> GET /x: HTTP 401 Unauthorized: no']);
  });
});

describe('followObject against a throttled or failing API server', () => {
  it('waits out a 429 on its list for the Retry-After the server sent, then lists again and goes on', async () => {
    const { kube, calls } = scripted([throttledList(), { items: [obj('10', false)], resourceVersion: '10' }], [[{ type: 'MODIFIED', object: obj('11', true) }]]);
    const { outcome, tookMs } = await withFakeTime(() => follow(kube), 50);
    expect(outcome).toEqual({ status: 'fulfilled', value: true });
    // Retry-After: 1 (with at most 20% jitter on top), not the whole activity's retry.
    expect(tookMs).toBeGreaterThanOrEqual(1_000);
    expect(tookMs).toBeLessThanOrEqual(1_250);
    expect(calls).toEqual(['list -> GET /api/v1/namespaces/n/configmaps: HTTP 429 TooManyRequests: Too many requests, please try again later. (retry after 1 s)', 'list -> 10', 'watch from 10']);
  });

  it('watches again from the same resourceVersion after a throttled or failed watch, without listing again', async () => {
    const { kube, calls } = scripted(
      [{ items: [obj('10', false)], resourceVersion: '10' }],
      [throttledWatch(), new KubeConnectionError('WATCH', 'https://127.0.0.1:6443/api/v1/namespaces/n/configmaps', new Error('socket hang up')), [{ type: 'MODIFIED', object: obj('11', true) }]],
    );
    const { outcome } = await withFakeTime(() => follow(kube));
    expect(outcome).toEqual({ status: 'fulfilled', value: true });
    expect(calls).toEqual(['list -> 10', 'watch from 10', 'watch from 10', 'watch from 10']);
  });

  it('gives up after a bound of failures in a row, as the transient error it was, with the last one as the cause', async () => {
    const { kube, calls } = scripted([{ items: [obj('10', false)], resourceVersion: '10' }], Array.from({ length: 20 }, throttledWatch));
    const { outcome, tookMs } = await withFakeTime(() => follow(kube, 30 * 60_000), 500);
    expect(outcome.status).toBe('rejected');
    const error = (outcome as PromiseRejectedResult).reason as KubeTransientError;
    expect(error).toBeInstanceOf(KubeTransientError);
    expect(error.message).toMatch(/^following x: 10 reads in a row failed over \d+ s, the most retried in place \(the activity's retry takes over\); the last watch: WATCH \S+: HTTP 429: Too Many Requests$/);
    expect(error.cause).toBeInstanceOf(KubeApiError);
    expect((error.cause as KubeApiError).status).toBe(429);
    expect(calls.filter((c) => c.startsWith('watch'))).toHaveLength(FOLLOW_RETRY.maxConsecutive);
    // Jittered back-off from 1 s to 15 s: about a minute, not the half hour the follow may wait.
    expect(tookMs).toBeGreaterThan(20_000);
    expect(tookMs).toBeLessThan(100_000);
  });

  it('counts failures in a row only: a read that succeeds in between starts the count again', async () => {
    const lists: ({ items: Obj[]; resourceVersion: string } | Error)[] = [];
    // 9 failures, a success, 9 failures, a success: never 10 in a row.
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 9; i++) lists.push(new KubeApiError('GET', '/x', 503, 'ServiceUnavailable', 'the server is currently unable to handle the request'));
      lists.push({ items: [obj(`${10 + round}`, round === 1)], resourceVersion: `${10 + round}` });
    }
    const gone = { type: 'ERROR', object: { code: 410, reason: 'Expired', message: 'too old resource version' } } as unknown as WatchEvent<Obj>;
    const { kube } = scripted(lists, [[gone]]);
    const { outcome } = await withFakeTime(() => follow(kube, 30 * 60_000), 500);
    expect(outcome).toEqual({ status: 'fulfilled', value: true });
  });

  it('counts an ERROR event with a 5xx inside a watch as a failure (no reset by the event itself)', async () => {
    const serverError = { type: 'ERROR', object: { code: 500, reason: 'InternalError', message: 'etcdserver: request timed out' } } as unknown as WatchEvent<Obj>;
    const { kube, calls } = scripted([{ items: [obj('10', false)], resourceVersion: '10' }], Array.from({ length: 20 }, () => [serverError]));
    const { outcome } = await withFakeTime(() => follow(kube, 30 * 60_000), 500);
    expect(outcome.status).toBe('rejected');
    expect(((outcome as PromiseRejectedResult).reason as Error).message).toContain('10 reads in a row failed');
    expect(calls.filter((c) => c.startsWith('watch'))).toHaveLength(10);
  });

  it("gives up before a pause that would end past the follow's own deadline", async () => {
    const { kube, calls } = scripted([{ items: [obj('10', false)], resourceVersion: '10' }], Array.from({ length: 20 }, throttledWatch));
    const { outcome, tookMs } = await withFakeTime(() => follow(kube, 5_000), 50);
    const error = (outcome as PromiseRejectedResult).reason as KubeTransientError;
    expect(error).toBeInstanceOf(KubeTransientError);
    expect(error.message).toContain("the wait's deadline comes before the next try");
    expect(error.cause).toBeInstanceOf(KubeApiError);
    expect(tookMs).toBeLessThanOrEqual(5_000);
    expect(calls.length).toBeGreaterThan(2);
  });

  it("gives up at once when the activity attempt's deadline is too close for another try, and heartbeats while it retries", async () => {
    const beats: unknown[] = [];
    // Scheduled just now with a 40 s start-to-close: within 30 s of it after the first pause or two.
    const { kube, calls } = scripted([{ items: [obj('10', false)], resourceVersion: '10' }], Array.from({ length: 20 }, throttledWatch));
    const { outcome, tookMs } = await withFakeTime(() => {
      const now = Date.now();
      const env = new MockActivityEnvironment(
        { currentAttemptScheduledTimestampMs: now, scheduledTimestampMs: now, startToCloseTimeoutMs: 40_000, scheduleToCloseTimeoutMs: 600_000 },
        { logger: errorsOnlyLogger },
      );
      env.on('heartbeat', (details: unknown) => beats.push(details));
      return env.run(() => follow(kube, 30 * 60_000));
    }, 50);
    const error = (outcome as PromiseRejectedResult).reason as KubeTransientError;
    expect(error).toBeInstanceOf(KubeTransientError);
    expect(error.message).toContain("the activity attempt's deadline is too close for another try");
    expect(error.cause).toBeInstanceOf(KubeApiError);
    expect(tookMs).toBeLessThanOrEqual(10_000);
    expect(calls.filter((c) => c.startsWith('watch')).length).toBeLessThan(FOLLOW_RETRY.maxConsecutive);
    expect(beats).toContainEqual(expect.objectContaining({ waitingFor: 'x', retrying: expect.stringMatching(/^watch failed \(1 in a row\): WATCH .*HTTP 429.*; trying again in \d+ ms$/) as unknown }));
  });
});

describe('Retry-After', () => {
  it('is read from the header (seconds or an HTTP date), else from the Status details, else absent', () => {
    const now = Date.parse('2026-12-02T10:00:00Z');
    expect(retryAfterMs({ 'retry-after': '3' }, undefined, now)).toBe(3_000);
    expect(retryAfterMs({ 'retry-after': 'Wed, 02 Dec 2026 10:00:05 GMT' }, undefined, now)).toBe(5_000);
    expect(retryAfterMs({ 'retry-after': 'Wed, 02 Dec 2026 09:59:00 GMT' }, undefined, now)).toBe(0);
    expect(retryAfterMs({}, 2, now)).toBe(2_000);
    expect(retryAfterMs({ 'retry-after': 'soon' }, undefined, now)).toBeUndefined();
    expect(retryAfterMs(undefined, undefined, now)).toBeUndefined();
    expect(statusOf(kubeThrottle(4).body)).toEqual({ reason: 'TooManyRequests', message: 'Too many requests, please try again later.', retryAfterSeconds: 4 });
    expect(statusOf(kubeServerError().body)).toEqual({ reason: 'ServiceUnavailable', message: 'the server is currently unable to handle the request' });
  });

  it("reaches the KubeApiError from a real answer: the fault proxy's 429 through the official client", async () => {
    const answer = kubeThrottle(2);
    const server: Server = createServer((_req, res) => {
      res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body) });
      res.end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const config = new KubeConfig();
      const { port } = server.address() as AddressInfo;
      config.loadFromOptions({
        clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
        users: [{ name: 'u', token: 't' }],
        contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
        currentContext: 'x',
      });
      const kube = new KubeClient({ config, source: 'test' });
      // Sent once: the client's in-place retry is kube-call-retry.test.ts's.
      const error = await kube.list('v1', 'ConfigMap', 'n', { retry: false }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KubeApiError);
      expect(error).toMatchObject({ status: 429, reason: 'TooManyRequests', kind: 'Unavailable', retryAfterMs: 2_000 });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('k8sWaitForRollout against a throttled API server', () => {
  const deployment = (resourceVersion: string, ready: boolean) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'app', namespace: 'tenant-acme', resourceVersion, generation: 2 },
    spec: { replicas: 1 },
    status: { observedGeneration: 2, replicas: 1, updatedReplicas: 1, readyReplicas: ready ? 1 : 0, availableReplicas: ready ? 1 : 0 },
  });
  const runtime = { kind: 'kubernetes' as const, cluster: 'eks', taskQueue: 'tenant-fleet-k8s-eks' };

  it('follows the rollout to the end through a 429 on its list and on its watch, in one attempt', async () => {
    const answers: (() => Promise<unknown>)[] = [
      () => Promise.reject(throttledList()),
      () => Promise.resolve({ items: [deployment('10', false)], resourceVersion: '10' }),
    ];
    const watches: (() => Promise<void>)[] = [() => Promise.reject(throttledWatch())];
    let watched = 0;
    const kube = {
      list: () => answers.shift()!(),
      watch: (_c: unknown, _q: unknown, onEvent: (event: WatchEvent<KubeObject>) => boolean) => {
        watched++;
        const next = watches.shift();
        if (next) return next();
        onEvent({ type: 'MODIFIED', object: deployment('11', true) });
        return Promise.resolve();
      },
    } as unknown as KubeClient;
    const activities = createKubernetesActivities({ cluster: 'eks', kube, chart: {} as TenantChart });
    const { outcome } = await withFakeTime(() => activities.k8sWaitForRollout({ runtime, tenantId: 'acme' }));
    expect(outcome).toEqual({ status: 'fulfilled', value: { ready: true, updatedReplicas: 1, readyReplicas: 1, desiredReplicas: 1 } });
    expect(watched).toBe(2);
  });

  it('fails the attempt as before (KubeTransientError, the 429 as its cause) when the throttling does not stop', async () => {
    const kube = {
      list: () => Promise.resolve({ items: [deployment('10', false)], resourceVersion: '10' }),
      watch: () => Promise.reject(throttledWatch()),
    } as unknown as KubeClient;
    const activities = createKubernetesActivities({ cluster: 'eks', kube, chart: {} as TenantChart });
    const { outcome } = await withFakeTime(() => activities.k8sWaitForRollout({ runtime, tenantId: 'acme' }), 500);
    const error = (outcome as PromiseRejectedResult).reason as Error;
    expect(error).toBeInstanceOf(KubeTransientError);
    expect(error.message).toContain('following rollout of Deployment tenant-acme/app in Kubernetes cluster eks: 10 reads in a row failed');
    expect(error.cause).toMatchObject({ status: 429 });
  });
});
