/* eslint-disable @typescript-eslint/unbound-method -- the activity factories return plain closures that never use `this`. */
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { MockActivityEnvironment } from '@temporalio/testing';
import { parse, stringify } from 'yaml';
import { SANDBOX_VALUES_FILE } from '../../src/activities/kube-chart/tenant-chart';
import { createListenerRuleActivities } from '../../src/activities/listener-rule';
import { createEcsColourActivities } from '../../src/activities/runtime/ecs-colours';
import type { ColourStates, TrafficWeights } from '../../src/activities/runtime/types';
import { abortRelease, releaseOutcome, startRelease } from '../../src/client/releases';
import { provisionTenant } from '../../src/client/tenants';
import { workflowIds } from '../../src/shared/ids';
import { releaseTenantProgressQuery, retireColourProgressQuery, type ReleaseTenantProgress } from '../../src/shared/messages/release';
import { trafficStackNameFor } from '../../src/workflows/tenant-footprint';
import { SANDBOX_TEST_LISTENER_PORT } from '../sandbox/aws-baseline';
import { startProber, type Prober, type ProbePhase } from '../sandbox/data-plane/prober';
import { resolveTenantEndpoint } from '../sandbox/data-plane/resolve';
import { startHarness, type Harness } from './harness';
import { startEntryPoint, type EntryPointProcess } from './node-process';
import { sandboxEnv, TEST_SANDBOX_DIR } from './sandbox-env';

/*
 * Blue/green releases (docs/releases.md, "Blue/green") under the prober's steady traffic, on the
 * sandbox's data plane: every ECS task is a tenant app process behind the load balancer emulator,
 * which routes by the listener rule's weights. The workers are processes of their own, so one can
 * be killed (SIGKILL) in the middle of a traffic shift. Run with TENANT_FLEET_TEST_BLUE_GREEN=1
 * (scripts/test-integration.sh): the fleet config names the load balancer's test listener.
 */

const ECS = ['acme', 'globex', 'initech'];
/** The Kubernetes cases' tenant: its pods are tenant app processes too, registered by the sandbox's TargetGroupBinding controller. */
const KUBE = ['wayne'];
const STEPS = [
  { weight: 10, bake: '4s' },
  { weight: 50, bake: '4s' },
  { weight: 100, bake: '2s' },
];

let h: Harness;
const workers: EntryPointProcess[] = [];
const startWorker = async (name: string) => {
  const worker = startEntryPoint({
    name,
    entry: 'src/workers/main.ts',
    logDir: join(TEST_SANDBOX_DIR, 'logs'),
    env: { ...h.env, TENANT_FLEET_WORKER_ROLES: `workflows,aws${h.env.KUBECONFIG ? ',kubernetes' : ''}`, TENANT_FLEET_KUBE_VALUES: SANDBOX_VALUES_FILE },
  });
  workers.push(worker);
  await worker.waitForOutput(/workers started/, 120_000);
  return worker;
};
let worker: EntryPointProcess;

beforeAll(async () => {
  const fleet = parse(readFileSync(sandboxEnv().TENANT_FLEET_CONFIG!, 'utf8')) as { releasePlans: Record<string, unknown>[] };
  const plan = (name: string, strategy: Record<string, unknown>, more: Record<string, unknown> = {}) => ({
    name,
    verifyWindow: '1s',
    verification: 'metrics',
    selector: { tenants: ECS },
    waves: [{ name: 'all', tenants: 'rest', maxInFlight: 5 }],
    strategy: { type: 'blueGreen', ...strategy },
    ...more,
  });
  const fleetConfigPath = join(TEST_SANDBOX_DIR, 'fleet-blue-green.yaml');
  writeFileSync(
    fleetConfigPath,
    stringify({
      ...fleet,
      releasePlans: [
        ...fleet.releasePlans,
        plan('bg', { steps: STEPS, blueRetention: '15s' }),
        // A long bake at 50 %, where the abort comes.
        plan('bg-slow', { steps: [{ weight: 50, bake: '10m' }, { weight: 100, bake: '1s' }], blueRetention: '1h' }, { rollbackOnAbort: true }),
        plan('bg-k8s', { steps: STEPS, blueRetention: '5s' }, { selector: { tenants: KUBE } }),
        plan('bg-k8s-slow', { steps: [{ weight: 50, bake: '10m' }, { weight: 100, bake: '1s' }], blueRetention: '1h' }, { rollbackOnAbort: true, selector: { tenants: KUBE } }),
      ],
    }),
  );
  h = await startHarness({ workers: false, fleetConfigPath });
  worker = await startWorker('bg-worker-1');
  await Promise.all([...ECS, ...KUBE].map((id) => provisionTenant(h.client, { tenant: h.tenant(id), initialVersion: '1.0.0', requestedBy: 'jest' })));
}, 600_000);
afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
  await h?.stop();
});

