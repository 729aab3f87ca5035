import { WorkflowNotFoundError } from '@temporalio/client';
import { certificatesStatus } from '../../src/client/certificates';
import { releaseHandle, releaseOutcome, releaseProgress, startRelease } from '../../src/client/releases';
import { provisionTenant } from '../../src/client/tenants';
import { certificatesInputFromConfig } from '../../src/shared/certificates';
import { workflowIds } from '../../src/shared/ids';
import type { CertificatesInput } from '../../src/shared/messages/certificates';
import type { ReleaseSummary } from '../../src/shared/messages/release';
import { TASK_QUEUES } from '../../src/shared/task-queues';
import { totals } from '../sandbox/fault-proxy';
import { certificatesUnique, noOrphans, provisioned, releaseKept, workflowsCompleted, workflowsFinished } from './invariants';
import type { ChaosWorld } from './world';

/** One line of the chaos table. */
export interface ScenarioResult {
  fault: string;
  runs: number;
  /** Worker kills, server restarts, or faults the proxy injected: proof the fault really happened. */
  injected: number;
  violations: string[];
}

export type Random = () => number;

export const CERT_GROUP = 'sandbox-alb';
const INITIAL_VERSION = '1.0.0';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `work` and SIGKILLs the worker `kills` times at random moments (each between
 * `minMs` and `maxMs` after the previous restart), restarting it each time; returns how many
 * kills landed before the work was done.
 */
async function underKills<T>(world: ChaosWorld, random: Random, work: Promise<T>, { kills, minMs, maxMs }: { kills: number; minMs: number; maxMs: number }): Promise<{ result: T; killed: number }> {
  let done = false;
  const settled = work.finally(() => (done = true));
  settled.catch(() => undefined);
  let killed = 0;
  for (let i = 0; i < kills && !done; i++) {
    const delay = Math.round(minMs + random() * (maxMs - minMs));
    await Promise.race([sleep(delay), settled.catch(() => undefined)]);
    if (done) break;
    world.log(`  kill ${i + 1}/${kills} at +${delay} ms`);
    await world.killWorker();
    killed += 1;
  }
  return { result: await settled, killed };
}

/** The certificates workflow with test timings (a provisioning-started run would use production ones). */
export async function startCertificates(world: ChaosWorld): Promise<void> {
  const input: CertificatesInput = {
    ...certificatesInputFromConfig(world.config, CERT_GROUP),
    tenants: {},
    policy: { gracePeriod: '2s', validationTimeout: '3m', checkInterval: '20s', debounce: '1s' },
  };
  await world.client.workflow.start('certificates', { workflowId: workflowIds.certificates(CERT_GROUP), taskQueue: TASK_QUEUES.workflows, args: [input] });
}

/** Fresh provisioning of `tenants` at once while the worker is killed at random moments. */
export async function provisioningUnderKills(world: ChaosWorld, random: Random, tenants: string[], kills: number): Promise<{ injected: number; violations: string[] }> {
  world.log(`provisioning ${tenants.join(', ')} with ${kills} worker kill(s)`);
  const work = Promise.allSettled(tenants.map((id) => provisionTenant(world.client, { tenant: world.tenant(id), initialVersion: INITIAL_VERSION, requestedBy: 'chaos' })));
  const { result, killed } = await underKills(world, random, work, { kills, minMs: 500, maxMs: 5_000 });
  const violations = result.flatMap((r, i) => (r.status === 'rejected' ? [`provisioning ${tenants[i]} failed: ${(r.reason as Error).message}`] : []));
  violations.push(...(await workflowsCompleted(world, tenants.map((id) => `WorkflowId = '${workflowIds.provision(id)}'`).join(' OR '))));
  for (const id of tenants) violations.push(...(await provisioned(world, id, INITIAL_VERSION)));
  return { injected: killed, violations };
}

/** A fresh provisioning that must fail (its image never becomes healthy), worker killed meanwhile: compensation must leave nothing. */
export async function failedProvisioningUnderKills(world: ChaosWorld, random: Random, tenantId: string, kills: number): Promise<{ injected: number; violations: string[] }> {
  world.log(`failing provisioning of ${tenantId} (-broken image) with ${kills} worker kill(s)`);
  const work = provisionTenant(world.client, { tenant: world.tenant(tenantId), initialVersion: '1.0.0-broken', requestedBy: 'chaos' }).then(
    () => 'succeeded' as const,
    () => 'failed' as const,
  );
  const { result, killed } = await underKills(world, random, work, { kills, minMs: 500, maxMs: 5_000 });
  const violations = result === 'failed' ? [] : [`provisioning ${tenantId} with a broken image succeeded`];
  violations.push(...(await workflowsFinished(world, `WorkflowId = '${workflowIds.provision(tenantId)}'`)));
  violations.push(...(await noOrphans(world, tenantId)));
  return { injected: killed, violations };
}

