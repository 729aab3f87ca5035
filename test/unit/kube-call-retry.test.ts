import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { MockActivityEnvironment } from '@temporalio/testing';
import { KubeClient, type KubeClientOptions } from '../../src/activities/kube-client/client';
import { KubeApiError, KubeTransientError } from '../../src/activities/kube-client/errors';
import type { TenantChart } from '../../src/activities/kube-chart/tenant-chart';
import { createKubernetesActivities } from '../../src/activities/runtime/kubernetes';
import { FaultState, startFaultProxy, type FaultProxy } from '../sandbox/fault-proxy/proxy';
import type { FaultRuleInput } from '../sandbox/fault-proxy/rules';
import { errorsOnlyLogger } from '../support/quiet-runtime';

/**
 * The sandbox's fault proxy (test/sandbox/fault-proxy/) in front of a stand-in for the API server
 * that serves one Deployment: GET, and a strategic-merge PATCH of its container's image with the
 * resourceVersion precondition k8sSetVersion sends (409 when it no longer matches).
 */
function fakeApiServer() {
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'app', namespace: 'tenant-acme', resourceVersion: '10', generation: 1 },
    spec: { replicas: 1, template: { spec: { containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0.0' }] } } },
  };
  /** The requests for the Deployment that reached the server (discovery's aside). */
  const seen: string[] = [];
  const faults = { patchAnswers500: false };
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const answer = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const path = req.url?.split('?')[0];
      // The official client asks once per API version whether a kind is namespaced, and its plural.
      if (path === '/apis/apps/v1') return answer(200, { kind: 'APIResourceList', groupVersion: 'apps/v1', resources: [{ name: 'deployments', namespaced: true, kind: 'Deployment', verbs: ['get', 'patch'] }] });
      if (path !== '/apis/apps/v1/namespaces/tenant-acme/deployments/app') return answer(404, { kind: 'Status', reason: 'NotFound', message: `${req.url} not found`, code: 404 });
      seen.push(req.method ?? '?');
      if (req.method === 'GET') return answer(200, deployment);
      if (faults.patchAnswers500) return answer(500, { kind: 'Status', reason: 'InternalError', message: 'etcdserver: request timed out', code: 500 });
      const patch = JSON.parse(Buffer.concat(chunks).toString()) as { metadata: { resourceVersion?: string }; spec: { template: { spec: { containers: { name: string; image: string }[] } } } };
      if (patch.metadata.resourceVersion !== undefined && patch.metadata.resourceVersion !== deployment.metadata.resourceVersion) {
        return answer(409, { kind: 'Status', reason: 'Conflict', message: 'the object has been modified; please apply your changes to the latest version and try again', code: 409 });
      }
      deployment.spec.template.spec.containers[0]!.image = patch.spec.template.spec.containers[0]!.image;
      deployment.metadata.resourceVersion = String(Number(deployment.metadata.resourceVersion) + 1);
      deployment.metadata.generation += 1;
      answer(200, deployment);
    });
  });
  return { server, deployment, seen, faults };
}

/** The proxy's rules per request, in order: each request takes the next list (rate 1), none once they run out. */
class ScriptedFaults extends FaultState {
  readonly script: FaultRuleInput[][] = [];
  constructor() {
    super(1);
  }
  override rules() {
    return this.setRules(this.script.shift() ?? []);
  }
}

const throttle: FaultRuleInput[] = [{ target: 'kube', fault: 'throttle', rate: 1 }];
const unavailable: FaultRuleInput[] = [{ target: 'kube', fault: '5xx', rate: 1 }];
const reset: FaultRuleInput[] = [{ target: 'kube', fault: 'drop', dropStage: 'request', rate: 1 }];
const lostAnswer: FaultRuleInput[] = [{ target: 'kube', fault: 'drop', dropStage: 'response', rate: 1 }];
const runtime = { kind: 'kubernetes' as const, cluster: 'eks', taskQueue: 'tenant-fleet-k8s-eks' };
const release = { runtime, tenantId: 'acme', image: 'ghcr.io/acme/app', version: '2.0.0' };
// The proxy's 429 asks for 1 s; cut (as a longer one would be) so the test takes milliseconds.
const fast: KubeClientOptions['retry'] = { intervalMs: 20, maxIntervalMs: 50, maxRetryAfterMs: 20 };