const rules = () => createListenerRuleActivities({ aws: h.aws });
const colourActivities = () => createEcsColourActivities({ aws: h.aws });
const runtimeOf = (id: string) => {
  const runtime = h.tenant(id).runtime;
  if (runtime.kind !== 'ecs') throw new Error(`${id} is not an ECS tenant`);
  return runtime;
};

async function trafficOutputs(id: string): Promise<Record<string, string>> {
  const lb = h.tenant(id).loadBalancer!;
  const { Stacks } = await h.admin.cloudFormation(lb.aws).send(new DescribeStacksCommand({ StackName: trafficStackNameFor(id) }));
  return Object.fromEntries((Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey!, o.OutputValue!]));
}

/** The tenant's listener rule weights, as the load balancer has them. */
async function weightsOf(id: string, rule: 'ListenerRuleArn' | 'TestListenerRuleArn' = 'ListenerRuleArn'): Promise<TrafficWeights> {
  const o = await trafficOutputs(id);
  const { blue, green } = await rules().readTrafficWeights({
    target: h.tenant(id).loadBalancer!.aws,
    ruleArn: o[rule]!,
    targetGroups: { blue: o.TargetGroupArn!, green: o.GreenTargetGroupArn! },
  });
  return { blue, green };
}
const coloursOf = (id: string): Promise<ColourStates> => colourActivities().ecsReadColours({ runtime: runtimeOf(id), tenantId: id });

/** Every prober started, stopped after each test whatever its outcome (a running one keeps jest from exiting). */
const probers: Prober[] = [];
const probe = async (ids: string[], phase: string): Promise<Prober> => {
  const prober = await startProber({ stateDir: TEST_SANDBOX_DIR, targets: ids.flatMap((id) => h.tenant(id).hostnames.map((hostname) => ({ hostname, tenantId: id }))), ratePerSecond: 4, phase });
  probers.push(prober);
  return prober;
};
afterEach(async () => {
  await Promise.all(probers.splice(0).map((p) => p.stop().catch(() => undefined)));
});
/** Stops the prober once its last phase has answers from every tenant: a phase that ended before any request did proves nothing. */
async function stopAnswered(prober: Prober, ids: string[]) {
  await waitFor('requests in the last phase', () => Promise.resolve(prober.snapshot().phases.at(-1)!), (phase) => ids.every((id) => (phase.tenants[id]?.requests ?? 0) > 0), 30_000);
  return prober.stop();
}
const failedByTenant = (phase: ProbePhase) => Object.fromEntries(Object.entries(phase.tenants).map(([id, stats]) => [id, stats.failed]));
const none = (ids: string[]) => Object.fromEntries(ids.map((id) => [id, 0]));

let releases = 0;
const release = (version: string, plan = 'bg') => startRelease(h.client, h.config, { releaseId: `jest-bg-${Date.now()}-${++releases}`, version, plan, tenants: ECS, requestedBy: 'jest' });
const tenantProgress = (releaseId: string, id: string) =>
  h.client.workflow.getHandle(workflowIds.releaseTenant(releaseId, id)).query(releaseTenantProgressQuery).catch(() => undefined as ReleaseTenantProgress | undefined);

