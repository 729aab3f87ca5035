import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeTargetHealthCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { DescribeDBClustersCommand, DescribeDBClusterSnapshotsCommand } from '@aws-sdk/client-rds';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createAwsActivities } from '../../src/activities';
import { TemplateStore } from '../../src/activities/templates';
import type { ReleaseTenantResult } from '../../src/shared/messages/release';
import { abortRelease, approveRelease, releaseOutcome, releaseProgress, releaseTenants, startRelease } from '../../src/client/releases';
import { provisionTenant } from '../../src/client/tenants';
import { preReleaseSnapshotId, workflowIds } from '../../src/shared/ids';
import { acquireLockSignal, lockStateQuery, lockWorkflowId, releaseLockSignal } from '../../src/shared/messages/lock';
import type { ReleaseRequest } from '../../src/shared/release/plan';
import { TASK_QUEUES } from '../../src/shared/task-queues';
import { trafficStackNameFor } from '../../src/workflows/tenant-footprint';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { startHarness, type Harness } from './harness';
import { replayAndMaybeRecord, updateHandlingMs } from './histories';
import { sandboxEnv, TEST_SANDBOX_DIR } from './sandbox-env';
import { freeLoopbackPort } from '../sandbox/ports';
import { liveVersion } from '../sandbox/runtime-reads';
import { startProber, type Prober, type ProbePhase } from '../sandbox/data-plane/prober';
import { WebhookReceiver } from '../sandbox/webhook-receiver';
import { answerOf as answerAt, listenerRuleOf as ruleOf, versionIn } from './tenant-traffic';
import { until } from './until';

let h: Harness;
/** Versions only this file releases, so other files' releases on the shared sandbox cannot collide with them. */
/** (`-broken` and `-failing` stay last: the sandbox's fault conventions read the tag's end.) */
const V = (version: string) => version.replace(/(-broken|-failing|-migration-fails)?$/, '-wave$1');
const ALL = ['acme', 'globex', 'initech', 'hooli', 'umbrella', 'stark', 'wayne', 'wonka', 'cyberdyne', 'soylent', 'tyrell', 'oscorp'];
/** Every task and pod is a tenant app process behind the load balancer emulator (test/sandbox/data-plane/). */
const ECS = ['acme', 'globex', 'initech', 'hooli', 'umbrella', 'stark'];
const KUBERNETES = ['wayne', 'wonka', 'cyberdyne', 'soylent', 'tyrell', 'oscorp'];

/** The workers' fleet config: the sandbox's, in a file of this run's own so a describe block can add notifications to it (workers re-read it when it changes). */
const fleetConfigPath = join(TEST_SANDBOX_DIR, 'fleet.release-test.yaml');
const sandboxFleet = () => readFileSync(sandboxEnv().TENANT_FLEET_CONFIG!, 'utf8');

beforeAll(async () => {
  writeFileSync(fleetConfigPath, sandboxFleet());
  h = await startHarness({ fleetConfigPath });
  // Every tenant of the sandbox fleet, on both runtimes, at 1.0.0.
  await Promise.all(ALL.map((id) => provisionTenant(h.client, { tenant: h.tenant(id), initialVersion: '1.0.0', requestedBy: 'jest' })));
  initial = await versions(ALL);
}, 900_000);
let initial: Record<string, string | undefined>;
afterAll(async () => {
  await h?.stop();
});

let releaseCounter = 0;
const release = (request: Partial<ReleaseRequest> & { version: string }) =>
  startRelease(h.client, h.config, { releaseId: `jest-${Date.now()}-${++releaseCounter}`, plan: 'quick', requestedBy: 'jest', ...request });

/** Replays the release's run now, and with TENANT_FLEET_RECORD_HISTORIES=1 keeps it as a fixture (one per path through the release). */
const replayRelease = async (handle: { workflowId: string; describe(): Promise<{ runId: string }> }, name: string) => {
  const { runId } = await handle.describe();
  await replayAndMaybeRecord(h.client, handle.workflowId, runId, `release-wave-${name}`);
};
const versions = async (ids: string[]) => Object.fromEntries(await Promise.all(ids.map(async (id) => [id, await liveVersion(h, id)] as const)));
/** Every tenant of a release, page by page through its progress query: the summary lists only those that did not succeed. */
const everyTenant = async (releaseId: string) => Object.entries(await releaseTenants(h.client, releaseId, 5)).map(([tenantId, t]) => ({ tenantId, ...t }));
const byStatus = async (releaseId: string, status: string) => (await everyTenant(releaseId)).filter((t) => t.status === status).map((t) => t.tenantId).sort();

async function setAlarm(tenantId: string, state: 'ALARM' | 'OK'): Promise<void> {
  await h.admin.cloudWatch(h.tenant(tenantId).aws).send(new SetAlarmStateCommand({ AlarmName: `tenant-${tenantId}-5xx`, StateValue: state, StateReason: `jest: ${state}` }));
}

/** Steady requests to every hostname of the given tenants through the load balancer, counted per tenant. */
const probe = (ids: string[], phase: string): Promise<Prober> =>
  startProber({ stateDir: TEST_SANDBOX_DIR, targets: ids.flatMap((id) => h.tenant(id).hostnames.map((hostname) => ({ hostname, tenantId: id }))), ratePerSecond: 2, phase });
