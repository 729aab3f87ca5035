import { Context } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CertificateInfo } from '../../src/activities/acm';
import { createFleetActivities } from '../../src/activities/fleet';
import type { LockAnswer } from '../../src/activities/lock';
import { createNotificationActivities } from '../../src/activities/notify';
import { parseFleetConfig } from '../../src/shared/config/load';
import { certificatesStatusQuery, type CertificatesInput } from '../../src/shared/messages/certificates';
import { lockStateQuery, type LockHolder } from '../../src/shared/messages/lock';
import { abortUpdate, releaseProgressQuery, skipWindowUpdate, type ReleaseProgress, type ReleaseSummary, type ReleaseTenantResult, type ReleaseWaveInput } from '../../src/shared/messages/release';
import { WEEKDAYS } from '../../src/shared/maintenance/windows';
import { rollbackProgressQuery, stopRollbackUpdate, type ReleaseRollbackInput, type RollbackSummary } from '../../src/shared/messages/rollback';
import type { Notification } from '../../src/shared/notifications/events';
import { TASK_QUEUES } from '../../src/shared/task-queues';
import { WebhookReceiver } from '../sandbox/webhook-receiver';
import { describeWithTestServer, startTimeSkippingWorkers, type TimeSkippingWorkers } from '../support/time-skipping';
import { listeningAddresses } from './support/listeners';

/**
 * Timers that fire after days, run in seconds: Temporal's Java test server skips time whenever
 * the workflows only wait. The workflows are the real ones (releaseTenant is a stub child, see
 * support/time-skipping-workflows.ts) and the activities are stubs: these tests are about what a
 * workflow does when its timer fires, not about AWS. The server comes from scripts/setup.sh
 * (.tools/bin/temporal-test-server, on 127.0.0.1 only); without a JDK and Maven it is not
 * installed and these skip.
 */
const QUEUE = 'time-skipping';
/** Where the real notification delivery activity runs, against local webhook receivers. */
const NOTIFY_QUEUE = 'time-skipping-notify';
const DAY = 86_400_000;
jest.setTimeout(60_000);

/** The activities' own clock is the test server's: the time their task was scheduled. */
const serverNow = () => Context.current().info.currentAttemptScheduledTimestampMs;

// The lock's stubs: which runs are alive, and the answers the lock sent.
const alive = new Set<string>();
const answers: { requester: string; answer: LockAnswer }[] = [];

// Every notification a workflow scheduled, with the server's time.
const notified: (Notification & { at: number })[] = [];
const notifiedBy = (workflowId: string) => notified.filter((n) => n.workflowId === workflowId).map((n) => [n.event, n.key]);

// The certificates' stubs: one account's ACM and one listener, in memory.
const acm = new Map<string, CertificateInfo>();
const attached = new Set<string>();
const requests: { names: string[]; at: number }[] = [];
const deleted: string[] = [];

const activities = {
  // The real one: maintenance window arithmetic, a local activity of the workflow worker.
  nextDeployOpening: createFleetActivities({}).nextDeployOpening,
  answerLockRequest: ({ requester, answer }: { requester: { workflowId: string }; answer: LockAnswer }) => {
    answers.push({ requester: requester.workflowId, answer });
    return Promise.resolve({ delivered: alive.has(requester.workflowId) });
  },
  isWorkflowRunning: ({ workflowId }: { workflowId: string }) => Promise.resolve(alive.has(workflowId)),
  // A rollback's release has ended (src/activities/temporal.ts stops a running one).
  stopReleaseForRollback: () => Promise.resolve({ wasRunning: false, inFlight: [] }),
  // Records what the workflows ask to deliver (delivery itself is src/activities/notify.ts's job).
  deliverNotification: (notification: Notification) => {
    notified.push({ ...notification, at: serverNow() });
    return Promise.resolve({ delivered: [] });
  },

  listGroupCertificates: () => Promise.resolve([...acm.values()].filter((c) => !deleted.includes(c.arn))),
  requestCertificate: ({ names }: { names: string[] }) => {
    const at = serverNow();
    const arn = `arn:aws:acm:us-east-1:111111111111:certificate/${requests.length + 1}`;
    requests.push({ names, at });
    // Issued at once, valid for 395 days, and (like an imported certificate) never renewed by ACM itself.
    acm.set(arn, {
      arn,
      names,
      status: 'ISSUED',
      type: 'AMAZON_ISSUED',
      notAfter: new Date(at + 395 * DAY).toISOString(),
      renewalEligibility: 'INELIGIBLE',
      inUseBy: [],
      validation: names.map((domain) => ({ domain, name: `_x.${domain}.`, value: '_y.acm-validations.aws.', status: 'SUCCESS' })),
    });
    return Promise.resolve({ arn });
  },
  getValidationRecords: ({ arn }: { arn: string }) => Promise.resolve(acm.get(arn)!.validation),
  upsertZoneRecords: () => Promise.resolve(),
  waitForCertificateIssued: () => Promise.resolve(),
  deleteCertificate: ({ arn }: { arn: string }) => {
    deleted.push(arn);
    return Promise.resolve();
  },
  listListenerCertificates: () => Promise.resolve({ attached: [...attached] }),
  attachListenerCertificates: ({ arns }: { arns: string[] }) => {
    arns.forEach((a) => attached.add(a));
    return Promise.resolve();
  },
  detachListenerCertificates: ({ arns }: { arns: string[] }) => {
    arns.forEach((a) => attached.delete(a));
    return Promise.resolve();
  },
};