/** Every tenant on exactly one colour: 100/0 weights, and that colour runs `version`. */
async function expectAllOn(version: string): Promise<Record<string, 'blue' | 'green'>> {
  const live: Record<string, 'blue' | 'green'> = {};
  for (const id of ECS) {
    const weights = await weightsOf(id);
    expect([id, [weights.blue, weights.green].sort()]).toEqual([id, [0, 100]]);
    const colour = weights.blue === 100 ? 'blue' : 'green';
    expect([id, (await coloursOf(id))[colour].version]).toEqual([id, version]);
    live[id] = colour;
  }
  return live;
}

/** GET / through a listener with the tenant's Host header (fetch would not send a Host of our own). */
function getThrough(url: string, host: string): Promise<{ status: number; version?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/`, { headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        let version: string | undefined;
        try {
          version = (JSON.parse(body) as { version?: string }).version;
        } catch {
          // the load balancer's own answers are text
        }
        resolve({ status: res.statusCode ?? 0, body, ...(version ? { version } : {}) });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function waitFor<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms (last: ${JSON.stringify(value)})`);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

describe('blue/green on ECS', () => {
  it('a clean release moves every tenant to green in steps and fails no request; blue is retired after its retention', async () => {
    const prober = await probe(ECS, 'release');
    const { handle, input } = await release('2.0.0-bg');
    const summary = await releaseOutcome(handle).finally(() => prober.phase('after'));
    expect(summary.status).toBe('succeeded');
    const live = await expectAllOn('2.0.0-bg');
    expect(Object.values(live)).toEqual(ECS.map(() => 'green'));
    // The test route reaches the colour the release tested (now live), on the test listener.
    const endpoint = await resolveTenantEndpoint(TEST_SANDBOX_DIR, h.tenant('acme').hostnames[0]!, { port: SANDBOX_TEST_LISTENER_PORT });
    expect(await getThrough(endpoint.url, endpoint.hostname)).toMatchObject({ status: 200, version: '2.0.0-bg' });
    // The progress query shows the colours, and the retained one's deadline.
    const progress = await tenantProgress(input.releaseId, 'acme');
    expect(progress?.colours).toMatchObject({ from: 'blue', to: 'green', weights: { blue: 0, green: 100 }, retained: { colour: 'blue' } });
    // Blue stays warm for its retention (its own workflow's durable timer), then goes to 0.
    const retire = h.client.workflow.getHandle(progress!.colours!.retained!.workflowId);
    expect(await retire.query(retireColourProgressQuery)).toMatchObject({ colour: 'blue', version: '1.0.0', state: 'retained' });
    const [during, after] = (await stopAnswered(prober, ECS)).phases;
    expect(failedByTenant(during!)).toEqual(none(ECS));
    expect(failedByTenant(after!)).toEqual(none(ECS));
    expect(Object.values(during!.tenants).every((t) => t.requests > 0)).toBe(true);
    // Each tenant's retention ends on its own timer, started when its own shift finished.
    for (const id of ECS) {
      expect([id, await h.client.workflow.getHandle(workflowIds.retireColour(id, input.releaseId)).result()]).toMatchObject([id, { state: 'retired' }]);
      expect([id, (await coloursOf(id)).blue.desiredReplicas]).toEqual([id, 0]);
    }

    // The colour activities run twice as a retry would: the second finds the first's work.
    const acme = { runtime: runtimeOf('acme'), tenantId: 'acme' };
    const twice = async <I, O>(fn: (input: I) => Promise<O>, arg: I): Promise<[O, O]> => [(await new MockActivityEnvironment().run(fn, arg)), (await new MockActivityEnvironment().run(fn, arg))];
    const [retired, retiredAgain] = await twice(colourActivities().ecsRetireColour, { ...acme, colour: 'blue' as const });
    expect([retired.changed, retiredAgain.changed]).toEqual([false, false]);
    const o = await trafficOutputs('acme');
    const deploy = { ...acme, image: h.tenant('acme').image, colour: 'green' as const, version: '2.0.0-bg', replicas: h.tenant('acme').replicas, targetGroupArn: o.GreenTargetGroupArn! };
    const [deployed, deployedAgain] = await twice(colourActivities().ecsDeployColour, deploy);
    expect([deployed.ready, deployed.changed, deployedAgain.ready, deployedAgain.changed]).toEqual([true, false, true, false]);
  }, 600_000);

  it('a -broken new colour never takes traffic: every tenant stays on its live colour, the broken one goes to 0', async () => {
    const prober = await probe(ECS, 'release');
    const { handle } = await release('3.0.0-broken');
    const summary = await releaseOutcome(handle).catch((error: { details?: unknown[] }) => error.details?.[0] as Awaited<ReturnType<typeof releaseOutcome>>);
    prober.phase('after');
    expect(summary.counts.succeeded).toBe(0);
    await expectAllOn('2.0.0-bg');
    for (const id of ECS) expect([id, (await coloursOf(id)).blue.desiredReplicas]).toEqual([id, 0]);
    const [during, after] = (await stopAnswered(prober, ECS)).phases;
    // It failed its deploy before its first step: no user request reached it.
    expect(failedByTenant(during!)).toEqual(none(ECS));
    expect(failedByTenant(after!)).toEqual(none(ECS));
  }, 600_000);

  it('an abort at 50 % puts every tenant back on its live colour, and the new one goes to 0', async () => {
    const prober = await probe(ECS, 'release');
    const { handle, input } = await release('4.0.0-bg', 'bg-slow');
    for (const id of ECS) {
      await waitFor(`${id} baking at 50 %`, () => tenantProgress(input.releaseId, id), (p) => p?.step === 'bake' && p.colours?.weights.blue === 50);
    }
    await abortRelease(h.client, input.releaseId, { by: 'jest', reason: 'abort at 50 %' });
    await releaseOutcome(handle).catch(() => undefined);
    prober.phase('after');
    await expectAllOn('2.0.0-bg');
    for (const id of ECS) expect([id, (await coloursOf(id)).blue.desiredReplicas]).toEqual([id, 0]);
    const [during, after] = (await stopAnswered(prober, ECS)).phases;
    expect(failedByTenant(during!)).toEqual(none(ECS));
    expect(failedByTenant(after!)).toEqual(none(ECS));
  }, 600_000);

  it('a worker killed (SIGKILL) during a shift: the next one finishes, every tenant on one colour with consistent weights', async () => {
    const prober = await probe(ECS, 'release');
    const { handle, input } = await release('5.0.0-bg');
    await waitFor('a tenant in its traffic steps', async () => Promise.all(ECS.map((id) => tenantProgress(input.releaseId, id))), (all) =>
      all.some((p) => p?.step === 'bake' || p?.step === 'shift'),
    );
    await worker.kill();
    worker = await startWorker('bg-worker-2');
    const summary = await releaseOutcome(handle);
    prober.phase('after');
    expect(summary.status).toBe('succeeded');
    const live = await expectAllOn('5.0.0-bg');
    expect(Object.values(live)).toEqual(ECS.map(() => 'blue'));
    const [during, after] = (await stopAnswered(prober, ECS)).phases;
    expect(failedByTenant(after!)).toEqual(none(ECS));
    expect(Object.values(during!.tenants).every((t) => t.requests > 0)).toBe(true);
  }, 600_000);
});