const failedByTenant = (phase: ProbePhase) => Object.fromEntries(Object.entries(phase.tenants).map(([id, stats]) => [id, stats.failed]));
/** Failed requests per tenant: `failed` for the canary, none for the others. */
const onlyOn = (ids: string[], canary: string, failed: number) => Object.fromEntries(ids.map((id) => [id, id === canary ? failed : 0]));

/** The prober's failed requests to a tenant's hostnames since `since` (ISO), from its failure log: when each started, in which phase, with what outcome. */
function proberFailures(id: string, since: string): { at: string; phase: string; hostname: string; outcome: string; ms: number }[] {
  const hostnames = new Set(h.tenant(id).hostnames);
  const log = join(TEST_SANDBOX_DIR, 'data-plane', 'prober-failures.log');
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .map((line) => /^(\S+) (.+) (\S+) (\S+) (\d+) ms$/.exec(line))
    .flatMap((m) => (m && m[1]! >= since && hostnames.has(m[3]!) ? [{ at: m[1]!, phase: m[2]!, hostname: m[3]!, outcome: m[4]!, ms: Number(m[5]) }] : []));
}

/**
 * The versions the tenant's load balancer sends users to: those of its registered targets that are
 * not draining, and `draining` for each that still is. moto reports a deregistered target draining
 * at once, the load balancer emulator stops sending it requests at its next read of moto, and moto
 * drops the target only once the emulator has drained it: until then it may still get a request.
 */
async function servingVersions(id: string): Promise<string[]> {
  const lb = h.tenant(id).loadBalancer!;
  const { Stacks } = await h.admin.cloudFormation(lb.aws).send(new DescribeStacksCommand({ StackName: trafficStackNameFor(id) }));
  const targetGroupArn = Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === 'TargetGroupArn')?.OutputValue;
  const { TargetHealthDescriptions = [] } = await h.admin.elbv2(lb.aws).send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
  const answers = await Promise.all(
    TargetHealthDescriptions.map(async ({ Target, TargetHealth }) => {
      if (TargetHealth?.State === 'draining') return 'draining';
      const response = await fetch(`http://${Target?.Id}:${Target?.Port}/`, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
      return ((await response?.json().catch(() => undefined)) as { version?: string } | undefined)?.version ?? 'none';
    }),
  );
  return answers.sort();
}

/** A tenant's listener rule, and one request to its first hostname as a user sends it (tenant-traffic.ts). */
const listenerRuleOf = (id: string) => ruleOf(h, id);
const answerOf = (id: string) => answerAt(h.tenant(id).hostnames[0]!);

/**
 * A release of a faulty version to `tenants` under steady traffic: the prober's phase `release`
 * lasts until the rollback is complete for users (the canary's load balancer sends them only to
 * its previous version: ECS drains the bad tasks before it reports the rollback's deployment done,
 * a Kubernetes rollout is done as its last bad pod goes, whose target leaves the group a moment
 * later, and is drained by the load balancer after that), then `after rollback` counts two more seconds.
 */
async function faultyCanary(version: string, tenants: string[], options?: ReleaseRequest['options']) {
  const before = await versions(tenants);
  const prober = await probe(tenants, 'release');
  try {
    const { handle } = await release({ version, tenants, options });
    const summary = await releaseOutcome(handle);
    const canary = summary.tenants.find((t) => t.wave === 'canary')!;
    await until(`${canary.tenantId} to serve ${before[canary.tenantId]} only`, () => servingVersions(canary.tenantId), (v) => v.length > 0 && v.every((x) => x === before[canary.tenantId]));
    prober.phase('after rollback');
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const [during, after] = (await prober.stop()).phases;
    return { summary, canary, before, during: during!, after: after! };
  } finally {
    await prober.stop();
  }
}

async function refusalOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
  const cause = (error as WorkflowUpdateFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return (cause as ApplicationFailure).message;
}

