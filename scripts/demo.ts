// `npm run demo`: the main job on the embedded sandbox, end to end, then a summary.
// `npm run demo -- --keep` leaves the sandbox and workers running until Ctrl-C.
import './quiet-aws-sdk';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { join } from 'node:path';
import { connectClient, temporalSettingsFromEnv, type TemporalSettings } from '../src/client/connection';
import { deprovisionTenant, provisionTenant } from '../src/client/tenants';
import { loadFleetConfig } from '../src/shared/config/load';
import { resolveTenantSpec } from '../src/shared/config/resolve';
import { workflowIds } from '../src/shared/ids';
import { SANDBOX_VALUES_FILE } from '../src/activities/kube-chart/tenant-chart';
import { sandboxAdminClients } from '../test/sandbox/admin-clients';
import { createFleetWorkers } from '../src/workers/worker';
import { demoCertificates, demoMaintenance, demoManifest, demoRelease } from './demo-release';
import { startSandbox, type Sandbox } from '../test/sandbox';
import { abortable, interruptOnSignals, untilInterrupted } from '../test/sandbox/interrupt';
import { logWorkersToFile } from '../test/sandbox/worker-log';

// Before anything starts: a Ctrl-C at any point stops what has started (test/sandbox/interrupt.ts).
const interrupt = interruptOnSignals({ label: 'demo' });
const keep = process.argv.includes('--keep');
const log = (line: string) => console.log(`[demo] ${line}`);
/** Set once the summary is printed: a Ctrl-C after it (--keep) is the expected end, not an interruption. */
let finished = false;

async function main(): Promise<void> {
  // TENANT_FLEET_SANDBOX_DIR: another state folder than .sandbox/ (the history-secrets test runs the demo in its own).
  const sandbox = await startSandbox({ stateDir: process.env.TENANT_FLEET_SANDBOX_DIR, fresh: true, ecsTasks: true, log: (line) => log(`sandbox: ${line}`), signal: interrupt.signal });
  try {
    const workerLog = logWorkersToFile(join(sandbox.stateDir, 'logs', 'workers.log'));
    log(`the workers log to ${workerLog}`);
    Object.assign(process.env, sandbox.env);
    const settings = temporalSettingsFromEnv(sandbox.env);
    const workers = await abortable(
      createFleetWorkers({
        temporal: settings,
        // The Kubernetes role serves the sandbox cluster's queue, so the fleet's Kubernetes tenants provision too.
        roles: ['workflows', 'aws', ...(sandbox.kube ? (['kubernetes'] as const) : [])],
        awsEndpoint: sandbox.aws.endpoint,
        fleetConfigPath: sandbox.fleetConfigPath,
        kubernetes: { valuesFile: SANDBOX_VALUES_FILE },
      }),
      interrupt.signal,
    );
    const running = workers.run();
    try {
      const client = await abortable(connectClient(settings), interrupt.signal);
      try {
        // Interrupted mid-story: its workflows are abandoned with the sandbox.
        await abortable(story(sandbox, client, settings, workerLog), interrupt.signal);
        finished = true;
        if (keep) {
          log('--keep: sandbox and workers keep running; Ctrl-C stops them');
          await untilInterrupted(interrupt.signal);
          log('stopping the workers and the sandbox');
        }
      } finally {
        await client.connection.close();
      }
    } finally {
      workers.shutdown();
      // An interrupted story's activities may wait on the sandbox for minutes: stop it instead of draining them.
      if (finished) await running;
      else running.catch(() => undefined);
    }
  } finally {
    await sandbox.stop();
  }
}

