import type { Client } from '@temporalio/client';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { connectClient, temporalSettingsFromEnv } from '../src/client/connection';
import { releaseOutcome, startRelease } from '../src/client/releases';
import { provisionTenant } from '../src/client/tenants';
import { loadFleetConfig } from '../src/shared/config/load';
import { resolveTenantSpec } from '../src/shared/config/resolve';
import { workflowIds } from '../src/shared/ids';
import { createFleetWorkers } from '../src/workers/worker';
import { startSandbox, type TemporalFlavor } from '../test/sandbox';
import { startProber } from '../test/sandbox/data-plane/prober';
import { BENCH_STATE_DIR } from './context';

export type Strategy = 'rolling' | 'blueGreen';

/** From the moment a tenant's release decides to go back to the moment its users are all on the old version again. */
export interface SwitchBackSample {
  tenantId: string;
  decisionToOldMs: number;
  /** Requests the prober sent to the tenant during its release that failed, and all it sent. */
  failedRequests?: number;
  requests?: number;
  /** The activity whose completion ended it (rolling: the old version's rollout; blue/green: the weights back on blue). */
  endedBy: string;
}

export interface SwitchBackBench {
  /** Each sample is one release of one tenant whose new version fails its verification (`-failing`: 500s behind a passing health check). */
  strategies: Partial<Record<Strategy, { samples: SwitchBackSample[]; medianMs: number; maxMs: number }>>;
  verifyWindowMs: number;
}

/** The plans the measure adds to the sandbox's fleet config: one tenant, one wave, verified by its load balancer's counts. */
const PLANS: Record<Strategy, string> = { rolling: 'switch-back-rolling', blueGreen: 'switch-back-blue-green' };
const VERIFY_WINDOW = '12s';
/** Per hostname: enough that 10 % of them on a failing colour are seen within the verify window. */
const PROBES_PER_SECOND = 20;

const toMs = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;

/** One tenant's release history, as the client reads it. */
export type HistoryEvents = NonNullable<Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>['events']>;

/** One tenant's switch back in one release, from its history (switchBackIn). */
export async function switchBackOf(client: Client, releaseId: string, tenantId: string, strategy: Strategy): Promise<SwitchBackSample> {
  const events = (await client.workflow.getHandle(workflowIds.releaseTenant(releaseId, tenantId)).fetchHistory()).events ?? [];
  const sample = switchBackIn(events, strategy);
  if (!sample) throw new Error(`release ${releaseId} of ${tenantId}: no ${strategy} switch back after a failed verification in its history (${events.length} events)`);
  return { tenantId, ...sample };
}

/**
 * The decision is the completion of the last verification before the way back starts (the one
 * that found the 500s); the end is the completion of the first activity after it that puts every
 * user on the old version (endsSwitchBack). Timestamps are the server's.
 */
export function switchBackIn(events: HistoryEvents, strategy: Strategy): Omit<SwitchBackSample, 'tenantId'> | undefined {
  const typeOf = new Map<number, string>();
  let decidedAt: number | undefined;
  for (const event of events) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) typeOf.set(Number(event.eventId), scheduled.activityType?.name ?? '');
    const done = event.activityTaskCompletedEventAttributes;
    if (!done) continue;
    const type = typeOf.get(Number(done.scheduledEventId)) ?? '';
    const at = toMs(event.eventTime);
    if (/verify/i.test(type)) decidedAt = at;
    else if (decidedAt !== undefined && endsSwitchBack(strategy, type)) return { decisionToOldMs: at - decidedAt, endedBy: type };
  }
  return undefined;
}

