import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { SANDBOX_VALUES_FILE } from '../../src/activities/kube-chart/tenant-chart';
import { approveRelease, releaseOutcome, releaseProgress, startRelease } from '../../src/client/releases';
import { provisionTenant } from '../../src/client/tenants';
import { freeLoopbackPort } from '../sandbox/ports';
import { WebhookReceiver } from '../sandbox/webhook-receiver';
import { startHarness, type Harness } from './harness';
import { deploysOf, liveVersion } from '../sandbox/runtime-reads';
import { startEntryPoint, type EntryPointProcess } from './node-process';
import { sandboxEnv, TEST_SANDBOX_DIR } from './sandbox-env';
import { temporal } from '@temporalio/proto';
import { maintenanceOutages } from '../../src/client/release-maintenance';
import { workflowIds } from '../../src/shared/ids';
import type { ReleaseTenantResult } from '../../src/shared/messages/release';
import { isMaintenancePage, type RuleAction } from '../../src/shared/release/listener-rule-actions';
import { startProber } from '../sandbox/data-plane/prober';
import { answerOf, listenerRuleOf, versionIn } from './tenant-traffic';
import { until } from './until';

// Its own tenants: this file's worker processes share the sandbox with other files' in-process workers.
const TENANTS = ['hooli', 'umbrella', 'initech', 'wonka', 'soylent', 'tyrell'];
const VERSION = '3.0.0-crash';

let h: Harness;
let receiver: WebhookReceiver;
const workers: EntryPointProcess[] = [];
const startWorker = (name: string, metricsPort?: number) => {
  const worker = startEntryPoint({
    name,
    entry: 'src/workers/main.ts',
    logDir: join(TEST_SANDBOX_DIR, 'logs'),
    env: {
      ...h.env,
      TENANT_FLEET_WORKER_ROLES: 'workflows,aws,kubernetes',
      TENANT_FLEET_KUBE_VALUES: SANDBOX_VALUES_FILE,
      ...(metricsPort ? { TENANT_FLEET_METRICS_PORT: String(metricsPort) } : {}),
    },
  });
  workers.push(worker);
  return worker;
};

beforeAll(async () => {
  // The sandbox's fleet, notifying a real local webhook of every release event, with a gated plan
  // whose gate reminds after 15 s.
  receiver = await WebhookReceiver.start();
  const fleet = parse(readFileSync(sandboxEnv().TENANT_FLEET_CONFIG!, 'utf8')) as { releasePlans: Record<string, unknown>[] };
  const fleetConfigPath = join(TEST_SANDBOX_DIR, 'fleet-release-crash.yaml');
  const remind = {
    name: 'gated-remind',
    verifyWindow: '1s',
    verification: 'metrics',
    waves: [
      { name: 'canary', tenants: 1, maxInFlight: 1, approval: { timeout: '10m', onTimeout: 'abort', notifyAfter: '15s' } },
      { name: 'rest', tenants: 'rest', maxInFlight: 4 },
    ],
  };
  const notifications = {
    channels: [{ name: 'receiver', webhook: { url: receiver.url } }],
    subscriptions: [{ events: ['approval-awaited', 'approval-overdue', 'wave-halted', 'release-ended'], environments: ['dev', 'staging', 'prod'] }],
  };
  writeFileSync(fleetConfigPath, stringify({ ...fleet, releasePlans: [...fleet.releasePlans, remind], notifications }));
  h = await startHarness({ workers: false, fleetConfigPath });
}, 300_000);
afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
  await h?.stop();
  await receiver?.stop();
});

/** Starts a release over TENANTS, waits until it is mid-wave (canary done, tenants in flight), and returns it. */
async function releaseMidWave(version: string) {
  const started = await startRelease(h.client, h.config, {
    releaseId: `jest-crash-${version}-${Date.now()}`,
    version,
    plan: 'quick',
    tenants: TENANTS,
    requestedBy: 'jest',
    options: { verifyWindowMs: 4_000 },
  });
  await waitFor(async () => {
    const p = await releaseProgress(h.client, started.input.releaseId);
    return p.waves[0]?.counts.succeeded === 1 && p.inFlight.length > 0;
  });
  return started;
}

/** The release succeeded, every tenant runs the version, and each runtime was asked to deploy it exactly once. */
async function expectDeployedOnce(releaseId: string, summary: Awaited<ReturnType<typeof releaseOutcome>>, version: string): Promise<void> {
  expect(summary.status).toBe('succeeded');
  expect(summary.counts.succeeded).toBe(TENANTS.length);
  for (const id of TENANTS) {
    expect([id, await liveVersion(h, id)]).toEqual([id, version]);
    expect([id, await deploysOf(h, id, version)]).toEqual([id, 1]);
    const runs = await h.client.workflow.count(`WorkflowId = 'release/${releaseId}/tenant/${id}'`);
    expect([id, runs.count]).toEqual([id, 1]);
  }
}