describe('release waves against the sandbox (ECS and Kubernetes tenants)', () => {
  it('a -broken image fails the canary, which is rolled back, and no other tenant is touched', async () => {
    const prober = await probe(ALL, 'release');
    const { handle } = await release({ version: V('1.1.0-broken') });
    const summary = await releaseOutcome(handle).finally(() => prober.phase('after rollback'));
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const [during, after] = (await prober.stop()).phases;
    // Users of the other tenants never see it; the canary's keep their old tasks (ECS's minimumHealthyPercent 100).
    expect(failedByTenant(during!)).toEqual(onlyOn(ALL, 'acme', during!.tenants.acme!.failed));
    expect(failedByTenant(after!)).toEqual(onlyOn(ALL, 'acme', 0));
    expect(summary.status).toBe('halted');
    expect(summary.reason).toMatch(/wave "canary": 1 of 1 tenants failed/);
    const canary = summary.tenants.find((t) => t.wave === 'canary')!;
    expect(canary).toMatchObject({ tenantId: 'acme', status: 'rolled-back', previousVersion: initial.acme });
    expect(canary.reason).toMatch(/rollout of 1\.1\.0-wave-broken failed/);
    expect(summary.notStarted).toEqual({ count: ALL.length - 1, reason: expect.stringMatching(/^not started: release halted/) as unknown });
    expect(await byStatus(summary.releaseId, 'skipped')).toEqual(ALL.filter((id) => id !== 'acme').sort());
    expect(await versions(ALL)).toEqual(initial);
    // Only the canary's child workflow ever existed.
    const children = await h.client.workflow.count(`WorkflowType = 'releaseTenant' AND ReleaseId = '${summary.releaseId}'`);
    expect(children.count).toBe(1);
    await replayRelease(handle, 'canary-halted');
  });

  it('a clean release passes every wave on both runtimes, snapshots first, and survives continue-as-new', async () => {
    // Users keep asking every tenant throughout: rolling deployments behind the load balancer (ECS tasks, pods) lose none of their requests.
    const prober = await probe(ALL, 'release');
    // A tiny history budget forces the release through several runs.
    const { handle, input } = await release({ version: V('1.1.0'), options: { continueAsNewAfterEvents: 20 } });
    expect(input.waves.map((w) => [w.name, w.tenants.length])).toEqual([['canary', 1], ['early', 4], ['rest', 7]]);
    const summary = await releaseOutcome(handle).finally(() => prober.stop());
    expect([summary.status, summary.tenants.filter((t) => t.status !== 'succeeded').map((t) => `${t.tenantId}: ${t.reason}`)]).toEqual(['succeeded', []]);
    const [during] = (await prober.stop()).phases;
    expect(failedByTenant(during!)).toEqual(onlyOn(ALL, '', 0));
    for (const id of ALL) expect(during!.tenants[id]!.requests).toBeGreaterThan(0);
    expect(summary.status).toBe('succeeded');
    expect(summary.counts.succeeded).toBe(12);
    // Counts, no row per tenant that succeeded; those come page by page (5 a page here, across the runs' compact state).
    expect(summary.tenants).toEqual([]);
    const rows = (await everyTenant(summary.releaseId)).map((t) => [t.tenantId, t.status, t.previousVersion]);
    expect(rows.sort()).toEqual(ALL.map((id) => [id, 'succeeded', initial[id]]).sort());
    expect(await versions(ALL)).toEqual(Object.fromEntries(ALL.map((id) => [id, V('1.1.0')])));
    const description = await handle.describe();
    const firstRunId = description.raw.workflowExecutionInfo?.firstRunId ?? '';
    expect(firstRunId).not.toBe('');
    expect(description.runId).not.toBe(firstRunId);
    // Both the first run (it continued as new) and the last replay against today's code.
    await replayAndMaybeRecord(h.client, handle.workflowId, firstRunId, 'release-wave-first-run');
    await replayAndMaybeRecord(h.client, handle.workflowId, description.runId, 'release-wave-last-run');
    const child = await h.client.workflow.getHandle(workflowIds.releaseTenant(summary.releaseId, 'tyrell')).describe();
    await replayAndMaybeRecord(h.client, child.workflowId, child.runId, 'release-tenant-kubernetes');
    const ecsChild = await h.client.workflow.getHandle(workflowIds.releaseTenant(summary.releaseId, 'initech')).describe();
    await replayAndMaybeRecord(h.client, ecsChild.workflowId, ecsChild.runId, 'release-tenant-ecs');
    // The tenant's lock, once this release let go of it and it ended.
    const lock = h.client.workflow.getHandle(lockWorkflowId('initech'));
    await lock.result();
    const lockRun = await lock.describe();
    await replayAndMaybeRecord(h.client, lockRun.workflowId, lockRun.runId, 'tenant-lock');

    const tenant = h.tenant('tyrell');
    const snapshot = await h.admin.rds(tenant.aws).send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: preReleaseSnapshotId(summary.releaseId, 'tyrell') }));
    expect(snapshot.DBClusterSnapshots?.[0]?.Status).toBe('available');
    const recorded = await h.admin.ssm(tenant.aws).send(new GetParameterCommand({ Name: '/tenant-fleet/tyrell/workload/version' }));
    expect(recorded.Parameter?.Value).toBe(V('1.1.0'));
    // Twelve real rollouts in three waves, each waiting for health checks and draining: 60-160 s on a shared machine.
  }, 300_000);

  it('keeps an approval sent before the wave waits, and refuses one when nothing waits', async () => {
    const { handle, input } = await release({ version: V('1.2.0'), plan: 'gated', tenants: ['hooli', 'wonka', 'globex'] });
    expect(input.waves[0]?.approval).toBeDefined();
    const early = await approveRelease(h.client, input.releaseId, { by: 'jest', comment: 'pre-approved' });
    expect(early).toEqual({ wave: 'canary', early: true });
    const refused = await refusalOf(approveRelease(h.client, input.releaseId, { by: 'jest' }));
    expect(refused).toMatch(/no wave of release .* waits for approval/);
    const summary = await releaseOutcome(handle);
    expect(summary.status).toBe('succeeded');
    const progress = await releaseProgress(h.client, input.releaseId);
    expect(progress.waves[0]?.approval).toMatchObject({ by: 'jest', comment: 'pre-approved' });
    await replayRelease(handle, 'early-approval');
  });

  it('waits at the approval gate until a human approves', async () => {
    const { handle, input } = await release({ version: V('1.2.1'), plan: 'gated', tenants: ['hooli', 'wonka'] });
    const waiting = await until('the approval gate', () => releaseProgress(h.client, input.releaseId), (p) => p.phase === 'wave-2/awaiting-approval');
    expect(waiting.waves[1]?.counts.pending).toBe(1);
    expect(await approveRelease(h.client, input.releaseId, { by: 'alice' })).toEqual({ wave: 'canary', early: false });
    expect((await releaseOutcome(handle)).status).toBe('succeeded');
    await replayRelease(handle, 'approval-gate');
  });

  it('honours an abort within a second: nothing new starts and nothing is left half-deployed', async () => {
    const before = await versions(ALL);
    const { handle, input } = await release({ version: V('1.3.0'), options: { verifyWindowMs: 6_000 } });
    await until('the second wave to be in flight', () => releaseProgress(h.client, input.releaseId), (p) => p.waves[1]!.counts.running > 0);
    const { stoppedStarting } = await abortRelease(h.client, input.releaseId, { by: 'jest', reason: 'testing abort', rollback: false });
    // Within a second of the workflow taking the abort, by its history: a client's stopwatch would also count a loaded machine's queues.
    expect(await updateHandlingMs(handle, 'abort')).toBeLessThan(1_000);
    const atAbort = await releaseProgress(h.client, input.releaseId);
    const touched = Object.entries(atAbort.tenants).filter(([, t]) => t.attempts > 0).map(([id]) => id).sort();
    expect(stoppedStarting.length).toBe(ALL.length - touched.length);

    const summary = await releaseOutcome(handle);
    expect(summary.status).toBe('aborted');
    // Tenants in flight finished; none started after the abort.
    expect([...(await byStatus(summary.releaseId, 'succeeded')), ...(await byStatus(summary.releaseId, 'rolled-back'))].sort()).toEqual(touched);
    const after = await versions(ALL);
    for (const t of await everyTenant(summary.releaseId)) {
      expect([t.tenantId, after[t.tenantId]]).toEqual([t.tenantId, t.status === 'succeeded' ? V('1.3.0') : before[t.tenantId]]);
    }
    await replayRelease(handle, 'abort');
  });

  it('on abort with rollback, stops the tenants in flight and reverts every tenant it deployed', async () => {
    const before = await versions(ALL);
    const { handle, input } = await release({ version: V('1.3.1'), options: { verifyWindowMs: 6_000 } });
    await until('the second wave to be in flight', () => releaseProgress(h.client, input.releaseId), (p) => p.waves[1]!.counts.running > 0);
    await abortRelease(h.client, input.releaseId, { by: 'jest', reason: 'testing abort with rollback', rollback: true });
    const summary = await releaseOutcome(handle);
    expect(summary.status).toBe('aborted');
    expect(summary.tenants.find((t) => t.tenantId === 'acme')).toMatchObject({ status: 'rolled-back', reason: expect.stringMatching(/^reverted after the abort/) as unknown });
    expect(summary.counts.succeeded).toBe(0);
    expect(await versions(ALL)).toEqual(before);
    await replayRelease(handle, 'abort-rollback');
  });

  it('halts when a later wave fails over its threshold; touched tenants are on the new version or rolled back', async () => {
    const before = await versions(ALL);
    await Promise.all(['stark', 'umbrella'].map((id) => setAlarm(id, 'ALARM')));
    try {
      const { handle } = await release({ version: V('1.4.0') });
      const summary = await releaseOutcome(handle);
      expect(summary.status).toBe('halted');
      expect(summary.reason).toMatch(/wave "rest": 2 of 7 tenants failed \(20% allowed\)/);
      expect(await byStatus(summary.releaseId, 'rolled-back')).toEqual(['stark', 'umbrella']);
      for (const id of ['stark', 'umbrella']) expect(summary.tenants.find((t) => t.tenantId === id)?.reason).toMatch(/tenant-.*-5xx is in ALARM/);
      const after = await versions(ALL);
      for (const t of await everyTenant(summary.releaseId)) {
        expect([t.tenantId, t.status, after[t.tenantId]]).toEqual([t.tenantId, t.status, t.status === 'succeeded' ? V('1.4.0') : before[t.tenantId]]);
      }
      expect(summary.counts.succeeded + summary.counts['rolled-back'] + summary.counts.skipped).toBe(12);
      await replayRelease(handle, 'halted');
    } finally {
      await Promise.all(['stark', 'umbrella'].map((id) => setAlarm(id, 'OK')));
    }
  });

  describe('an active bake (docs/releases.md, "Active bake")', () => {
    // The quick plan with a short bake after its canary: the config is the test's own, the workers need no plan.
    // 12 s: time for the alarm test to see the canary bake and raise its alarm; a clean bake has nothing to wait for.
    const baked = (bakeMs: number) => {
      const quick = h.config.releasePlans.find((p) => p.name === 'quick')!;
      const plan = { ...quick, name: 'baked', waves: [{ ...quick.waves[0]!, bake: bakeMs }, { ...quick.waves[2]! }] };
      return { ...h.config, releasePlans: [...h.config.releasePlans, plan] };
    };
    const releaseBaked = (version: string, bakeMs = 12_000) =>
      startRelease(h.client, baked(bakeMs), { releaseId: `jest-${Date.now()}-${++releaseCounter}`, plan: 'baked', tenants: ['wonka', 'tyrell'], requestedBy: 'jest', version });
    const watches = async (workflowId: string) =>
      (await h.client.workflow.getHandle(workflowId).fetchHistory()).events?.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'watchBake').length;

    it('an alarm raised during the bake rolls that tenant back, counts against the threshold and halts the release', async () => {
      const before = await versions(['wonka', 'tyrell']);
      const { handle, input } = await releaseBaked(V('1.6.0'));
      const [canary] = input.waves[0]!.tenants;
      const [other] = input.waves[1]!.tenants;
      await until('the canary wave to bake', () => releaseProgress(h.client, input.releaseId), (p) => p.phase === 'wave-1/baking', 300_000);
      expect(await liveVersion(h, canary!)).toBe(V('1.6.0'));
      await setAlarm(canary!, 'ALARM');
      try {
        const summary = await releaseOutcome(handle);
        expect(summary.status).toBe('halted');
        expect(summary.reason).toMatch(/wave "canary": 1 of 1 tenants failed/);
        const row = summary.tenants.find((t) => t.tenantId === canary);
        expect(row).toMatchObject({ status: 'rolled-back', previousVersion: before[canary!] });
        expect(row?.reason).toMatch(new RegExp(`^rolled back during bake: tenant-${canary}-5xx is in ALARM`));
        expect(await versions(['wonka', 'tyrell'])).toEqual(before);
        expect(await byStatus(summary.releaseId, 'skipped')).toEqual([other]);
        // One watch for the wave: it came back with the canary, and nothing was left to watch.
        expect(await watches(handle.workflowId)).toBe(1);
        await replayRelease(handle, 'bake-rollback');
        const rollback = await h.client.workflow.getHandle(workflowIds.releaseTenant(summary.releaseId, canary!)).describe();
        await replayAndMaybeRecord(h.client, rollback.workflowId, rollback.runId, 'release-tenant-bake-rollback');
      } finally {
        await setAlarm(canary!, 'OK');
      }
    }, 600_000);

    it('a clean bake watches and changes nothing', async () => {
      const { handle, input } = await releaseBaked(V('1.6.1'), 4_000);
      const summary = await releaseOutcome(handle);
      expect(summary.status).toBe('succeeded');
      expect(summary.counts.succeeded).toBe(2);
      expect(await versions(['wonka', 'tyrell'])).toEqual({ wonka: V('1.6.1'), tyrell: V('1.6.1') });
      const progress = await releaseProgress(h.client, input.releaseId);
      expect(progress.waves.map((w) => w.status)).toEqual(['done', 'done']);
      expect(await watches(handle.workflowId)).toBe(1);
    }, 600_000);
  });

  it('reports a tenant busy with another operation and retries it later, never touching it twice at once', async () => {
    // A holder that stays RUNNING (its task queue has no worker) keeps hooli's lock.
    const holder = await h.client.workflow.start('provisionTenant', { workflowId: `jest-lock-holder-${Date.now()}`, taskQueue: 'jest-nobody-polls', args: [] });
    const request = { requesterWorkflowId: holder.workflowId, requesterRunId: holder.firstExecutionRunId, operation: 'jest holds the lock', wait: true };
    const lock = await h.client.workflow.signalWithStart('tenantLock', {
      workflowId: lockWorkflowId('hooli'),
      taskQueue: TASK_QUEUES.workflows,
      args: [{ lockWorkflowId: lockWorkflowId('hooli') }],
      signal: acquireLockSignal,
      signalArgs: [request],
    });
    await until('the lock to be held', () => lock.query(lockStateQuery), (s) => s.holder?.workflowId === holder.workflowId);

    const { handle, input } = await release({ version: V('1.5.0'), tenants: ['hooli'], options: { busyRetry: { attempts: 20, delayMs: 1_000 } } });
    const busy = await until('hooli to be reported busy', () => releaseProgress(h.client, input.releaseId), (p) => p.tenants.hooli?.status === 'busy');
    expect(busy.tenants.hooli?.reason).toMatch(/tenant hooli is busy: jest holds the lock/);
    await lock.signal(releaseLockSignal, { requesterWorkflowId: holder.workflowId, requesterRunId: holder.firstExecutionRunId });
    await holder.terminate('test done');

    const summary = await releaseOutcome(handle);
    expect(summary.status).toBe('succeeded');
    const progress = await releaseProgress(h.client, input.releaseId);
    expect(progress.tenants.hooli?.attempts).toBeGreaterThan(1);
    expect(await liveVersion(h, 'hooli')).toBe(V('1.5.0'));
    await replayRelease(handle, 'busy-retry');
  });

  it('refuses bad requests before anything starts', async () => {
    const id = `jest-refused-${Date.now()}`;
    await expect(startRelease(h.client, h.config, { releaseId: id, version: '1.0.0', plan: 'nope', requestedBy: 'jest' })).rejects.toThrow(/plan: unknown release plan; expected one of: standard, quick, gated \(got "nope"\)/);
    await expect(startRelease(h.client, h.config, { releaseId: id, version: '1.0.0', plan: 'quick', tenants: ['nobody'], requestedBy: 'jest' })).rejects.toThrow(/tenants: unknown tenant.*\(got "nobody"\)/);
    await expect(startRelease(h.client, h.config, { releaseId: id, version: 'not a tag!', plan: 'quick', requestedBy: 'jest' })).rejects.toThrow(/version: expected an image tag.*\(got "not a tag!"\)/);
    await expect(h.client.workflow.getHandle(workflowIds.release(id)).describe()).rejects.toThrow(/not found/i);
  });
  it('reverting after an abort leaves the data alone unless asked; asked, it refuses a snapshot older than the limit, naming it', async () => {
    const restoredFrom = async (tenantId: string) => {
      const rds = h.aws.rds(h.tenant(tenantId).aws);
      const live = (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: `tenant-${tenantId}` }))).DBClusters?.[0];
      return live?.TagList?.find((t) => t.Key === 'tenant-fleet:restored-from')?.Value;
    };
    const abortAtGate = async (version: string, options: ReleaseRequest['options']) => {
      // restoreDatabaseOnRollback alone used to make the revert restore the data too.
      const { handle, input } = await release({ version, plan: 'gated', tenants: ['cyberdyne', 'soylent'], options: { restoreDatabaseOnRollback: true, ...options } });
      await until('the approval gate', () => releaseProgress(h.client, input.releaseId), (p) => p.phase === 'wave-2/awaiting-approval');
      await abortRelease(h.client, input.releaseId, { by: 'jest', reason: 'testing revert', rollback: true });
      const summary = await releaseOutcome(handle);
      const canary = input.waves[0]!.tenants[0]!;
      return { summary, canary, snapshot: preReleaseSnapshotId(input.releaseId, canary) };
    };

    const plain = await abortAtGate(V('1.8.0'), {});
    expect(plain.summary.tenants.find((t) => t.tenantId === plain.canary)).toMatchObject({ status: 'rolled-back' });
    expect(await restoredFrom(plain.canary)).not.toBe(plain.snapshot);

    const asked = await abortAtGate(V('1.8.1'), { restoreDatabaseOnRevert: { maxSnapshotAgeMs: 1 } });
    const canary = asked.summary.tenants.find((t) => t.tenantId === asked.canary);
    expect(canary).toMatchObject({ status: 'rollback-failed' });
    expect(canary?.reason).toMatch(new RegExp(`snapshot ${asked.snapshot} was taken .* longer ago than releasePlans\\[\\]\\.restoreDatabaseOnRevert\\.maxSnapshotAge \\(0 min\\)`));
    expect(await restoredFrom(asked.canary)).not.toBe(asked.snapshot);
  }, 300_000);
  it('runs the migration with the new image before the deploy, once per release and tenant, its output in the result; a -migration-fails one rolls back with the database restored, users served throughout', async () => {
    // initech: no later test of this file releases it alone, so what this case leaves it on is only its "before".
    const id = 'initech';
    const childResult = (releaseId: string) => h.client.workflow.getHandle(workflowIds.releaseTenant(releaseId, id)).result() as Promise<ReleaseTenantResult>;
    const prober = await probe([id], 'release');
    try {
      const good = await release({ version: V('2.1.0'), tenants: [id], migrations: true });
      expect([id, (await releaseOutcome(good.handle)).status]).toEqual([id, 'succeeded']);
      const migrated = (await childResult(good.input.releaseId)).migration!;
      expect(migrated).toMatchObject({ exitCode: 0, succeeded: true, reused: false });
      expect(migrated.output.at(-1)).toBe(`done: 2 migrations applied, schema at ${V('2.1.0')}`);
      // Run again as a retry would: the same task is found, not another started.
      const tenant = h.tenant(id);
      const activities = createAwsActivities({ aws: h.aws, templates: new TemplateStore() });
      const again = { runtime: tenant.runtime as Extract<typeof tenant.runtime, { kind: 'ecs' }>, tenantId: id, releaseId: good.input.releaseId, image: tenant.image, version: V('2.1.0'), command: ['./migrate', 'up'], timeoutMs: 120_000 };
      // eslint-disable-next-line @typescript-eslint/unbound-method -- the activity factories return plain closures that never use `this`.
      expect(await new MockActivityEnvironment().run(activities.ecsRunMigration, again)).toEqual({ ...migrated, reused: true });

      const bad = await release({ version: V('2.2.0-migration-fails'), tenants: [id], migrations: true, options: { restoreDatabaseOnRollback: true } });
      const row = (await releaseOutcome(bad.handle)).tenants.find((t) => t.tenantId === id);
      expect(row).toMatchObject({ tenantId: id, status: 'rolled-back', previousVersion: V('2.1.0') });
      expect(row?.reason).toMatch(/^migration failed: exit code 1; last output: error: relation "orders" already exists/);
      const failed = (await childResult(bad.input.releaseId)).migration;
      expect([failed?.exitCode, failed?.succeeded, failed?.output]).toEqual([1, false, expect.arrayContaining(['applying 0002_add_orders ... FAILED'])]);
      expect([id, await liveVersion(h, id)]).toEqual([id, V('2.1.0')]);
      const live = (await h.aws.rds(tenant.aws).send(new DescribeDBClustersCommand({ DBClusterIdentifier: `tenant-${id}` }))).DBClusters?.[0];
      expect([id, live?.TagList?.find((t) => t.Key === 'tenant-fleet:restored-from')?.Value]).toEqual([id, preReleaseSnapshotId(bad.input.releaseId, id)]);
      // The restore's redeploy keeps the service in its target group: its users are answered by 2.1.0 alone, and none of their requests failed.
      await until(`${id} to serve ${V('2.1.0')} only`, () => servingVersions(id), (v) => v.length > 0 && v.every((x) => x === V('2.1.0')));
      prober.phase('after rollback');
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const [during, after] = (await prober.stop()).phases;
      const outcomes = (phase: ProbePhase) => [phase.tenants[id]!.failed, Object.keys(phase.tenants[id]!.byOutcome).sort()];
      expect([id, outcomes(during!), outcomes(after!)]).toEqual([id, [0, ['200']], [0, ['200']]]);
    } finally {
      await prober.stop();
    }
  }, 300_000);

  it("a -broken canary on Kubernetes fails no other tenant's requests, and is rolled back", async () => {
    const { summary, canary, before, during, after } = await faultyCanary(V('1.1.1-broken'), KUBERNETES);
    expect(summary.status).toBe('halted');
    expect(canary).toMatchObject({ status: 'rolled-back', previousVersion: before[canary.tenantId] });
    expect(failedByTenant(during)).toEqual(onlyOn(KUBERNETES, canary.tenantId, during.tenants[canary.tenantId]!.failed));
    expect(failedByTenant(after)).toEqual(onlyOn(KUBERNETES, canary.tenantId, 0));
    expect(await versions(KUBERNETES)).toEqual(before);
  });

  it('maintenance mode (docs/releases.md), on both runtimes (stark on ECS, oscorp on Kubernetes): each tenant answers with the maintenance page while it is backed up and deployed, then with the new version; the outage per tenant is measured, at most 60 s', async () => {
    // One tenant per runtime, one per wave (the quick plan's canary and early waves).
    const tenants = ['stark', 'oscorp'];
    const version = V('1.7.0');
    const rulesBefore = Object.fromEntries(await Promise.all(tenants.map(async (id) => [id, (await listenerRuleOf(id)).Actions] as const)));
    const prober = await probe(tenants, 'release');
    try {
      const pages = tenants.map((id) => until(`${id} to answer with the maintenance page`, () => answerOf(id), (a) => a.status === 503, 180_000));
      // The sandbox's requests answer in milliseconds: a 2 s drain instead of the tenants' 30 s deregistration delay.
      const { handle, input } = await release({ version, tenants, options: { maintenanceMode: { drainMs: 2_000 } } });
      for (const [i, page] of (await Promise.all(pages)).entries()) {
        expect({ id: tenants[i], contentType: page.contentType, page: page.body.includes('Down for maintenance') }).toEqual({ id: tenants[i], contentType: expect.stringMatching(/^text\/html/) as unknown, page: true });
      }
      const summary = await releaseOutcome(handle);
      expect([summary.status, summary.reason, summary.tenants.map((t) => `${t.tenantId} (${t.wave}): ${t.status}: ${t.reason}`)]).toEqual(['succeeded', undefined, []]);
      // A load balancer applies a rule change a moment after ModifyRule returns (ALB within seconds,
      // the emulator at its next read of moto, every 500 ms): the last tenant's page may still answer
      // then. That moment is the outage's end, which the prober counts in `release`; `after` starts
      // once every hostname answers with the new version.
      const hostnames = tenants.flatMap((id) => h.tenant(id).hostnames);
      await Promise.all(hostnames.map((hostname) => until(`${hostname} to answer with ${version}`, () => answerAt(hostname), (a) => versionIn(a) === version, 30_000)));
      prober.phase('after');
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const [during, after] = (await prober.stop()).phases;
      const rows: string[] = [];
      for (const wave of input.waves) {
        for (const id of wave.tenants) {
          const stats = during!.tenants[id];
          const result = (await h.client.workflow.getHandle(workflowIds.releaseTenant(summary.releaseId, id)).result()) as { maintenance?: { pageFrom: string; trafficBack?: string } };
          const outageMs = stats?.outage?.ms;
          // Everything compared, in one object: a CI log then shows which part failed, for which tenant, and when (the prober's failure log).
          const observed = {
            id,
            // Users got the page (503) and nothing else that failed: no refused connection, no 502 while tasks and pods were replaced.
            failedOutcomes: Object.keys(stats?.byOutcome ?? {}).filter((outcome) => !outcome.startsWith('2')),
            otherFailures: proberFailures(id, during!.startedAt).filter((f) => f.outcome !== '503' || f.phase !== 'release'),
            outage: { ms: outageMs, atMost60s: outageMs !== undefined && outageMs > 0 && outageMs <= 60_000 },
            after: { failed: after!.tenants[id]?.failed, answered: (after!.tenants[id]?.requests ?? 0) > 0 },
            // Traffic went back to exactly the actions the rule had.
            rule: (await listenerRuleOf(id)).Actions,
            serving: await servingVersions(id),
            // When the page went up and came down, by the workflow's clock, beside the prober's failure times.
            maintenance: { ...result.maintenance, restored: result.maintenance?.trafficBack !== undefined },
          };
          expect(observed).toEqual({
            id,
            failedOutcomes: ['503'],
            otherFailures: [],
            outage: { ms: outageMs, atMost60s: true },
            after: { failed: 0, answered: true },
            rule: rulesBefore[id],
            serving: expect.arrayContaining([version]) as unknown,
            maintenance: { ...result.maintenance, restored: true },
          });
          rows.push(`${wave.name.padEnd(8)} ${id.padEnd(8)} ${h.tenant(id).runtime.kind.padEnd(11)} ${(outageMs! / 1000).toFixed(1).padStart(6)} s ${String(stats!.failed).padStart(6)} of ${stats!.requests}`);
        }
      }
      expect(await versions(tenants)).toEqual(Object.fromEntries(tenants.map((id) => [id, version])));
      // The outage per wave, as the prober measured it (2 requests/s per hostname).
      process.stdout.write(`maintenance mode, outage per tenant:\nwave     tenant   runtime     outage   failed requests\n${rows.join('\n')}\n`);
      for (const id of tenants) {
        const child = await h.client.workflow.getHandle(workflowIds.releaseTenant(summary.releaseId, id)).describe();
        await replayAndMaybeRecord(h.client, child.workflowId, child.runId, `release-tenant-maintenance-mode-${h.tenant(id).runtime.kind}`).catch((error: Error) => {
          throw new Error(`${id}: its release-tenant run ${child.workflowId} (${child.runId}) does not replay: ${error.message}`, { cause: error });
        });
      }
    } finally {
      await prober.stop();
    }
  }, 240_000);

  // Last: the canary's 5xx stay in its target group's metrics for the rest of the minute.
  it('a -failing canary (500s behind a passing health check) is caught by the requests that failed, on both runtimes, and fails requests only on its hostnames until its rollback completes', async () => {
    // One release per runtime, at once (their tenants differ). The window is longer than the load
    // balancer emulator's metrics period (5 s at least), so the verify step sees the canary's 5xx count.
    const options = { verifyWindowMs: 12_000 };
    const runs = await Promise.all([faultyCanary(V('1.3.0-failing'), ECS, options), faultyCanary(V('1.3.0-failing'), KUBERNETES, options)]);
    for (const [tenants, { summary, canary, before, during, after }] of [ECS, KUBERNETES].map((ids, i) => [ids, runs[i]!] as const)) {
      expect(summary.status).toBe('halted');
      expect(canary).toMatchObject({ status: 'rolled-back', previousVersion: before[canary.tenantId] });
      // The users' failed requests fail it, whichever of the two checks of the load balancer's count read them first.
      expect(canary.reason).toMatch(/HTTPCode_Target_5XX_Count/);
      expect(during.tenants[canary.tenantId]!.failed).toBeGreaterThan(0);
      expect(failedByTenant(during)).toEqual(onlyOn(tenants, canary.tenantId, during.tenants[canary.tenantId]!.failed));
      expect(failedByTenant(after)).toEqual(onlyOn(tenants, canary.tenantId, 0));
      expect(after.tenants[canary.tenantId]!.requests).toBeGreaterThan(0);
      expect(await versions(tenants)).toEqual(before);
    }
  });
});