/** Provisioning `tenantId` makes the certificates workflow issue and attach; the worker is killed while it reconciles. */
export async function certificatesUnderKills(world: ChaosWorld, random: Random, tenantId: string, kills: number): Promise<{ injected: number; violations: string[] }> {
  world.log(`certificates for ${tenantId} with ${kills} worker kill(s) while reconciling`);
  await provisionTenant(world.client, { tenant: world.tenant(tenantId), initialVersion: INITIAL_VERSION, requestedBy: 'chaos' });
  const hostnames = world.tenant(tenantId).hostnames;
  const converged = (async () => {
    const deadline = Date.now() + 240_000;
    while (Date.now() < deadline) {
      const status = await certificatesStatus(world.client, CERT_GROUP).catch(() => undefined);
      const covered = status?.certificates.filter((c) => c.attached && c.status === 'ISSUED').flatMap((c) => c.names) ?? [];
      if (status?.health === 'ok' && hostnames.every((h) => covered.includes(h) || covered.some((n) => n.startsWith('*.') && h.endsWith(n.slice(1))))) return [];
      await sleep(1_000);
    }
    return [`certificates for ${tenantId} did not converge within 240 s`];
  })();
  const { result, killed } = await underKills(world, random, converged, { kills, minMs: 200, maxMs: 2_500 });
  const violations = [...result, ...(await provisioned(world, tenantId, INITIAL_VERSION)), ...(await certificatesUnique(world, CERT_GROUP))];
  return { injected: killed, violations };
}

async function outcomeOf(world: ChaosWorld, releaseId: string): Promise<ReleaseSummary> {
  // The result long-poll may fail while the server restarts; the release itself goes on.
  for (let attempt = 0; ; attempt++) {
    try {
      return await releaseOutcome(releaseHandle(world.client, releaseId));
    } catch (error) {
      if (attempt >= 20 || error instanceof WorkflowNotFoundError) throw error;
      await world.ensureWorker();
      await sleep(2_000);
    }
  }
}

async function releaseChecks(world: ChaosWorld, releaseId: string, tenants: string[], summary: ReleaseSummary): Promise<string[]> {
  const violations = await releaseKept(world, summary, tenants);
  violations.push(...(await workflowsFinished(world, `WorkflowId STARTS_WITH 'release/${releaseId}'`)));
  return violations;
}

type Disruption = (world: ChaosWorld, releaseId: string) => Promise<number>;

/** A release over `tenants`, with `disrupt` running alongside; it returns how many faults it caused. */
export async function releaseUnder(world: ChaosWorld, tenants: string[], version: string, disrupt: Disruption): Promise<{ injected: number; violations: string[] }> {
  const releaseId = `chaos-${version.replace(/[^a-z0-9-]/gi, '-')}`;
  world.log(`release ${releaseId} over ${tenants.join(', ')}`);
  await startRelease(world.client, world.config, { releaseId, version, plan: 'quick', tenants, requestedBy: 'chaos', options: { verifyWindowMs: 1_000 } });
  const injected = await disrupt(world, releaseId);
  const summary = await outcomeOf(world, releaseId);
  world.log(`  ${releaseId}: ${summary.status} ${JSON.stringify(summary.counts)}`);
  return { injected, violations: await releaseChecks(world, releaseId, tenants, summary) };
}

/** Disruption: the worker SIGKILLed `kills` times at random moments of the release. */
export const workerKills =
  (random: Random, kills: number): Disruption =>
  async (world, releaseId) => {
    const done = outcomeOf(world, releaseId);
    return (await underKills(world, random, done, { kills, minMs: 1_500, maxMs: 12_000 })).killed;
  };

/** Disruption: the Temporal server stopped mid-wave (canary done, next wave in flight) and started again on the same SQLite file. */
export const temporalRestart =
  (downMs: number): Disruption =>
  async (world, releaseId) => {
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      const p = await releaseProgress(world.client, releaseId).catch(() => undefined);
      if (p && (p.status !== 'running' || (p.waves[0]?.counts.succeeded === 1 && p.inFlight.length > 0))) break;
      await sleep(200);
    }
    world.log(`  restarting the Temporal server (down ${downMs} ms)`);
    await world.restartTemporal(downMs);
    await world.ensureWorker();
    return 1;
  };

/** Disruption: `rate` of all AWS and Kubernetes calls throttled until the release ends; returns the throttles injected. */
export const throttled =
  (rate: number): Disruption =>
  async (world, releaseId) => {
    await world.faults.resetCounters();
    await world.faults.setRules([
      { target: 'aws', fault: 'throttle', rate },
      { target: 'kube', fault: 'throttle', rate },
    ]);
    try {
      await outcomeOf(world, releaseId);
    } finally {
      await world.faults.clear();
    }
    const rows = await world.faults.counters();
    const aws = totals(rows, 'aws');
    const kube = totals(rows, 'kube');
    world.log(`  throttled ${aws.throttle}/${aws.requests} AWS and ${kube.throttle}/${kube.requests} Kubernetes calls`);
    return aws.throttle + kube.throttle;
  };

/** At the very end: nothing is left running except the long-lived certificates workflow (an idle lock ends at once). */
export async function everythingFinished(world: ChaosWorld): Promise<string[]> {
  const deadline = Date.now() + 120_000;
  let open: string[] = [];
  while (Date.now() < deadline) {
    open = await workflowsFinished(world, `WorkflowType != 'certificates'`);
    if (open.length === 0) return [];
    await sleep(2_000);
  }
  return open;
}