/*
 * The same releases on Kubernetes tenants: green is Deployment app-green with its own Service and
 * TargetGroupBinding to the green target group (docs/helm.md, "Blue/green colours"); each pod is a
 * tenant app process registered by the sandbox's TargetGroupBinding controller once Ready.
 */
describe('blue/green on Kubernetes', () => {
  /** Each colour's replicas and version, as the cluster runs them (kubectl, not the product's reads). */
  const kubeColours = (id: string): Record<'blue' | 'green', { replicas: number; version: string } | undefined> => {
    const lines = h.kubectl(['get', 'deployments', '-n', `tenant-${id}`, '-o', 'jsonpath={range .items[*]}{.metadata.name} {.spec.replicas} {.spec.template.spec.containers[0].image}{"\\n"}{end}']);
    const byName = new Map(
      lines
        .trim()
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => {
          const [name, replicas, image] = line.split(' ');
          return [name!, { replicas: Number(replicas), version: image!.slice(image!.lastIndexOf(':') + 1) }] as const;
        }),
    );
    return { blue: byName.get('app'), green: byName.get('app-green') };
  };
  const podsOf = (id: string, colour: 'blue' | 'green') =>
    h.kubectl(['get', 'pods', '-n', `tenant-${id}`, '-l', colour === 'green' ? 'tenant-fleet.io/colour=green' : `app.kubernetes.io/instance=${id}`, '-o', 'name']).trim();
  const kubeRelease = (version: string, plan: string) => startRelease(h.client, h.config, { releaseId: `jest-bgk-${Date.now()}-${++releases}`, version, plan, tenants: KUBE, requestedBy: 'jest' });

  /** Every tenant on exactly one colour (100/0 weights) running `version`, the other colour at 0 replicas and without pods. */
  async function expectKubeAllOn(version: string, colour: 'blue' | 'green'): Promise<void> {
    for (const id of KUBE) {
      const weights = await weightsOf(id);
      expect([id, weights]).toEqual([id, colour === 'blue' ? { blue: 100, green: 0 } : { blue: 0, green: 100 }]);
      const colours = kubeColours(id);
      expect([id, colours[colour]?.version]).toEqual([id, version]);
      const idle = colour === 'blue' ? 'green' : 'blue';
      await waitFor(`${id}: ${idle} at 0 replicas and no pods`, () => Promise.resolve([kubeColours(id)[idle]?.replicas, podsOf(id, idle)] as const), ([replicas, pods]) => replicas === 0 && pods === '', 60_000);
    }
  }

  it('a clean release moves every Kubernetes tenant to its green Deployment in steps and fails no request; blue goes to 0 after its retention', async () => {
    const prober = await probe(KUBE, 'release');
    const { handle } = await kubeRelease('2.0.0-bgk', 'bg-k8s');
    const summary = await releaseOutcome(handle).finally(() => prober.phase('after'));
    expect(summary.status).toBe('succeeded');
    // Blue is retired once its retention (5 s) is over.
    await expectKubeAllOn('2.0.0-bgk', 'green');
    for (const id of KUBE) expect([id, kubeColours(id).blue?.version]).toEqual([id, '1.0.0']);
    const [during, after] = (await stopAnswered(prober, KUBE)).phases;
    expect(failedByTenant(during!)).toEqual(none(KUBE));
    expect(failedByTenant(after!)).toEqual(none(KUBE));
    expect(Object.values(during!.tenants).every((t) => t.requests > 0)).toBe(true);
  }, 600_000);

  it('a -broken new colour (blue this time) never takes traffic: every tenant stays on green, blue back at 0', async () => {
    const prober = await probe(KUBE, 'release');
    const { handle } = await kubeRelease('3.0.0-broken', 'bg-k8s');
    const summary = await releaseOutcome(handle).catch((error: { details?: unknown[] }) => error.details?.[0] as Awaited<ReturnType<typeof releaseOutcome>>);
    prober.phase('after');
    expect(summary.counts.succeeded).toBe(0);
    await expectKubeAllOn('2.0.0-bgk', 'green');
    const [during, after] = (await stopAnswered(prober, KUBE)).phases;
    expect(failedByTenant(during!)).toEqual(none(KUBE));
    expect(failedByTenant(after!)).toEqual(none(KUBE));
  }, 600_000);

  it('an abort at 50 % puts every Kubernetes tenant back on green, and blue goes back to 0', async () => {
    const prober = await probe(KUBE, 'release');
    const { handle, input } = await kubeRelease('4.0.0-bgk', 'bg-k8s-slow');
    for (const id of KUBE) {
      await waitFor(`${id} baking at 50 %`, () => tenantProgress(input.releaseId, id), (p) => p?.step === 'bake' && p.colours?.weights.blue === 50);
    }
    await abortRelease(h.client, input.releaseId, { by: 'jest', reason: 'abort at 50 %' });
    await releaseOutcome(handle).catch(() => undefined);
    prober.phase('after');
    await expectKubeAllOn('2.0.0-bgk', 'green');
    const [during, after] = (await stopAnswered(prober, KUBE)).phases;
    expect(failedByTenant(during!)).toEqual(none(KUBE));
    expect(failedByTenant(after!)).toEqual(none(KUBE));
  }, 600_000);
});