describe('notifications (docs/operators.md, "Notifications")', () => {
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    // A real local receiver hears approval gates and release ends; approval gates also go to a dead
    // webhook (nothing listens on its port). Only this block's releases pay for it.
    receiver = await WebhookReceiver.start();
    const dead = `http://127.0.0.1:${await freeLoopbackPort()}/gone`;
    const environments = ['dev', 'staging', 'prod'];
    const notifications = {
      channels: [
        { name: 'receiver', webhook: { url: receiver.url } },
        { name: 'dead', webhook: { url: dead } },
      ],
      subscriptions: [
        { events: ['approval-awaited', 'release-ended'], environments, channels: ['receiver'] },
        { events: ['approval-awaited'], environments, channels: ['dead'] },
      ],
    };
    writeFileSync(fleetConfigPath, stringify({ ...(parse(sandboxFleet()) as Record<string, unknown>), notifications }));
  });
  afterAll(async () => {
    writeFileSync(fleetConfigPath, sandboxFleet());
    await receiver?.stop();
  });

  it('an approval gate notifies once, and a dead webhook costs the release at most its delivery bound, once', async () => {
    const { handle, input } = await release({ version: V('1.9.0'), plan: 'gated', tenants: ['hooli', 'wonka'] });
    await until('the approval gate', () => releaseProgress(h.client, input.releaseId), (p) => p.phase === 'wave-2/awaiting-approval');
    // Told once, with the command to run and the link to the release in the UI.
    const key = `${handle.workflowId}/approval-awaited/1`;
    const [told] = await until('the approval notification', () => Promise.resolve(receiver.deliveries((d) => d.headers['idempotency-key'] === key)), (d) => d.length > 0);
    expect(told!.body).toMatchObject({ event: 'approval-awaited', command: `tenantctl release approve ${input.releaseId} --wave canary` });
    expect(told!.body.link).toContain(`/workflows/${encodeURIComponent(handle.workflowId)}`);
    const approvedAt = Date.now();
    expect(await approveRelease(h.client, input.releaseId, { by: 'alice' })).toEqual({ wave: 'canary', early: false });
    expect((await releaseOutcome(handle)).status).toBe('succeeded');
    // The dead channel failed every attempt, so the activity retried while the release went on; the
    // receiver, which had taken the notification, was not sent it again.
    expect(receiver.requests(key)).toHaveLength(1);
    const ended = receiver.deliveries((d) => d.body.workflowId === handle.workflowId && d.body.event === 'release-ended');
    expect(ended.map((d) => d.body.fields)).toEqual([{ outcome: 'succeeded' }]);
    // What the dead endpoint cost: the second wave started at once after the approval, and the run
    // ended at most one delivery bound (30 s schedule-to-close) after its last phase was set.
    const events = (await handle.fetchHistory()).events ?? [];
    const at = (e: (typeof events)[number]) => Number(e.eventTime!.seconds) * 1000 + Math.floor((e.eventTime!.nanos ?? 0) / 1e6);
    const children = events.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes);
    expect(children).toHaveLength(2);
    expect(at(children[1]!) - approvedAt).toBeLessThan(5_000);
    // The gate's delivery gave up on its bound only after the next wave had started: nothing waited for it.
    // (Temporal closes an activity whose next retry would pass its schedule-to-close as failed, with the last attempt's error.)
    const gaveUp = events.filter((e) => e.activityTaskFailedEventAttributes || e.activityTaskTimedOutEventAttributes);
    expect(gaveUp).toHaveLength(1);
    expect(at(gaveUp[0]!)).toBeGreaterThan(at(children[1]!));
    const lastPhase = events.filter((e) => e.upsertWorkflowSearchAttributesEventAttributes).pop()!;
    const closed = events[events.length - 1]!;
    expect(closed.workflowExecutionCompletedEventAttributes).toBeDefined();
    expect(at(closed) - at(lastPhase)).toBeLessThan(30_000 + 3_000);
  }, 300_000);
});