describeWithTestServer('timers that fire after days, on the time-skipping test server', () => {
  let env: TestWorkflowEnvironment;
  let server: TimeSkippingWorkers | undefined;
  let healthy: WebhookReceiver;
  let flaky: WebhookReceiver;

  beforeAll(async () => {
    healthy = await WebhookReceiver.start();
    flaky = await WebhookReceiver.start({ failFirst: 1 });
    const example = join(__dirname, '..', '..', 'config', 'fleet.example.yaml');
    const config = parseFleetConfig(readFileSync(example, 'utf8'), example);
    config.notifications = {
      channels: [
        { name: 'chat', webhook: { url: healthy.url } },
        { name: 'pager', webhook: { url: flaky.url } },
      ],
      subscriptions: [{ events: ['release-ended'], environments: ['prod'] }],
    };
    const notifications = createNotificationActivities({ config: () => Promise.resolve(config), webhookTimeoutMs: 2_000 });
    // The workflows and the activities that stay on their queue (the lock's); AWS activities run on the AWS workers' two queues.
    server = await startTimeSkippingWorkers({
      workflows: { workflowsPath: require.resolve('./support/time-skipping-workflows') },
      queues: [
        { taskQueue: QUEUE, activities },
        { taskQueue: TASK_QUEUES.aws, activities },
        { taskQueue: TASK_QUEUES.awsWait, activities },
        { taskQueue: NOTIFY_QUEUE, activities: notifications },
      ],
    });
    env = server.env;
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
    await healthy?.stop();
    await flaky?.stop();
  });

  // The jar's own main listens on every interface; .tools/bin/temporal-test-server runs our launcher instead
  // (scripts/temporal-test-server/LoopbackTestServer.java), and this keeps it that way.
  (existsSync('/proc/net/tcp') ? it : it.skip)('the test server listens on 127.0.0.1 only', () => {
    const port = Number(env.address.split(':').pop());
    expect(listeningAddresses(port)).toEqual(['127.0.0.1']);
  });

  const release = (onTimeout: 'abort' | 'continue'): ReleaseWaveInput => ({
    releaseId: `gate-${onTimeout}`,
    version: '2.0.0',
    plan: 'gated',
    environments: ['prod'],
    waves: [
      { name: 'canary', tenants: ['acme'], maxInFlight: 1, failureThreshold: { count: 0 }, bakeMs: 0, approval: { timeoutMs: 3 * DAY, onTimeout, notifyAfterMs: DAY } },
      { name: 'rest', tenants: ['globex', 'hooli'], maxInFlight: 2, failureThreshold: { count: 0 }, bakeMs: 0 },
    ],
    options: { verifyWindowMs: 0, restoreDatabaseOnRollback: false, rollbackOnAbort: false, busyRetry: { attempts: 1, delayMs: 0 } },
    requestedBy: 'jest',
  });

  it('an approval gate nobody answers aborts the release after its timeout (onTimeout: abort)', async () => {
    const started = Date.now();
    const before = await env.currentTimeMs();
    const error = await env.client.workflow
      .execute('releaseWave', { taskQueue: QUEUE, workflowId: 'release/gate-abort', args: [release('abort')] })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const summary = ((error as WorkflowFailedError).cause as ApplicationFailure).details?.[0] as ReleaseSummary;
    expect(summary.status).toBe('aborted');
    expect(JSON.stringify(summary)).toContain('no approval for wave \\"rest\\" within 259200000 ms');
    // acme succeeded (counted, not listed); the other two never started.
    expect(summary.counts).toMatchObject({ succeeded: 1, skipped: 2 });
    expect(summary.tenants).toEqual([]);
    expect(summary.notStarted?.count).toBe(2);
    // Three days passed for the workflow, seconds for us.
    expect((await env.currentTimeMs()) - before).toBeGreaterThanOrEqual(3 * DAY);
    expect(Date.now() - started).toBeLessThan(30_000);
    // The gate told once when it opened and reminded once, a day later, on its durable timer; then the end.
    expect(notifiedBy('release/gate-abort')).toEqual([
      ['approval-awaited', 'release/gate-abort/approval-awaited/1'],
      ['approval-overdue', 'release/gate-abort/approval-overdue/1'],
      ['release-ended', 'release/gate-abort/release-ended/end'],
    ]);
    const [opened, reminded] = notified.filter((n) => n.workflowId === 'release/gate-abort');
    expect(reminded!.at - opened!.at).toBeGreaterThanOrEqual(DAY);
    expect(reminded!.at - opened!.at).toBeLessThan(DAY + 60_000);
  });

  it('an approval gate nobody answers lets the release go on after its timeout (onTimeout: continue)', async () => {
    const before = await env.currentTimeMs();
    const summary = (await env.client.workflow.execute('releaseWave', { taskQueue: QUEUE, workflowId: 'release/gate-continue', args: [release('continue')] })) as ReleaseSummary;
    expect(summary.status).toBe('succeeded');
    expect(summary.counts.succeeded).toBe(3);
    // The second wave started only when the gate's three days were over.
    expect((await env.currentTimeMs()) - before).toBeGreaterThanOrEqual(3 * DAY);
    expect(notifiedBy('release/gate-continue').map(([event]) => event)).toEqual(['approval-awaited', 'approval-overdue', 'release-ended']);
  });

  /** A one-hour UTC window that opens at `opensAt` (whole minutes). */
  const windowAt = (opensAt: number) => {
    const d = new Date(opensAt);
    const hhmm = (h: number) => `${String(h % 24).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
    return `${WEEKDAYS[d.getUTCDay()]} ${hhmm(d.getUTCHours())}-${hhmm(d.getUTCHours() + 1)} UTC`;
  };
  const windowRelease = (releaseId: string, windows: Record<string, string>): ReleaseWaveInput => ({
    releaseId,
    version: '2.0.0',
    plan: 'windows',
    environments: ['prod'],
    waves: [{ name: 'all', tenants: Object.keys(windows), maxInFlight: 5, failureThreshold: { count: 0 }, bakeMs: 0 }],
    options: { verifyWindowMs: 0, restoreDatabaseOnRollback: false, rollbackOnAbort: false, busyRetry: { attempts: 1, delayMs: 0 } },
    requestedBy: 'jest',
    maintenance: Object.entries(windows).map(([tenant, window]) => ({ tenants: [tenant], windows: [window], freezes: [] })),
  });
  /** Polls the release's progress (real time: the test server does not skip time while a client only queries). */
  const progressWhen = async (handle: { query: (q: typeof releaseProgressQuery) => Promise<ReleaseProgress> }, ok: (p: ReleaseProgress) => boolean) => {
    for (let i = 0; i < 100; i++) {
      const progress = await handle.query(releaseProgressQuery);
      if (ok(progress)) return progress;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('the release never got there');
  };
  const tenantResult = (releaseId: string, tenantId: string) => env.client.workflow.getHandle(`release/${releaseId}/tenant/${tenantId}`).result() as Promise<ReleaseTenantResult>;

  it('a tenant waits for its maintenance window hours away, then deploys; another is told to skip its wait, with a reason', async () => {
    const before = await env.currentTimeMs();
    const fiveHours = Math.ceil((before + 5 * 3_600_000) / 60_000) * 60_000;
    const nextWeek = Math.ceil((before + 3 * DAY) / 60_000) * 60_000;
    const handle = await env.client.workflow.start('releaseWave', {
      taskQueue: QUEUE,
      workflowId: 'release/window-wait',
      args: [windowRelease('window-wait', { acme: windowAt(fiveHours), globex: windowAt(nextWeek) })],
    });
    const waiting = await progressWhen(handle, (p) => (p.waitingForWindow ?? []).length === 2);
    expect(waiting.waitingForWindow).toEqual([
      { tenantId: 'acme', until: new Date(fiveHours).toISOString(), waitingFor: `window ${windowAt(fiveHours)}` },
      { tenantId: 'globex', until: new Date(nextWeek).toISOString(), waitingFor: `window ${windowAt(nextWeek)}` },
    ]);
    expect(waiting.tenants.acme).toMatchObject({ status: 'running', reason: `waiting for window until ${new Date(fiveHours).toISOString()}: window ${windowAt(fiveHours)}` });

    const skipped = await handle.executeUpdate(skipWindowUpdate, { args: [{ by: 'ops', tenant: 'globex', reason: 'customer agreed to an early deploy' }] });
    expect(skipped).toEqual({ tenant: 'globex', wasWaitingUntil: new Date(nextWeek).toISOString() });
    // Once it no longer waits, and for a tenant the release does not have, a skip is refused with the reason.
    const refusal = (tenant: string) =>
      handle.executeUpdate(skipWindowUpdate, { args: [{ by: 'ops', tenant, reason: 'again' }] }).then(
        () => 'accepted',
        (e: Error) => (e.cause as Error).message,
      );
    // Deploying by now, or done already.
    expect(await refusal('globex')).toMatch(/^tenant globex is not waiting for a maintenance window in release window-wait: its status is (running|succeeded)$/);
    expect(await refusal('hooli')).toBe('release window-wait has no tenant "hooli"');
    expect((await tenantResult('window-wait', 'globex')).window).toEqual({
      until: new Date(nextWeek).toISOString(),
      waitingFor: `window ${windowAt(nextWeek)}`,
      skipped: { by: 'ops', reason: 'customer agreed to an early deploy' },
    });

    // Now the only wait is acme's: the test server skips ahead to its window.
    const summary = (await handle.result()) as ReleaseSummary;
    expect(summary).toMatchObject({ status: 'succeeded', counts: { succeeded: 2 } });
    // acme deployed when its window opened, hours later for the workflow, not before.
    const deployedAt = (await env.client.workflow.getHandle('release/window-wait/tenant/acme').describe()).closeTime!.getTime();
    expect(deployedAt).toBeGreaterThanOrEqual(fiveHours);
    expect(deployedAt).toBeLessThan(fiveHours + 60_000);
    expect(await tenantResult('window-wait', 'acme')).toMatchObject({ status: 'succeeded', window: { until: new Date(fiveHours).toISOString() } });
    const globex = await handle.query(releaseProgressQuery, { tenant: 'globex' });
    expect(globex.tenants.globex).toMatchObject({ status: 'succeeded', reason: 'window wait skipped by ops: customer agreed to an early deploy' });
    expect(globex.tenants.globex!.window).toBeUndefined();
  });

  it('an abort (without rollback) stops a tenant still waiting for its window: it never deploys', async () => {
    const handle = await env.client.workflow.start('releaseWave', {
      taskQueue: QUEUE,
      workflowId: 'release/window-abort',
      args: [windowRelease('window-abort', { acme: windowAt(Math.ceil(((await env.currentTimeMs()) + 2 * DAY) / 60_000) * 60_000) })],
    });
    await progressWhen(handle, (p) => (p.waitingForWindow ?? []).length === 1);
    await handle.executeUpdate(abortUpdate, { args: [{ by: 'ops', reason: 'wrong version', rollback: false }] });
    const error = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    const summary = ((error as WorkflowFailedError).cause as ApplicationFailure).details?.[0] as ReleaseSummary;
    expect(summary).toMatchObject({ status: 'aborted', counts: { skipped: 1 } });
    expect(summary.tenants).toEqual([expect.objectContaining({ tenantId: 'acme', status: 'skipped', reason: 'not deployed: release aborted by ops: wrong version' })]);
  });

  /** A release's rollback (docs/releases.md, "Rolling back a blue/green release"): a canary, then two tenants; one tenant released rolling. */
  const rollback = (releaseId: string, canary: string, bakeMs: number): ReleaseRollbackInput => ({
    releaseId,
    version: '2.0.0',
    waves: [
      { name: 'canary', tenants: [canary], maxInFlight: 1, failureThreshold: { count: 0 } },
      { name: 'rest', tenants: ['globex', 'hooli'], maxInFlight: 2, failureThreshold: { count: 0 } },
    ],
    refused: [{ tenantId: 'rolled', reason: 'released rolling' }],
    bakeMs,
    requestedBy: 'jest',
    reason: 'errors',
  });
  const outcome = (summary: RollbackSummary) => [summary.status, summary.reason, Object.fromEntries(summary.tenants.map((t) => [t.tenantId, `${t.status}${t.reason ? `: ${t.reason}` : ''}`]))];

  it("a rollback's canary over its failure threshold halts it: the rest never switch, every tenant listed with its reason", async () => {
    const summary = (await env.client.workflow.execute('releaseRollback', { taskQueue: QUEUE, workflowId: 'release/rb-halt/rollback', args: [rollback('rb-halt', 'fail-acme', 0)] })) as RollbackSummary;
    const halted = 'halted in wave canary: 1 of 1 tenants failed to switch back (allowed: 0)';
    expect(outcome(summary)).toEqual([
      'halted',
      halted,
      { rolled: 'refused: released rolling', 'fail-acme': 'failed: verification of blue failed', globex: `not-started: ${halted}`, hooli: `not-started: ${halted}` },
    ]);
  });

  it("a rollback waits its bake between waves; stopped during it, the next wave never starts", async () => {
    const handle = await env.client.workflow.start('releaseRollback', { taskQueue: QUEUE, workflowId: 'release/rb-stop/rollback', args: [rollback('rb-stop', 'acme', DAY / 2)] });
    // Time stands still until the result is awaited: the canary is back, the bake has not ended.
    for (let i = 0; ; i++) {
      const progress = await handle.query(rollbackProgressQuery);
      if (progress.counts['rolled-back'] === 1) break;
      if (i > 100) throw new Error(`the canary never switched back: ${JSON.stringify(progress)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await handle.executeUpdate(stopRollbackUpdate, { args: [{ by: 'ops', reason: 'blue is no better' }] })).toEqual({ notStarted: 2 });
    const stopped = 'stopped by ops: blue is no better';
    expect(outcome((await handle.result()) as RollbackSummary)).toEqual(['stopped', stopped, { rolled: 'refused: released rolling', acme: 'rolled-back', globex: `not-started: ${stopped}`, hooli: `not-started: ${stopped}` }]);
  });

  it('a rollback with a bake switches the next wave once the bake is over', async () => {
    const before = await env.currentTimeMs();
    const summary = (await env.client.workflow.execute('releaseRollback', { taskQueue: QUEUE, workflowId: 'release/rb-bake/rollback', args: [rollback('rb-bake', 'acme', DAY / 2)] })) as RollbackSummary;
    expect(outcome(summary)).toEqual(['completed-with-failures', undefined, { rolled: 'refused: released rolling', acme: 'rolled-back', globex: 'rolled-back', hooli: 'rolled-back' }]);
    const rest = await env.client.workflow.getHandle('release/rb-bake/rollback/tenant/globex').describe();
    expect(rest.startTime.getTime() - before).toBeGreaterThanOrEqual(DAY / 2);
  });

  it('a lock whose holder died is freed at the next holder check and granted to the next in line', async () => {
    const dead: LockHolder = { workflowId: 'release/crashed/tenant/acme', runId: 'run-1', operation: 'release crashed', since: new Date(0).toISOString() };
    alive.add('tenant/acme/provision');
    const lock = await env.client.workflow.start('tenantLock', {
      taskQueue: QUEUE,
      workflowId: 'tenant/acme/lock',
      args: [{ lockWorkflowId: 'tenant/acme/lock', holder: dead, queue: [{ requesterWorkflowId: 'tenant/acme/provision', requesterRunId: 'run-2', operation: 'provision', wait: true }] }],
    });
    try {
      expect((await lock.query(lockStateQuery)).holder?.workflowId).toBe(dead.workflowId);
      // Past the minute after which the lock checks its holder, and well before its next check: a sleep
      // ending with a check (2 minutes) races it, and a check still running when the test terminates
      // the lock holds the test server's time skipping for good (its workflow task never completes),
      // so every later test here waits in real time.
      await env.sleep('90 seconds');
      const state = await lock.query(lockStateQuery);
      expect(state.holder).toMatchObject({ workflowId: 'tenant/acme/provision', runId: 'run-2', operation: 'provision' });
      expect(state.waiting).toEqual([]);
      expect(answers).toEqual([{ requester: 'tenant/acme/provision', answer: { kind: 'granted', lockWorkflowId: 'tenant/acme/lock' } }]);
    } finally {
      await lock.terminate('test done');
    }
  });

  it('a certificate ACM does not renew is reissued when its renewal falls due, and the old one retired', async () => {
    const aws = { accountId: '111111111111', roleArn: 'arn:aws:iam::111111111111:role/fleet-access', externalId: 'ext-1', region: 'us-east-1' };
    const input: CertificatesInput = {
      group: 'alb-a',
      loadBalancer: { listenerArn: 'arn:aws:elasticloadbalancing:us-east-1:111111111111:listener/app/alb-a/1/2', aws },
      // Checks only when something is due, so the renewal alone wakes the workflow.
      policy: { renewBefore: '30d', checkInterval: '400d', gracePeriod: '5m', debounce: '1s' },
      tenants: { acme: { hostnames: ['acme.tenants.test'], environment: 'prod', dns: { aws, hostedZoneId: 'Z1' } } },
    };
    const handle = await env.client.workflow.start('certificates', { taskQueue: QUEUE, workflowId: 'certs/alb-a', args: [input] });
    try {
      await env.sleep('1 minute');
      expect(requests.map((r) => r.names)).toEqual([['acme.tenants.test']]);
      const first = (await handle.query(certificatesStatusQuery)).certificates[0]!;
      expect(first).toMatchObject({ status: 'ISSUED', attached: true });

      // 365 days later (395 valid minus 30 before): due. A day before it, nothing happens.
      await env.sleep(364 * DAY);
      expect(requests).toHaveLength(1);
      await env.sleep(2 * DAY);
      expect(requests).toHaveLength(2);
      expect(requests[1]!.names).toEqual(['acme.tenants.test']);
      expect(requests[1]!.at - requests[0]!.at).toBeGreaterThanOrEqual(365 * DAY - 60_000);
      expect(requests[1]!.at - requests[0]!.at).toBeLessThan(366 * DAY);
      // The replacement serves first; the old one is detached and deleted after the grace period.
      const status = await handle.query(certificatesStatusQuery);
      expect(deleted).toEqual([first.arn]);
      expect(status.certificates.map((c) => [c.arn, c.attached])).toEqual([[`arn:aws:acm:us-east-1:111111111111:certificate/2`, true]]);
      expect(status.health).toBe('ok');
    } finally {
      await handle.terminate('test done');
    }
  });

  it('a notification retried for a channel that failed is not sent again to the channel that took it', async () => {
    const notification: Notification = {
      event: 'release-ended',
      key: 'release/retry-test/release-ended/1',
      environments: ['prod'],
      workflowId: 'release/retry-test',
      runId: 'run-1',
      text: 'release retry-test ended: succeeded',
    };
    const result: unknown = await env.client.workflow.execute('deliverOnce', { taskQueue: QUEUE, workflowId: 'deliver-once', args: [notification, NOTIFY_QUEUE] });
    expect(result).toEqual({ delivered: ['chat', 'pager'] });
    // The pager refused the first attempt (503) and took the second; the chat took the first only.
    expect(flaky.requests(notification.key)).toHaveLength(2);
    expect(healthy.requests(notification.key)).toHaveLength(1);
  });
});