async function story(sandbox: Sandbox, client: Client, settings: TemporalSettings, workerLog: string): Promise<void> {
  const config = await loadFleetConfig(sandbox.fleetConfigPath);
  const rows: string[][] = [];
  const uiLink = (id: string) => `${sandbox.temporal.uiUrl}/namespaces/${settings.namespace}/workflows/${encodeURIComponent(id)}`;

  const withServices = config.tenants.filter((t) => resolveTenantSpec(config, t.id).services);
  log(`provisioning ${config.tenants.length} tenants in parallel${withServices.length ? ` (${withServices.map((t) => t.id).join(', ')} with several services: docs/services.md)` : ''}`);
  await Promise.all(
    config.tenants.map(async (t) => {
      const tenant = resolveTenantSpec(config, t.id);
      const result = await provisionTenant(client, { tenant, requestedBy: 'demo' });
      // A tenant with services (docs/services.md) shows them: each is its own ECS service or Deployment.
      const services = tenant.services ? `; services ${tenant.services.map((s) => (s.traffic ? `${s.name} (traffic)` : s.name)).join(', ')}` : '';
      rows.push([t.id, t.runtime, 'provision', `stack ${result.stackOperation}, version ${result.version}${services}`, uiLink(workflowIds.provision(t.id))]);
    }),
  );

  log('provisioning acme again: nothing changes');
  const acme = resolveTenantSpec(config, 'acme');
  const again = await provisionTenant(client, { tenant: acme, requestedBy: 'demo' });
  rows.push(['acme', acme.runtime.kind, 're-provision', `stack ${again.stackOperation}`, uiLink(workflowIds.provision('acme'))]);

  log('deprovisioning initech (prod) without confirmation: refused');
  const initech = resolveTenantSpec(config, 'initech');
  const refused = await deprovisionTenant(client, { tenant: initech, requestedBy: 'demo' }).then(
    () => 'NOT refused',
    (error: unknown) => {
      if (error instanceof WorkflowFailedError) return `refused: ${error.cause?.message ?? ''}`;
      throw error;
    },
  );
  rows.push(['initech', initech.runtime.kind, 'deprovision', refused.slice(0, 70), uiLink(workflowIds.deprovision('initech'))]);
  if (refused === 'NOT refused') throw new Error('a production deprovisioning without confirmation was not refused');

  // The demo forces an alarm as the sandbox administrator would: the workers' roles may not.
  const chapter = { client, config, aws: sandboxAdminClients(sandbox.env), stateDir: sandbox.stateDir, log, uiLink };
  log('release 1.1.0 across the fleet: canary, approval, growing waves; one tenant fails its verification');
  rows.push(...(await demoRelease(chapter)));
  log('release 1.2.0 to hooli (ECS) and tyrell (Kubernetes) in maintenance mode: a maintenance page while each is snapshotted and deployed');
  rows.push(...(await demoMaintenance(chapter)));
  log('release 1.3.0 of oscorp from a manifest: its web, worker and api services each get their own image, the worker a new variable');
  rows.push(...(await demoManifest(chapter)));
  rows.push(...(await demoCertificates(chapter)));

  log('deprovisioning globex: final snapshot, then workload, DNS, stack');
  const globex = resolveTenantSpec(config, 'globex');
  const gone = await deprovisionTenant(client, { tenant: globex, requestedBy: 'demo' });
  rows.push(['globex', globex.runtime.kind, 'deprovision', `snapshot ${gone.finalSnapshot}, stack deleted`, uiLink(workflowIds.deprovision('globex'))]);

  console.log(`\nSummary\n${table(['tenant', 'runtime', 'operation', 'outcome', 'Temporal UI'], rows)}`);
  console.log(`\nTemporal Web UI: ${sandbox.temporal.uiUrl}\nEnvironment:     . ${sandbox.envFile}\nWorker log:      ${workerLog}\n`);
  if (sandbox.kube) console.log(`Kubernetes:      .tools/bin/kubectl --kubeconfig ${sandbox.kube.kubeconfigPath} get deploy -A\n`);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

// Interrupted before the summary: exit 130 (SIGTERM 143) once everything is stopped.
main().then(
  () => process.exit(0),
  (error: unknown) => {
    const code = interrupt.exitCode();
    if (code !== undefined && !finished) {
      console.error(`[demo] ${(error as Error)?.message ?? String(error)}; stopped`);
      process.exit(code);
    }
    console.error('[demo] failed:', error);
    process.exit(1);
  },
);