describe('workers killed in the middle of a wave', () => {
  it('a killed worker is replaced and the release finishes with every tenant deployed exactly once', async () => {
    const first = startWorker('worker-1');
    await first.waitForOutput(/workers started/, 120_000);
    await Promise.all(TENANTS.map((id) => provisionTenant(h.client, { tenant: h.tenant(id), initialVersion: '1.0.0', requestedBy: 'jest' })));

    const { handle, input } = await releaseMidWave(VERSION);
    await first.kill();
    const metricsPort = await freeLoopbackPort();
    const second = startWorker('worker-2', metricsPort);
    await second.waitForOutput(/workers started/, 120_000);
    await expectDeployedOnce(input.releaseId, await releaseOutcome(handle), VERSION);
    // The release's own counters, from the worker that finished it (tenants still in flight at the kill).
    const scraped = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(scraped).toMatch(/^tenant_fleet_tenants_deployed_total\{[^}]*plan="quick"[^}]*\} [1-9]\d*$/m);
  }, 600_000);

  it('of two workers on the same task queues, the survivor finishes the release when the other is killed', async () => {
    // worker-2 from the test above still runs; a third joins it on the same queues.
    const survivor = startWorker('worker-3');
    await survivor.waitForOutput(/workers started/, 120_000);
    const victim = workers.find((w) => w.name === 'worker-2') ?? startWorker('worker-2b');
    await victim.waitForOutput(/workers started/, 120_000);
    const version = '3.1.0-crash';
    const { handle, input } = await releaseMidWave(version);
    await victim.kill();
    await expectDeployedOnce(input.releaseId, await releaseOutcome(handle), version);
  }, 600_000);

  it('an approval gate notifies once, and reminds once, although every worker is killed and replaced while it waits', async () => {
    const before = startWorker('worker-gate-1');
    await before.waitForOutput(/workers started/, 120_000);
    const { handle, input } = await startRelease(h.client, h.config, {
      releaseId: `jest-crash-gate-${Date.now()}`,
      version: '3.2.0-crash',
      plan: 'gated-remind',
      tenants: ['hooli', 'umbrella'],
      requestedBy: 'jest',
    });
    const ofThisRelease = (event: string) => receiver.deliveries((d) => d.body.workflowId === handle.workflowId && d.body.event === event);
    await waitFor(() => Promise.resolve(ofThisRelease('approval-awaited').length > 0));
    // Its delivery done in the history too (a kill before the worker reported it would rightly make Temporal retry it).
    await waitFor(async () => ((await handle.fetchHistory()).events ?? []).some((e) => e.activityTaskCompletedEventAttributes));
    // The gate waits; every worker dies (SIGKILL), and a new one takes over from the history.
    await Promise.all(workers.map((w) => w.kill()));
    const after = startWorker('worker-gate-2');
    await after.waitForOutput(/workers started/, 120_000);
    expect((await releaseProgress(h.client, input.releaseId)).phase).toBe('wave-2/awaiting-approval');
    // The reminder's timer is durable: it fires on the new worker, once.
    await waitFor(() => Promise.resolve(ofThisRelease('approval-overdue').length > 0), 120_000);
    await approveRelease(h.client, input.releaseId, { by: 'jest' });
    expect((await releaseOutcome(handle)).status).toBe('succeeded');
    const key = `${handle.workflowId}/approval-awaited/1`;
    expect(receiver.deliveries((d) => d.body.workflowId === handle.workflowId).map((d) => d.headers['idempotency-key'])).toEqual([
      key,
      `${handle.workflowId}/approval-overdue/1`,
      `${handle.workflowId}/release-ended/end`,
    ]);
    // Not even sent twice: the new worker replayed the gate's delivery from the history instead of scheduling it again.
    expect(receiver.requests(key)).toHaveLength(1);
    expect(ofThisRelease('approval-awaited')[0]!.body).toMatchObject({ command: `tenantctl release approve ${input.releaseId} --wave canary` });
  }, 600_000);
});

