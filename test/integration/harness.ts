import type { Client } from '@temporalio/client';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { AwsClients } from '../../src/activities/aws/clients';
import { connectClient, temporalSettingsFromEnv } from '../../src/client/connection';
import { loadFleetConfig } from '../../src/shared/config/load';
import { resolveTenantSpec } from '../../src/shared/config/resolve';
import type { FleetConfig } from '../../src/shared/config/schema';
import type { TenantSpec } from '../../src/shared/tenant-spec';
import { SANDBOX_VALUES_FILE } from '../../src/activities/kube-chart/tenant-chart';
import { createFleetWorkers, type FleetWorkers } from '../../src/workers/worker';
import { sandboxAdminClients, type SandboxAdminClients } from '../sandbox/admin-clients';
import { toolsDir } from '../sandbox/tools';
import { logWorkersToFile } from '../sandbox/worker-log';
import { sandboxEnv, TEST_SANDBOX_DIR } from './sandbox-env';

/** Set once this process's Temporal runtime logs to the run's workers.log (it can be installed only once). */
let workerLog: string | undefined;

export interface Harness {
  env: Record<string, string>;
  client: Client;
  config: FleetConfig;
  /** The workers' identity: for running activities as the product does. */
  aws: AwsClients;
  /** The sandbox administrator: for reading or poking sandbox state around the product (aws-identities.ts). */
  admin: SandboxAdminClients;
  tenant(id: string): TenantSpec;
  /** The sandbox's kubectl against its cluster (for reading what really runs; see runtime-reads.ts). */
  kubectl(args: string[]): string;
  stop(): Promise<void>;
}

/**
 * Workers and a client against the run's shared sandbox, as a test file's beforeAll.
 * `fleetConfigPath`: a fleet config of the test's own (a variant of the sandbox's) for the workers and `config`.
 * `templatesDir`: CloudFormation templates of the test's own for the AWS workers (a copy it edits).
 */
export async function startHarness({ workers = true, fleetConfigPath, templatesDir }: { workers?: boolean; fleetConfigPath?: string; templatesDir?: string } = {}): Promise<Harness> {
  const env = sandboxEnv();
  if (fleetConfigPath) env.TENANT_FLEET_CONFIG = fleetConfigPath;
  Object.assign(process.env, env);
  const settings = temporalSettingsFromEnv(env);
  const client = await connectClient(settings);
  const config = await loadFleetConfig(env.TENANT_FLEET_CONFIG!);
  const aws = new AwsClients({ endpoint: env.AWS_ENDPOINT_URL });
  const admin = sandboxAdminClients(env);
  let running: { workers: FleetWorkers; done: Promise<void> } | undefined;
  if (workers) {
    // The workers' log (state changes, the failures tests provoke on purpose) goes to a file of the
    // run's sandbox folder, as the demo's does: in the test output it buried the assertions.
    if (!workerLog) {
      workerLog = logWorkersToFile(join(TEST_SANDBOX_DIR, 'logs', 'workers.log'));
      process.stdout.write(`[harness] the workers log to ${workerLog}\n`);
    }
    const fleetWorkers = await createFleetWorkers({
      temporal: settings,
      // The Kubernetes role only when the run started the cluster (TENANT_FLEET_TEST_KUBE=0 leaves it out).
      roles: ['workflows', 'aws', ...(env.KUBECONFIG ? (['kubernetes'] as const) : [])],
      kubernetes: { valuesFile: SANDBOX_VALUES_FILE },
      awsEndpoint: env.AWS_ENDPOINT_URL,
      workflowBundlePath: env.TENANT_FLEET_WORKFLOW_BUNDLE,
      fleetConfigPath: env.TENANT_FLEET_CONFIG,
      ...(templatesDir ? { templatesDir } : {}),
    });
    running = { workers: fleetWorkers, done: fleetWorkers.run() };
  }
  return {
    env,
    client,
    config,
    aws,
    admin,
    tenant: (id) => resolveTenantSpec(config, id),
    kubectl: (args) => execFileSync(join(toolsDir, 'bin', 'kubectl'), ['--kubeconfig', env.KUBECONFIG ?? '', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
    async stop() {
      running?.workers.shutdown();
      await running?.done;
      aws.destroy();
      admin.destroy();
      await client.connection.close();
    },
  };
}