/** Rolling: the old version's rollout is ready. Blue/green: the listener rule forwards to blue again (weights are set before green is scaled down). */
function endsSwitchBack(strategy: Strategy, activityType: string): boolean {
  return strategy === 'rolling' ? /WaitForRollout$/.test(activityType) : activityType === 'setTrafficWeights';
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/**
 * Against the real sandbox (Temporal, moto, the load balancer emulator and the ECS task
 * controller, so targets really register, drain and answer): `samples` releases per strategy of
 * one ECS tenant each to a `-failing` version, which passes its health check and answers users
 * with 500s, so only the verification's read of the load balancer's counts catches it.
 */
export async function measureSwitchBack(options: {
  samples: number;
  strategies: Strategy[];
  bundlePath: string;
  temporal?: TemporalFlavor;
  log: (line: string) => void;
}): Promise<SwitchBackBench> {
  options.log('switch back: starting the sandbox (Temporal, moto, load balancer, ECS tasks)');
  const sandbox = await startSandbox({
    stateDir: join(BENCH_STATE_DIR, 'switch-back'),
    fresh: true,
    kubernetes: false,
    ecsTasks: true,
    blueGreen: true,
    temporal: options.temporal,
    log: (line) => options.log(`  ${line}`),
  });
  for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION'] as const) process.env[key] = sandbox.env[key];
  addPlans(sandbox.fleetConfigPath);
  const settings = temporalSettingsFromEnv(sandbox.env);
  const client = await connectClient(settings);
  const workers = await createFleetWorkers({
    temporal: settings,
    roles: ['workflows', 'aws'],
    awsEndpoint: sandbox.env.AWS_ENDPOINT_URL,
    workflowBundlePath: options.bundlePath,
    fleetConfigPath: sandbox.fleetConfigPath,
  });
  const running = workers.run();
  try {
    const config = await loadFleetConfig(sandbox.fleetConfigPath);
    const tenants = config.tenants.filter((t) => t.runtime === 'ecs' && t.loadBalancer !== undefined).map((t) => resolveTenantSpec(config, t.id));
    if (tenants.length === 0) throw new Error('the sandbox fleet config has no ECS tenant with a load balancer');
    await Promise.all(tenants.map((tenant) => provisionTenant(client, { tenant, requestedBy: 'bench' })));
    // Users' requests: the verification can only see a -failing version through the 500s they get.
    const prober = await startProber({
      stateDir: sandbox.stateDir,
      targets: tenants.flatMap((t) => t.hostnames.map((hostname) => ({ hostname, tenantId: t.id }))),
      ratePerSecond: PROBES_PER_SECOND,
      phase: 'provisioned',
    });
    const result: SwitchBackBench = { strategies: {}, verifyWindowMs: 12_000 };
    for (const strategy of options.strategies) {
      const samples: SwitchBackSample[] = [];
      for (let i = 0; i < options.samples; i++) {
        const tenant = tenants[i % tenants.length]!;
        const releaseId = `bench-switch-${strategy.toLowerCase()}-${Date.now().toString(36)}`;
        const phase = `${strategy} ${i}`;
        prober.phase(phase);
        const { handle } = await startRelease(client, config, { releaseId, version: `9.${i}.0-failing`, plan: PLANS[strategy], tenants: [tenant.id], requestedBy: 'bench' });
        const summary = await releaseOutcome(handle);
        const outcome = summary.tenants.find((t) => t.tenantId === tenant.id);
        if (outcome?.status !== 'rolled-back') throw new Error(`${strategy} release ${releaseId} of ${tenant.id}: expected rolled-back, got ${outcome?.status}: ${outcome?.reason ?? ''}`);
        const counted = prober.snapshot().phases.find((p) => p.name === phase)?.tenants[tenant.id];
        const sample = { ...(await switchBackOf(client, releaseId, tenant.id, strategy)), failedRequests: counted?.failed, requests: counted?.requests };
        options.log(`  ${strategy} ${tenant.id}: ${(sample.decisionToOldMs / 1000).toFixed(2)} s from the decision to every user on the old version (${sample.endedBy}); ${sample.failedRequests ?? '?'} of ${sample.requests ?? '?'} requests failed during the release`);
        samples.push(sample);
      }
      prober.phase('between');
      const times = samples.map((s) => s.decisionToOldMs);
      result.strategies[strategy] = { samples, medianMs: median(times), maxMs: Math.max(...times) };
    }
    await prober.stop();
    return result;
  } finally {
    workers.shutdown();
    await running.catch(() => undefined);
    await client.connection.close();
    await sandbox.stop();
  }
}

/** Adds the measure's plans to the sandbox's fleet config (the worker reads the file, as in production). */
function addPlans(fleetConfigPath: string): void {
  const fleet = parse(readFileSync(fleetConfigPath, 'utf8')) as { releasePlans: Record<string, unknown>[] };
  const common = { verifyWindow: VERIFY_WINDOW, verification: 'metrics', waves: [{ name: 'only', tenants: 'rest', maxInFlight: 1 }] };
  fleet.releasePlans.push(
    { name: PLANS.rolling, ...common },
    { name: PLANS.blueGreen, ...common, strategy: { type: 'blueGreen', steps: [{ weight: 10, bake: '1s' }, { weight: 100, bake: '1s' }], blueRetention: '1m' } },
  );
  writeFileSync(fleetConfigPath, stringify(fleet));
}
