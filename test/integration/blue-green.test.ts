/* eslint-disable @typescript-eslint/unbound-method -- the activity factories return plain closures that never use `this`. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { MockActivityEnvironment } from '@temporalio/testing';
import { parse, stringify } from 'yaml';
import { SANDBOX_VALUES_FILE } from '../../src/activities/kube-chart/tenant-chart';
import { createListenerRuleActivities } from '../../src/activities/listener-rule';
import { createEcsColourActivities } from '../../src/activities/runtime/ecs-colours';
import type { Colour, TrafficWeights } from '../../src/activities/runtime/types';
import { abortRelease, releaseOutcome, startRelease } from '../../src/client/releases';
import { startRollback } from '../../src/client/rollback';
import { provisionTenant } from '../../src/client/tenants';
import { workflowIds } from '../../src/shared/ids';
import { releaseTenantProgressQuery, retireColourProgressQuery, type ReleaseTenantProgress } from '../../src/shared/messages/release';
import { trafficStackNameFor } from '../../src/workflows/tenant-footprint';
import { SANDBOX_TEST_LISTENER_PORT } from '../sandbox/aws-baseline';
import { startProber, type Prober, type ProbePhase } from '../sandbox/data-plane/prober';
import { getThrough, resolveTenantEndpoint } from '../sandbox/data-plane/resolve';
import { installQuietRuntime } from '../support/quiet-runtime';
import { startHarness, type Harness } from './harness';
import { replayAndMaybeRecord } from './histories';
import { startEntryPoint, type EntryPointProcess } from './node-process';
import { sandboxEnv, TEST_SANDBOX_DIR } from './sandbox-env';

/*
 * Blue/green releases (docs/releases.md, "Blue/green") under the prober's steady traffic, on the
 * sandbox's data plane: every ECS task and Kubernetes pod is a tenant app process behind the load
 * balancer emulator, which routes by the listener rule's weights. Each scenario runs on each runtime
 * (RUNTIMES, one after the other). The workers are processes of their own, so one can be killed
 * (SIGKILL) in the middle of a traffic shift. Run with TENANT_FLEET_TEST_BLUE_GREEN=1
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
  // The replays below are this process's only Temporal workers: without it each prints its state changes.
  installQuietRuntime();
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
        // The retention outlasts the checks that read blue as retained right after the release.
        plan('bg', { steps: STEPS, blueRetention: '15s' }),
        // A long bake at 50 %, where the abort comes.
        plan('bg-slow', { steps: [{ weight: 50, bake: '10m' }, { weight: 100, bake: '1s' }], blueRetention: '1h' }, { rollbackOnAbort: true }),
        // release rollback: the old colour retained for an hour (the rollback cancels its retirement), a canary wave first.
        plan('bg-keep', { steps: [{ weight: 100, bake: '1s' }], blueRetention: '1h' }, { waves: [{ name: 'canary', tenants: 1 }, { name: 'rest', tenants: 'rest', maxInFlight: 5 }] }),
        plan('bg-k8s', { steps: STEPS, blueRetention: '15s' }, { selector: { tenants: KUBE } }),
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

/** Every prober started, stopped after each test whatever its outcome (a running one keeps jest from exiting). */
const probers: Prober[] = [];
/**
 * A request waits up to 20 s for its answer, not the prober's 5 s: with two sandboxes on two cores the
 * live colour's tasks answered after 2 to 3.5 s, and once a request of the -broken release timed out
 * after 5.5 s while no target failed. What these tests look for is answered quickly (the load
 * balancer's 502 or 503 for a colour whose tasks exited or that has no healthy target).
 */