describe("KubeClient's one-shot calls against a throttled or failing API server (k8sSetVersion)", () => {
  let api: ReturnType<typeof fakeApiServer>;
  let proxy: FaultProxy | undefined;
  beforeEach(async () => {
    api = fakeApiServer();
    await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve));
  });
  afterEach(async () => {
    await proxy?.stop();
    proxy = undefined;
    await new Promise((resolve) => api.server.close(resolve));
  });

  const activitiesThrough = async (script: FaultRuleInput[][], retry: KubeClientOptions['retry'] = fast) => {
    const { port } = api.server.address() as AddressInfo;
    const state = new ScriptedFaults();
    proxy = await startFaultProxy({ target: 'kube', upstream: `http://127.0.0.1:${port}`, state });
    const config = new KubeConfig();
    config.loadFromOptions({
      clusters: [{ name: 'c', server: proxy.url, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const kube = new KubeClient({ config, source: 'test' }, { retry });
    // Discovery first, so the script's faults meet the activity's own GET and PATCH.
    await kube.get({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'app', namespace: 'tenant-acme' } });
    api.seen.length = 0;
    state.script.push(...script);
    return createKubernetesActivities({ cluster: 'eks', kube, chart: {} as TenantChart });
  };

  it('retries a GET and a PATCH in place through a 429, a 503 and a connection reset, in one attempt, and writes once', async () => {
    const activities = await activitiesThrough([throttle, unavailable, [], throttle, reset, []]);
    await expect(activities.k8sSetVersion(release)).resolves.toEqual({ changed: true, revision: 'Deployment tenant-acme/app generation 2' });
    expect(api.deployment.spec.template.spec.containers[0]!.image).toBe('ghcr.io/acme/app:2.0.0');
    expect(api.seen).toEqual(['GET', 'PATCH']);
    // A second run writes nothing.
    await expect(activities.k8sSetVersion(release)).resolves.toEqual({ changed: false, revision: 'Deployment tenant-acme/app generation 2' });
    expect(api.seen).toEqual(['GET', 'PATCH', 'GET']);
  });

  it('replays a PATCH whose answer was lost harmlessly: the precondition refuses it, and the next attempt finds the version set', async () => {
    const activities = await activitiesThrough([[], lostAnswer]);
    const error = await activities.k8sSetVersion(release).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeTransientError);
    expect((error as Error).cause).toMatchObject({ status: 409 });
    expect(api.seen).toEqual(['GET', 'PATCH', 'PATCH']);
    expect(api.deployment.metadata.generation).toBe(2);
    await expect(activities.k8sSetVersion(release)).resolves.toEqual({ changed: false, revision: 'Deployment tenant-acme/app generation 2' });
  });

  it('gives up after 5 tries as a KubeTransientError naming them, the last 429 as its cause, having written nothing', async () => {
    const activities = await activitiesThrough(Array.from({ length: 10 }, () => throttle));
    const error = await activities.k8sSetVersion(release).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeTransientError);
    expect((error as Error).message).toMatch(
      /^reading Deployment tenant-acme\/app in Kubernetes cluster eks: GET \/apis\/apps\/v1\/namespaces\/tenant-acme\/deployments\/app: HTTP 429 TooManyRequests: .* \(5 calls in a row failed over \d+ s, the most retried in place \(the activity's retry takes over\)\)$/,
    );
    expect((error as Error).cause).toBeInstanceOf(KubeApiError);
    expect((error as Error).cause).toMatchObject({ status: 429 });
    expect(api.seen).toEqual([]);
  });

  it("stops before a try that could not finish within the activity attempt, and heartbeats while it retries", async () => {
    // The request timeout (30 s) is the margin: a 32 s start-to-close leaves 2 s for tries.
    const activities = await activitiesThrough(Array.from({ length: 10 }, () => unavailable), { intervalMs: 1_000, maxIntervalMs: 2_000 });
    const beats: unknown[] = [];
    const now = Date.now();
    const env = new MockActivityEnvironment(
      { currentAttemptScheduledTimestampMs: now, scheduledTimestampMs: now, startToCloseTimeoutMs: 32_000, scheduleToCloseTimeoutMs: 600_000 },
      { logger: errorsOnlyLogger },
    );
    env.on('heartbeat', (details: unknown) => beats.push(details));
    const error = await env.run(() => activities.k8sSetVersion(release)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeTransientError);
    expect((error as Error).message).toContain("the activity attempt's deadline is too close for another try");
    expect((error as Error).cause).toMatchObject({ status: 503 });
    expect(beats).toContainEqual({ retrying: expect.stringMatching(/^GET failed \(1 in a row\): GET \S+: HTTP 503 ServiceUnavailable: .*; trying again in \d+ ms$/) as unknown });
  });

  it('does not replay a write that may have been carried out and is not refused (a 500)', async () => {
    api.faults.patchAnswers500 = true;
    const activities = await activitiesThrough([]);
    const error = await activities.k8sSetVersion(release).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeTransientError);
    expect((error as Error).cause).toMatchObject({ status: 500 });
    expect(api.seen).toEqual(['GET', 'PATCH']);
  });
});
