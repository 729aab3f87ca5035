// The demo's release and certificate chapters: a wave release with a canary, a human approval
// and a forced failure that is rolled back, then the certificates provisioning asked for.
import { SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import type { Client } from '@temporalio/client';
import type { AwsClients } from '../src/activities/aws/clients';
import { approveRelease, releaseOutcome, releaseProgress, releaseTenants, startRelease } from '../src/client/releases';
import type { FleetConfig } from '../src/shared/config/schema';
import { resolveTenantSpec } from '../src/shared/config/resolve';
import { workflowIds } from '../src/shared/ids';
import { certificatesStatusQuery, type CertificatesStatus } from '../src/shared/messages/certificates';
import { releaseManifestSchema } from '../src/shared/release/manifest';
import { startProber } from '../test/sandbox/data-plane/prober';
import { probeRelease } from './demo-traffic';

export interface DemoContext {
  client: Client;
  config: FleetConfig;
  aws: AwsClients;
  /** The sandbox's state folder: the prober finds the load balancers there. */
  stateDir: string;
  log: (line: string) => void;
  uiLink: (workflowId: string) => string;
}

/** The tenant whose error alarm the demo fires during its verify window, so its deploy is rolled back. */
const FAILING_TENANT = 'stark';

export async function demoRelease({ client, config, aws, stateDir, log, uiLink }: DemoContext): Promise<string[][]> {
  const releaseId = `demo-${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}`;
  const failing = resolveTenantSpec(config, FAILING_TENANT);
  const alarm = (state: 'ALARM' | 'OK') =>
    aws.cloudWatch(failing.aws).send(new SetAlarmStateCommand({ AlarmName: `tenant-${FAILING_TENANT}-5xx`, StateValue: state, StateReason: `demo: forced ${state}` }));

  await alarm('ALARM');
  const traffic = await probeRelease(stateDir, client, config, releaseId);
  try {
    const { handle, input } = await startRelease(client, config, { releaseId, version: '1.1.0', plan: 'standard', requestedBy: 'demo' });
    log(`release ${releaseId}: ${input.waves.map((w) => `${w.name} (${w.tenants.length})`).join(' → ')}; ${FAILING_TENANT}'s error alarm is firing`);
    log(`  ${uiLink(handle.workflowId)}`);
    const gate = await waitFor(
      () => releaseProgress(client, releaseId),
      (p) => p.phase.endsWith('/awaiting-approval') || p.status !== 'running',
    );
    if (!gate.phase.endsWith('/awaiting-approval')) throw new Error(`release ${releaseId} did not reach its approval gate: ${gate.phase} ${gate.haltReason ?? ''}`);
    const canary = gate.waves[0]!;
    log(`canary ${input.waves[0]!.tenants.join(', ')}: ${canary.counts.succeeded} succeeded; approving the next wave as "demo-operator"`);
    await approveRelease(client, releaseId, { by: 'demo-operator', comment: 'canary healthy' });
    const summary = await releaseOutcome(handle);
    log(`release ${releaseId}: ${summary.status} (${summary.counts.succeeded} succeeded, ${summary.counts['rolled-back']} rolled back)`);

    const failed = summary.tenants.filter((t) => t.status !== 'succeeded');
    if (summary.status !== 'completed-with-failures' || failed.length !== 1 || failed[0]?.tenantId !== FAILING_TENANT || failed[0].status !== 'rolled-back') {
      throw new Error(`expected every tenant but ${FAILING_TENANT} to succeed and ${FAILING_TENANT} to be rolled back, got ${JSON.stringify(summary.tenants)}`);
    }
    const runtimeOf = new Map(config.tenants.map((t) => [t.id, t.runtime]));
    // The summary lists only what did not succeed; every tenant's row comes page by page from the release itself.
    const tenants = await releaseTenants(client, releaseId);
    return Object.entries(tenants).map(([tenantId, t]) => [
      tenantId,
      runtimeOf.get(tenantId) ?? '',
      `release ${input.waves[t.wave]?.name ?? ''}`,
      t.status === 'succeeded' ? `${t.previousVersion ?? '?'} → 1.1.0` : `${t.status}: ${t.reason ?? ''}`.slice(0, 70),
      uiLink(workflowIds.releaseTenant(releaseId, tenantId)),
    ]);
  } finally {
    const { table, snapshot } = await traffic.stop();
    log('traffic during the release (every tenant hostname, ECS and Kubernetes, through the load balancer, 2 requests/s each):');
    for (const line of table.split('\n')) log(`  ${line}`);
    const outcomes = snapshot.phases.flatMap((p) => Object.entries(p.total.byOutcome));
    if (outcomes.length > 0 && outcomes.every(([outcome]) => outcome === '404')) log('  (every request got the load balancer\'s default 404: no tenant has a listener rule)');
    await alarm('OK');
  }
}

/** One tenant per runtime behind the load balancer, released in maintenance mode after the fleet release. */
const MAINTENANCE_TENANTS = ['hooli', 'tyrell'];

/**
 * A release in maintenance mode (docs/releases.md, "Maintenance mode"): each tenant answers with the
 * maintenance page while it is snapshotted and deployed; the prober measures how long, per tenant.
 */
export async function demoMaintenance({ client, config, stateDir, log, uiLink }: DemoContext): Promise<string[][]> {
  const releaseId = `demo-mm-${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}`;
  const targets = config.tenants.filter((t) => MAINTENANCE_TENANTS.includes(t.id)).flatMap((t) => t.hostnames.map((hostname) => ({ hostname, tenantId: t.id })));
  const prober = await startProber({ stateDir, targets, ratePerSecond: 2, phase: 'maintenance' });
  try {
    // The sandbox's requests answer in milliseconds: a 2 s drain instead of the tenants' 30 s deregistration delay.
    const { handle, input } = await startRelease(client, config, {
      releaseId,
      version: '1.2.0',
      plan: 'quick',
      tenants: MAINTENANCE_TENANTS,
      requestedBy: 'demo',
      options: { maintenanceMode: { drainMs: 2_000 } },
    });
    log(`release ${releaseId} of 1.2.0 in maintenance mode: ${input.waves.map((w) => `${w.name} (${w.tenants.join(', ')})`).join(' → ')}`);
    const summary = await releaseOutcome(handle);
    if (summary.status !== 'succeeded') throw new Error(`maintenance-mode release ${releaseId} ${summary.status}: ${JSON.stringify(summary.tenants)}`);
    const [phase] = (await prober.stop()).phases;
    const runtimeOf = new Map(config.tenants.map((t) => [t.id, t.runtime]));
    const rows: string[][] = [];
    log('  outage per tenant (first to last failed request at 2 requests/s; every failed one was the maintenance page):');
    for (const wave of input.waves) {
      for (const id of wave.tenants) {
        const stats = phase?.tenants[id];
        const outage = stats?.outage ? `${(stats.outage.ms / 1000).toFixed(1)} s` : 'none seen';
        log(`    ${wave.name.padEnd(7)} ${id.padEnd(7)} ${(runtimeOf.get(id) ?? '').padEnd(10)} ${outage.padStart(9)}, ${stats?.failed ?? 0} of ${stats?.requests ?? 0} requests answered 503`);
        rows.push([id, runtimeOf.get(id) ?? '', `maintenance ${wave.name}`, `→ 1.2.0, down ${outage} (maintenance page)`, uiLink(workflowIds.releaseTenant(releaseId, id))]);
      }
    }
    return rows;
  } finally {
    await prober.stop();
  }
}

/** The sandbox's tenant with three services (docs/services.md), released from a manifest. */
const SERVICES_TENANT = 'oscorp';

/**
 * A release from a manifest (docs/releases.md, "Release manifests"): each of the tenant's services
 * gets its own image and the worker a changed variable, in one release; a rollback would return
 * all of it.
 */
export async function demoManifest({ client, config, log, uiLink }: DemoContext): Promise<string[][]> {
  const tenant = resolveTenantSpec(config, SERVICES_TENANT);
  const services = tenant.services ?? [];
  if (services.length < 2) throw new Error(`the sandbox's ${SERVICES_TENANT} should run several services (config/fleet.sandbox.yaml)`);
  const releaseId = `demo-manifest-${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}`;
  const worker = services.find((s) => s.name === 'worker') ?? services.find((s) => !s.traffic)!;
  const manifest = releaseManifestSchema.parse({
    version: '1.3.0',
    services: Object.fromEntries(services.map((s) => [s.name, `${s.image}:1.3.0`])),
    environment: { [worker.name]: { DEMO_RELEASE_NOTE: 'set by the 1.3.0 manifest' } },
  });
  const { handle } = await startRelease(client, config, { releaseId, version: manifest.version, plan: 'quick', tenants: [SERVICES_TENANT], requestedBy: 'demo', manifest });
  for (const [name, image] of Object.entries(manifest.services)) log(`  ${name.padEnd(8)} → ${image}`);
  log(`  ${worker.name.padEnd(8)} + DEMO_RELEASE_NOTE`);
  const summary = await releaseOutcome(handle);
  if (summary.status !== 'succeeded') throw new Error(`manifest release ${releaseId} ${summary.status}: ${JSON.stringify(summary.tenants)}`);
  log(`release ${releaseId}: ${summary.status}; every service of ${SERVICES_TENANT} rolled out its manifest image`);
  const outcome = `${services.length} services → manifest ${manifest.version} (${services.map((s) => s.name).join(', ')})`;
  return [[SERVICES_TENANT, tenant.runtime.kind, 'release manifest', outcome, uiLink(workflowIds.releaseTenant(releaseId, SERVICES_TENANT))]];
}

/** Provisioning signalled the certificate workflow of each load balancer; wait until it has covered every hostname. */
export async function demoCertificates({ client, config, log, uiLink }: DemoContext): Promise<string[][]> {
  const rows: string[][] = [];
  for (const lb of config.loadBalancers) {
    const handle = client.workflow.getHandle(workflowIds.certificates(lb.name));
    const wanted = config.tenants.filter((t) => t.loadBalancer === lb.name).flatMap((t) => t.hostnames);
    const covered = (s: CertificatesStatus) => new Set(s.certificates.filter((c) => c.attached && c.status === 'ISSUED').flatMap((c) => c.names));
    const status: CertificatesStatus = await waitFor(
      () => handle.query(certificatesStatusQuery),
      (s) => s.health === 'failing' || wanted.every((name) => covered(s).has(name)),
      300_000,
    );
    if (status.health === 'failing') throw new Error(`certificates of ${lb.name}: ${status.health}: ${status.problems.join('; ')}`);
    const names = status.certificates.reduce((n, c) => n + c.names.length, 0);
    log(`certificates of ${lb.name}: ${status.certificates.length} certificate(s) covering ${names} hostnames, attached to the listener`);
    for (const cert of status.certificates) {
      rows.push([lb.name, 'alb', 'certificate', `${cert.status}${cert.attached ? ', attached' : ''}: ${cert.names.length} names (${cert.names.slice(0, 2).join(', ')}…)`, uiLink(handle.workflowId)]);
    }
  }
  return rows;
}

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 600_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await read();
      if (done(value)) return value;
      if (Date.now() > deadline) throw new Error(`gave up waiting after ${timeoutMs} ms; last: ${JSON.stringify(value).slice(0, 300)}`);
    } catch (error) {
      // A query can fail while the workflow continues as new or has not started yet; the deadline still holds.
      if (Date.now() > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