const PROBE_TIMEOUT_MS = 20_000;
const probe = async (ids: string[], phase: string): Promise<Prober> => {
  const targets = ids.flatMap((id) => h.tenant(id).hostnames.map((hostname) => ({ hostname, tenantId: id })));
  const prober = await startProber({ stateDir: TEST_SANDBOX_DIR, targets, ratePerSecond: 4, phase, timeoutMs: PROBE_TIMEOUT_MS });
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
/** Each tenant's failed requests by outcome (status, `timeout`, `error`): `{}` when none failed. */
const failedByTenant = (phase: ProbePhase) =>
  Object.fromEntries(Object.entries(phase.tenants).map(([id, stats]) => [id, Object.fromEntries(Object.entries(stats.byOutcome).filter(([outcome]) => !/^2\d\d$/.test(outcome)))]));
const requestsByTenant = (phase: ProbePhase) => Object.fromEntries(Object.entries(phase.tenants).map(([id, stats]) => [id, stats.requests]));
const none = (ids: string[]) => Object.fromEntries(ids.map((id) => [id, {}]));

let releases = 0;
const tenantProgress = (releaseId: string, id: string) =>
  h.client.workflow.getHandle(workflowIds.releaseTenant(releaseId, id)).query(releaseTenantProgressQuery).catch(() => undefined as ReleaseTenantProgress | undefined);

async function waitFor<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms (last: ${JSON.stringify(value)})`);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

/** One colour as the runtime runs it: its version and desired replicas, and (Kubernetes) the names of its pods still there. */
interface ColourRun {
  version?: string;
  replicas: number;
  pods?: string;
}

/** The runtimes every scenario below runs on, one after the other (their tenants and plans differ). */
interface RuntimeCase {
  label: string;
  kind: 'ecs' | 'kubernetes';
  tenants: string[];
  plans: { steps: string; slow: string };
  /** Each colour as the runtime reads it (ECS: the product's ecsReadColours; Kubernetes: kubectl, not the product's reads). */
  colours(id: string): Promise<Record<Colour, ColourRun>>;
  /** Checks of the runtime's own, after the clean release. */
  afterCleanRelease?(): Promise<void>;
}

/** Each colour's replicas and version, and its pods, as the cluster runs them. */
function kubeColours(id: string): Record<Colour, ColourRun> {
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
  const podsOf = (colour: Colour) =>
    h.kubectl(['get', 'pods', '-n', `tenant-${id}`, '-l', colour === 'green' ? 'tenant-fleet.io/colour=green' : `app.kubernetes.io/instance=${id}`, '-o', 'name']).trim();
  return {
    blue: { replicas: 0, ...byName.get('app'), pods: podsOf('blue') },
    green: { replicas: 0, ...byName.get('app-green'), pods: podsOf('green') },
  };
}

const RUNTIMES: RuntimeCase[] = [
  {
    label: 'ECS',
    kind: 'ecs',
    tenants: ECS,
    plans: { steps: 'bg', slow: 'bg-slow' },
    async colours(id) {
      const states = await colourActivities().ecsReadColours({ runtime: runtimeOf(id), tenantId: id });
      const run = (colour: Colour): ColourRun => ({ replicas: states[colour].desiredReplicas, ...(states[colour].version ? { version: states[colour].version } : {}) });
      return { blue: run('blue'), green: run('green') };
    },
    // The colour activities run twice as a retry would: the second finds the first's work (kubernetes.test.ts does this for Kubernetes).
    async afterCleanRelease() {
      const acme = { runtime: runtimeOf('acme'), tenantId: 'acme' };
      const twice = async <I, O>(fn: (input: I) => Promise<O>, arg: I): Promise<[O, O]> => [await new MockActivityEnvironment().run(fn, arg), await new MockActivityEnvironment().run(fn, arg)];
      const [retired, retiredAgain] = await twice(colourActivities().ecsRetireColour, { ...acme, colour: 'blue' as const });
      expect([retired.changed, retiredAgain.changed]).toEqual([false, false]);
      const o = await trafficOutputs('acme');
      const deploy = { ...acme, image: h.tenant('acme').image, colour: 'green' as const, version: '2.0.0-bg', replicas: h.tenant('acme').replicas, targetGroupArn: o.GreenTargetGroupArn! };
      const [deployed, deployedAgain] = await twice(colourActivities().ecsDeployColour, deploy);
      expect([deployed.ready, deployed.changed, deployedAgain.ready, deployedAgain.changed]).toEqual([true, false, true, false]);
    },
  },
  {
    // Green is Deployment app-green with its own Service and TargetGroupBinding to the green target group
    // (docs/helm.md, "Blue/green colours"); each pod is a tenant app process registered by the sandbox's
    // TargetGroupBinding controller once Ready.
    label: 'Kubernetes',
    kind: 'kubernetes',
    tenants: KUBE,
    plans: { steps: 'bg-k8s', slow: 'bg-k8s-slow' },
    colours: (id) => Promise.resolve(kubeColours(id)),
  },
];

describe.each(RUNTIMES)('blue/green on $label', (rt) => {
  const release = (version: string, plan: string) =>
    startRelease(h.client, h.config, { releaseId: `jest-bg-${rt.kind}-${Date.now()}-${++releases}`, version, plan, tenants: rt.tenants, requestedBy: 'jest' });

  /** Every tenant on exactly `colour` (100/0 weights) running `version`; with `idleAtZero`, the other colour scaled to 0 (Kubernetes: its pods gone). */
  async function expectAllOn(version: string, colour: Colour, { idleAtZero }: { idleAtZero: boolean }): Promise<void> {
    const idle: Colour = colour === 'blue' ? 'green' : 'blue';
    for (const id of rt.tenants) {
      expect([id, await weightsOf(id)]).toEqual([id, colour === 'blue' ? { blue: 100, green: 0 } : { blue: 0, green: 100 }]);
      expect([id, colour, (await rt.colours(id))[colour].version]).toEqual([id, colour, version]);
      if (idleAtZero) await waitFor(`${id}: ${idle} at 0 replicas and without pods`, () => rt.colours(id), (c) => c[idle].replicas === 0 && !c[idle].pods, 60_000);
    }
  }

  /** Replays the tenant's (last) run of its child now, and with TENANT_FLEET_RECORD_HISTORIES=1 keeps it as a fixture. */
  async function replayChild(releaseId: string, id: string, name: string) {
    const child = await h.client.workflow.getHandle(workflowIds.releaseTenant(releaseId, id)).describe();
    await replayAndMaybeRecord(h.client, child.workflowId, child.runId, `${name}-${rt.kind}`);
  }

  it('a clean release moves every tenant to green in steps and fails no request; blue is retired after its retention', async () => {
    const [first] = rt.tenants as [string];
    const prober = await probe(rt.tenants, 'release');
    const { handle, input } = await release('2.0.0-bg', rt.plans.steps);
    const summary = await releaseOutcome(handle).finally(() => prober.phase('after'));
    expect([summary.status, summary.tenants.map((t) => `${t.tenantId}: ${t.reason}`)]).toEqual(['succeeded', []]);
    // The progress query shows the colours, and the retained one's deadline (read first: the retention is 15 s).
    const progress = await tenantProgress(input.releaseId, first);
    expect([first, progress?.colours]).toMatchObject([first, { from: 'blue', to: 'green', weights: { blue: 0, green: 100 }, retained: { colour: 'blue' } }]);
    // Blue stays warm for its retention (its own workflow's durable timer), then goes to 0.
    const retire = h.client.workflow.getHandle(progress!.colours!.retained!.workflowId);
    expect([first, await retire.query(retireColourProgressQuery)]).toMatchObject([first, { colour: 'blue', version: '1.0.0', state: 'retained' }]);
    await expectAllOn('2.0.0-bg', 'green', { idleAtZero: false });
    // The test route reaches the colour the release tested (now live), on the test listener.
    const endpoint = await resolveTenantEndpoint(TEST_SANDBOX_DIR, h.tenant(first).hostnames[0]!, { port: SANDBOX_TEST_LISTENER_PORT });
    expect([first, await getThrough(endpoint.url, endpoint.hostname)]).toMatchObject([first, { status: 200, version: '2.0.0-bg' }]);
    const [during, after] = (await stopAnswered(prober, rt.tenants)).phases;
    expect(failedByTenant(during!)).toEqual(none(rt.tenants));
    expect(failedByTenant(after!)).toEqual(none(rt.tenants));
    expect(Object.values(requestsByTenant(during!)).every((n) => n > 0)).toBe(true);
    // Each tenant's retention ends on its own timer, started when its own shift finished; blue keeps its version at 0.
    for (const id of rt.tenants) {
      expect([id, await h.client.workflow.getHandle(workflowIds.retireColour(id, input.releaseId)).result()]).toMatchObject([id, { state: 'retired' }]);
    }
    await expectAllOn('2.0.0-bg', 'green', { idleAtZero: true });
    for (const id of rt.tenants) expect([id, (await rt.colours(id)).blue.version]).toEqual([id, '1.0.0']);
    await rt.afterCleanRelease?.();
    await replayChild(input.releaseId, first, 'release-tenant-blue-green');
    const retired = await retire.describe();
    await replayAndMaybeRecord(h.client, retired.workflowId, retired.runId, `retire-colour-${rt.kind}`);
  }, 600_000);

  it('a -broken new colour (blue this time) never takes traffic: every tenant stays on green, blue back at 0', async () => {
    const prober = await probe(rt.tenants, 'release');
    const { handle } = await release('3.0.0-broken', rt.plans.steps);
    const summary = await releaseOutcome(handle).catch((error: { details?: unknown[] }) => error.details?.[0] as Awaited<ReturnType<typeof releaseOutcome>>);
    prober.phase('after');
    // toMatchObject prints the whole summary (each tenant's status and reason) when it fails.
    expect(summary).toMatchObject({ counts: { succeeded: 0 } });
    await expectAllOn('2.0.0-bg', 'green', { idleAtZero: true });
    const [during, after] = (await stopAnswered(prober, rt.tenants)).phases;
    // It failed its deploy before its first step: no user request reached it.
    expect(failedByTenant(during!)).toEqual(none(rt.tenants));
    expect(failedByTenant(after!)).toEqual(none(rt.tenants));
  }, 600_000);

  it('an abort at 50 % puts every tenant back on its live colour (green), and the new one (blue) goes to 0', async () => {
    const prober = await probe(rt.tenants, 'release');
    const { handle, input } = await release('4.0.0-bg', rt.plans.slow);
    for (const id of rt.tenants) {
      await waitFor(`${id} baking at 50 %`, () => tenantProgress(input.releaseId, id), (p) => p?.step === 'bake' && p.colours?.weights.blue === 50);
    }
    await abortRelease(h.client, input.releaseId, { by: 'jest', reason: 'abort at 50 %' });
    await releaseOutcome(handle).catch(() => undefined);
    prober.phase('after');
    await expectAllOn('2.0.0-bg', 'green', { idleAtZero: true });
    const [during, after] = (await stopAnswered(prober, rt.tenants)).phases;
    expect(failedByTenant(during!)).toEqual(none(rt.tenants));
    expect(failedByTenant(after!)).toEqual(none(rt.tenants));
    await replayChild(input.releaseId, rt.tenants[0]!, 'release-tenant-blue-green-switch-back');
  }, 600_000);

  it('a worker killed (SIGKILL) during a shift: the next one finishes, every tenant on one colour with consistent weights', async () => {
    const prober = await probe(rt.tenants, 'release');
    const { handle, input } = await release('5.0.0-bg', rt.plans.steps);
    // Killed while a tenant bakes at a share of its traffic (set before its bake starts), so its weights are mixed when the worker dies.
    const mixed = (w: TrafficWeights | undefined) => !!w && w.blue > 0 && w.green > 0;
    const progress = await waitFor('a tenant baking with traffic on both colours', async () => Promise.all(rt.tenants.map((id) => tenantProgress(input.releaseId, id))), (all) =>
      all.some((p) => p?.step === 'bake' && mixed(p.colours?.weights)),
    );
    const shifting = rt.tenants[progress.findIndex((p) => p?.step === 'bake' && mixed(p.colours?.weights))]!;
    await worker.kill();
    const atKill = await weightsOf(shifting);
    expect([shifting, mixed(atKill), atKill]).toEqual([shifting, true, atKill]);
    worker = await startWorker(`bg-worker-${workers.length + 1}`);
    const summary = await releaseOutcome(handle);
    prober.phase('after');
    expect([summary.status, summary.tenants.map((t) => `${t.tenantId}: ${t.reason}`)]).toEqual(['succeeded', []]);
    await expectAllOn('5.0.0-bg', 'blue', { idleAtZero: false });
    const [during, after] = (await stopAnswered(prober, rt.tenants)).phases;
    expect(failedByTenant(after!)).toEqual(none(rt.tenants));
    expect(Object.values(requestsByTenant(during!)).every((n) => n > 0)).toBe(true);
  }, 600_000);
});

/*
 * tenantctl release rollback (docs/releases.md, "Rolling back a blue/green release"), on the ECS
 * tenants: self-contained, whatever colour each is live on when it starts.
 */
describe('release rollback', () => {
  it('switches every tenant of a clean blue/green release back to its retained colour, canary first, failing no request; the retirements are cancelled', async () => {
    const ecs = RUNTIMES.find((r) => r.kind === 'ecs')!;
    const other = (c: Colour): Colour => (c === 'blue' ? 'green' : 'blue');
    const allOn = (c: Colour) => (c === 'blue' ? { blue: 100, green: 0 } : { blue: 0, green: 100 });
    // An unknown release is refused by name before anything starts.
    await expect(startRollback(h.client, { releaseId: 'no-such-release', requestedBy: 'jest', reason: 'x' })).rejects.toThrow(/releaseId: no release with this ID.*"no-such-release"/);
    const before: Record<string, { colour: Colour; version?: string }> = {};
    for (const id of ECS) {
      const weights = await weightsOf(id);
      const colour: Colour = weights.green > weights.blue ? 'green' : 'blue';
      before[id] = { colour, version: (await ecs.colours(id))[colour].version };
    }
    const { handle, input } = await startRelease(h.client, h.config, { releaseId: `jest-bg-rollback-${Date.now()}`, version: '6.0.0-bg', plan: 'bg-keep', tenants: ECS, requestedBy: 'jest' });
    const released = await releaseOutcome(handle);
    expect([released.status, released.tenants.map((t) => `${t.tenantId}: ${t.reason}`)]).toEqual(['succeeded', []]);
    for (const id of ECS) {
      const colour = other(before[id]!.colour);
      expect([id, await weightsOf(id), (await ecs.colours(id))[colour].version]).toEqual([id, allOn(colour), '6.0.0-bg']);
    }

    const prober = await probe(ECS, 'rollback');
    const { handle: rollback, input: rolledBack } = await startRollback(h.client, { releaseId: input.releaseId, requestedBy: 'jest', reason: 'rollback under traffic' });
    const summary = await rollback.result().finally(() => prober.phase('after'));
    expect([summary.status, Object.fromEntries(summary.tenants.map((t) => [t.tenantId, [t.status, t.colour, t.backTo, t.retire, t.reason]]))]).toEqual([
      'succeeded',
      Object.fromEntries(ECS.map((id) => [id, ['rolled-back', before[id]!.colour, before[id]!.version, 'cancelled', undefined]])),
    ]);
    for (const id of ECS) {
      const { colour, version } = before[id]!;
      const colours = await ecs.colours(id);
      expect([id, await weightsOf(id), colours[colour].version, colours[colour].replicas, colours[other(colour)].replicas]).toEqual([id, allOn(colour), version, h.tenant(id).replicas, 0]);
      // The retirement that would have scaled the now-live colour down ends cancelled.
      const retire = h.client.workflow.getHandle(workflowIds.retireColour(id, input.releaseId));
      await waitFor(`${id}'s retirement cancelled`, async () => (await retire.describe()).status.name, (s) => s === 'CANCELLED', 30_000);
    }
    const [during, after] = (await stopAnswered(prober, ECS)).phases;
    expect(failedByTenant(during!)).toEqual(none(ECS));
    expect(failedByTenant(after!)).toEqual(none(ECS));

    // The canary wave switched alone, before the rest started.
    const children = await Promise.all(rolledBack.waves.flatMap((w) => w.tenants).map((id) => h.client.workflow.getHandle(workflowIds.rollbackTenant(input.releaseId, id)).describe()));
    const [canary, ...rest] = children;
    expect(rolledBack.waves.map((w) => w.tenants.length)).toEqual([1, ECS.length - 1]);
    for (const child of rest) expect([child.workflowId, child.startTime >= canary!.closeTime!]).toEqual([child.workflowId, true]);
    const firstRunId = (await rollback.describe()).runId;

    // Run again, it finds every tenant back: nothing switches, the retirements are already closed.
    const again = await startRollback(h.client, { releaseId: input.releaseId, requestedBy: 'jest', reason: 'rollback again' });
    const second = await again.handle.result();
    expect([second.status, Object.fromEntries(second.tenants.map((t) => [t.tenantId, [t.status, t.retire]]))]).toEqual(['succeeded', Object.fromEntries(ECS.map((id) => [id, ['rolled-back', 'already-closed']]))]);
    await replayAndMaybeRecord(h.client, rollback.workflowId, firstRunId, 'release-rollback');
    await replayAndMaybeRecord(h.client, canary!.workflowId, canary!.runId, 'rollback-tenant');
  }, 600_000);
});
