import type { Client } from '@temporalio/client';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { releaseOutcome, startRelease } from '../src/client/releases';
import { connectClient, temporalSettingsFromEnv } from '../src/client/connection';
import { provisionTenant } from '../src/client/tenants';
import { loadFleetConfig } from '../src/shared/config/load';
import { resolveTenantSpec } from '../src/shared/config/resolve';
import { workflowIds } from '../src/shared/ids';
import { TASK_QUEUES } from '../src/shared/task-queues';
import type { TenantSpec } from '../src/shared/tenant-spec';
import { createFleetWorkers } from '../src/workers/worker';
import { startSandbox, type TemporalFlavor } from '../test/sandbox';
import { BENCH_STATE_DIR } from './context';

export interface ProvisioningTiming {
  totalMs: number;
  /** Inside activities on the AWS task queue (started → completed), i.e. inside AWS calls. */
  awsMs: number;
  overheadMs: number;
}

export interface ProvisioningBench {
  /** One tenant at a time (median of `samples`). */
  single: ProvisioningTiming & { samples: number };
  parallel: { tenants: number; wallMs: number; tenantsPerSecond: number; meanOverheadMs: number; meanAwsMs: number; meanTotalMs: number };
  /**
   * AWS API calls per tenant, from the emulator's call log (one line per call the worker made):
   * provisioning the N parallel tenants, and then a release (plan `quick`) of the fleet's ECS
   * tenants. Kubernetes calls are not counted: this sandbox runs no cluster.
   */
  awsCalls?: { provisionPerTenant: number; release: { tenants: number; perTenant: number; byAction: Record<string, number> } };
}

/** The worker's AWS calls so far, from the emulator's call log (CloudFormation's own calls, `via`, are not the worker's). */
function callLog(path: string): { service?: string; action?: string; principalArn?: string }[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { service?: string; action?: string; principalArn?: string; via?: string })
    .filter((call) => !call.via);
}

const toMs = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;

/** From the provisioning workflow's history: its whole time, and the part spent inside AWS activities. */
export async function provisioningTiming(client: Client, tenantId: string): Promise<ProvisioningTiming> {
  const events = (await client.workflow.getHandle(workflowIds.provision(tenantId)).fetchHistory()).events ?? [];
  const scheduled = new Map<number, string>();
  const started = new Map<number, number>();
  let awsMs = 0;
  for (const event of events) {
    const id = Number(event.eventId);
    const at = toMs(event.eventTime);
    if (event.activityTaskScheduledEventAttributes) scheduled.set(id, event.activityTaskScheduledEventAttributes.taskQueue?.name ?? '');
    if (event.activityTaskStartedEventAttributes) started.set(Number(event.activityTaskStartedEventAttributes.scheduledEventId), at);
    const done = event.activityTaskCompletedEventAttributes ?? event.activityTaskFailedEventAttributes ?? event.activityTaskTimedOutEventAttributes;
    if (done && [TASK_QUEUES.aws, TASK_QUEUES.awsWait].includes(scheduled.get(Number(done.scheduledEventId)) as never)) awsMs += at - (started.get(Number(done.scheduledEventId)) ?? at);
  }
  const totalMs = toMs(events.at(-1)?.eventTime) - toMs(events[0]?.eventTime);
  return { totalMs, awsMs, overheadMs: totalMs - awsMs };
}

/** A copy of a sandbox ECS tenant under another ID (its own stack, service, parameters and DNS names). */
function cloneTenant(template: TenantSpec, id: string): TenantSpec {
  const domain = template.hostnames[0]!.split('.').slice(1).join('.');
  return { ...template, id, hostnames: [`${id}.${domain}`] };
}

/**
 * Provisioning against the real sandbox (Temporal + moto, no Kubernetes) with the production
 * worker: orchestration overhead of one tenant (total minus time inside AWS calls), then N
 * tenants in parallel.
 */