describe('a worker killed while a tenant is on its maintenance page (docs/releases.md, "Maintenance mode")', () => {
  it('the next worker finishes the deploy and gives the traffic back to exactly the rule it had; the outage is measured and reported', async () => {
    // A Kubernetes tenant: its pods are tenant app processes behind the load balancer in this file's sandbox (its ECS tasks are not).
    const id = 'wonka';
    const version = '3.3.0-crash';
    const hostname = h.tenant(id).hostnames[0]!;
    // After the tests above one worker polls; run alone (TENANT_FLEET_TEST_NAME), this test starts one and provisions its tenant.
    const running = workers.filter((w) => {
      try {
        process.kill(w.pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    for (const w of running.length ? running : [startWorker('worker-maintenance-1')]) await w.waitForOutput(/workers started/, 120_000);
    if ((await liveVersion(h, id)) === undefined) await provisionTenant(h.client, { tenant: h.tenant(id), initialVersion: '1.0.0', requestedBy: 'jest' });
    await until(`${id} to answer with its app`, () => answerOf(hostname), (a) => versionIn(a) !== undefined, 60_000);
    const ruleBefore = (await listenerRuleOf(h, id)).Actions;
    const prober = await startProber({ stateDir: TEST_SANDBOX_DIR, targets: h.tenant(id).hostnames.map((name) => ({ hostname: name, tenantId: id })), ratePerSecond: 2, phase: 'release' });
    try {
      const { handle, input } = await startRelease(h.client, h.config, {
        releaseId: `jest-crash-maintenance-${Date.now()}`,
        version,
        plan: 'quick',
        tenants: [id],
        requestedBy: 'jest',
        options: { verifyWindowMs: 2_000, maintenanceMode: { drainMs: 5_000 } },
      });
      // Killed (SIGKILL, every worker) once the rule answers with the page and the drain's durable timer runs.
      const child = h.client.workflow.getHandle(workflowIds.releaseTenant(input.releaseId, id));
      await until('the drain after the maintenance page', async () => ((await child.fetchHistory().catch(() => undefined))?.events ?? []).map(eventName), (names) => /setListenerRuleActions,.*TimerStarted/.test(names.join(',')), 120_000, 100);
      await Promise.all(workers.map((w) => w.kill()));
      const killedAt = new Date().toISOString();
      // No worker lives: what users get now is what the dead worker left.
      const page = await until(`${id} to answer with the maintenance page`, () => answerOf(hostname), (a) => a.status === 503, 30_000);
      expect({ page: page.body.includes('Down for maintenance'), rule: isMaintenancePage((await listenerRuleOf(h, id)).Actions as RuleAction[]) }).toEqual({ page: true, rule: true });

      const next = startWorker('worker-maintenance-2');
      await next.waitForOutput(/workers started/, 120_000);
      const summary = await releaseOutcome(handle);
      expect([summary.status, summary.tenants.map((t) => `${t.tenantId}: ${t.status}: ${t.reason}`)]).toEqual(['succeeded', []]);
      // The load balancer applies the restored rule a moment after ModifyRule returns (the emulator at
      // its next read of moto): that moment still counts as the outage, `after` starts past it.
      await Promise.all(h.tenant(id).hostnames.map((name) => until(`${name} to answer with ${version}`, () => answerOf(name), (a) => versionIn(a) === version, 30_000)));
      prober.phase('after');
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const [during, after] = (await prober.stop()).phases;
      const stats = during!.tenants[id];
      const result = (await child.result()) as ReleaseTenantResult;
      const reported = (await maintenanceOutages(h.client, input.releaseId, { [id]: { status: 'succeeded' } }))?.[id];
      const observed = {
        // The page went up before the kill and came down after it, by the workflow's clock.
        pageUpAtKill: !!result.maintenance && result.maintenance.pageFrom <= killedAt && (result.maintenance.trafficBack ?? '') >= killedAt,
        rule: (await listenerRuleOf(h, id)).Actions,
        serving: versionIn(await answerOf(hostname)),
        live: await liveVersion(h, id),
        deploys: await deploysOf(h, id, version),
        // Users got the page and nothing else that failed; none failed once traffic was back.
        failedOutcomes: Object.keys(stats?.byOutcome ?? {}).filter((outcome) => !outcome.startsWith('2')),
        outageMeasured: (stats?.outage?.ms ?? 0) > 0,
        after: after!.tenants[id]?.failed,
        reported: reported?.ms !== undefined,
      };
      expect(observed).toEqual({ pageUpAtKill: true, rule: ruleBefore, serving: version, live: version, deploys: 1, failedOutcomes: ['503'], outageMeasured: true, after: 0, reported: true });
      process.stdout.write(
        `maintenance mode, worker killed while ${id} was on its page: outage ${((stats?.outage?.ms ?? 0) / 1000).toFixed(1)} s (prober, ${stats?.failed} of ${stats?.requests} requests failed), maintenance page ${((reported?.ms ?? 0) / 1000).toFixed(1)} s (workflow)\n`,
      );
    } finally {
      await prober.stop();
    }
  }, 300_000);
});

/** An event's type without its prefix (`TimerStarted`), or an activity's type name when it schedules one. */
function eventName(event: temporal.api.history.v1.IHistoryEvent): string {
  return event.activityTaskScheduledEventAttributes?.activityType?.name ?? String(temporal.api.enums.v1.EventType[event.eventType ?? 0]).replace(/^EVENT_TYPE_/, '').toLowerCase().replace(/(^|_)(\w)/g, (_, __, c: string) => c.toUpperCase());
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