export async function measureProvisioning(options: { single: number; parallel: number; bundlePath: string; temporal?: TemporalFlavor; log: (line: string) => void }): Promise<ProvisioningBench> {
  options.log('provisioning: starting the sandbox (Temporal, moto)');
  const sandbox = await startSandbox({
    stateDir: join(BENCH_STATE_DIR, 'provisioning'),
    fresh: true,
    kubernetes: false,
    temporal: options.temporal,
    log: (line) => options.log(`  ${line}`),
  });
  // The AWS SDK in this process (the worker's activities) reads the emulator's credentials from here.
  for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION'] as const) process.env[key] = sandbox.env[key];
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
    const template = resolveTenantSpec(config, config.tenants.find((t) => t.runtime === 'ecs')!.id);
    const provision = (tenant: TenantSpec) => provisionTenant(client, { tenant, requestedBy: 'bench' });

    const singles: ProvisioningTiming[] = [];
    for (let i = 0; i < options.single; i++) {
      const tenant = cloneTenant(template, `ps${i}`);
      await provision(tenant);
      singles.push(await provisioningTiming(client, tenant.id));
    }
    singles.sort((a, b) => a.totalMs - b.totalMs);
    const median = singles[Math.floor(singles.length / 2)]!;
    options.log(`  one tenant: ${(median.totalMs / 1000).toFixed(2)} s, ${(median.overheadMs / 1000).toFixed(2)} s outside AWS calls`);

    const tenants = Array.from({ length: options.parallel }, (_, i) => cloneTenant(template, `pp${i}`));
    const callsBefore = callLog(sandbox.aws.callLogPath).length;
    const started = performance.now();
    await Promise.all(tenants.map(provision));
    const wallMs = performance.now() - started;
    const provisionPerTenant = (callLog(sandbox.aws.callLogPath).length - callsBefore) / options.parallel;

    // A release of the fleet's own ECS tenants (the specs a release resolves are the config's).
    const fleet = config.tenants.filter((t) => t.runtime === 'ecs').map((t) => resolveTenantSpec(config, t.id));
    await Promise.all(fleet.map(provision));
    const releaseCallsFrom = callLog(sandbox.aws.callLogPath).length;
    const { handle } = await startRelease(client, config, { releaseId: `bench-calls-${Date.now().toString(36)}`, version: '9.9.9', plan: 'quick', tenants: fleet.map((t) => t.id), requestedBy: 'bench' });
    const summary = await releaseOutcome(handle);
    if (summary.status !== 'succeeded') throw new Error(`bench release of the sandbox's ECS tenants ended ${summary.status}: ${summary.reason ?? ''}`);
    const releaseCalls = callLog(sandbox.aws.callLogPath).slice(releaseCallsFrom);
    const byAction: Record<string, number> = {};
    // Keyed by the caller's role too, so that anything but the worker's fleet access role shows.
    for (const call of releaseCalls) {
      const key = `${call.principalArn?.split('/')[1] ?? call.principalArn} ${call.service}:${call.action}`;
      byAction[key] = (byAction[key] ?? 0) + 1 / fleet.length;
    }
    options.log(`  AWS calls per tenant: provisioning ${provisionPerTenant.toFixed(1)}, release ${(releaseCalls.length / fleet.length).toFixed(1)}`);
    const timings = await Promise.all(tenants.map((t) => provisioningTiming(client, t.id)));
    const mean = (pick: (t: ProvisioningTiming) => number) => timings.reduce((n, t) => n + pick(t), 0) / timings.length;
    return {
      single: { ...median, samples: singles.length },
      parallel: { tenants: options.parallel, wallMs, tenantsPerSecond: options.parallel / (wallMs / 1000), meanOverheadMs: mean((t) => t.overheadMs), meanAwsMs: mean((t) => t.awsMs), meanTotalMs: mean((t) => t.totalMs) },
      awsCalls: { provisionPerTenant, release: { tenants: fleet.length, perTenant: releaseCalls.length / fleet.length, byAction } },
    };
  } finally {
    workers.shutdown();
    await running.catch(() => undefined);
    await client.connection.close();
    await sandbox.stop();
  }
}
