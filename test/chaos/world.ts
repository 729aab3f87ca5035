import type { Client } from '@temporalio/client';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { AwsClients } from '../../src/activities/aws/clients';
import { SANDBOX_VALUES_FILE } from '../../src/activities/kube-chart/tenant-chart';
import { connectClient, temporalSettingsFromEnv } from '../../src/client/connection';
import { loadFleetConfig } from '../../src/shared/config/load';
import { resolveTenantSpec } from '../../src/shared/config/resolve';
import type { FleetConfig } from '../../src/shared/config/schema';
import type { TenantSpec } from '../../src/shared/tenant-spec';
import { writeWorkflowBundle } from '../../src/workers/bundle';
import { startWorkerProcess, type EntryPointProcess } from '../integration/node-process';
import { startSandbox, type Sandbox } from '../sandbox';
import { sandboxAdminClients } from '../sandbox/admin-clients';
import { FaultControlClient } from '../sandbox/fault-proxy';
import { freeLoopbackPorts } from '../sandbox/ports';
import { startTemporalServer } from '../sandbox/temporal';
import { toolsDir } from '../sandbox/tools';

/**
 * Everything a chaos scenario acts on: its own sandbox (with the fault proxy in front of AWS
 * and Kubernetes), one worker process it may SIGKILL and restart, the Temporal server it may
 * restart, and direct (never faulted) readers of AWS and Kubernetes for the invariant checks.
 */
export interface ChaosWorld {
  env: Record<string, string>;
  client: Client;
  config: FleetConfig;
  /** Straight to the AWS emulator, not through the proxy: checks read reality, unfaulted. */
  /** The sandbox administrator's clients (test/sandbox/admin-clients.ts): the invariants read state with them. */
  admin: AwsClients;
  faults: FaultControlClient;
  tenant(id: string): TenantSpec;
  kubectl(args: string[]): string;
  /** SIGKILLs the worker process (the whole process, as the kernel's OOM killer would) and starts a new one. */
  killWorker(): Promise<void>;
  /** Restarts the worker if it died on its own (it may give up while the Temporal server is down). */
  ensureWorker(): Promise<void>;
  /** Stops the Temporal dev server and starts it again on the same ports with the same SQLite file. */
  restartTemporal(downMs: number): Promise<void>;
  log(line: string): void;
  stop(): Promise<void>;
}

/** `workflowBundle`: a bundle already built (scripts/test-integration.sh makes one per run); otherwise one is built while the sandbox starts. */
export async function startChaosWorld(options: { stateDir: string; seed: number; log: (line: string) => void; signal?: AbortSignal; workflowBundle?: string }): Promise<ChaosWorld> {
  const { log } = options;
  // The sandbox first: its fresh start clears the state folder, where the bundle goes.
  const starting = startSandbox({ stateDir: options.stateDir, fresh: true, kubernetes: true, faults: { seed: options.seed }, log: (l) => log(`[sandbox] ${l}`), signal: options.signal });
  const bundling = options.workflowBundle ? Promise.resolve(options.workflowBundle) : writeWorkflowBundle(join(options.stateDir, 'workflow-bundle.js'));
  bundling.catch(() => undefined);
  const sandbox: Sandbox = await starting;
  let worker: EntryPointProcess | undefined;
  let workerCount = 0;
  let client: Client | undefined;
  let admin: AwsClients | undefined;
  try {
    const bundle = await bundling;
    const env: Record<string, string> = { ...sandbox.env, TENANT_FLEET_WORKFLOW_BUNDLE: bundle };
    const settings = temporalSettingsFromEnv(env);
    client = await connectClient(settings);
    const config = await loadFleetConfig(env.TENANT_FLEET_CONFIG!);
    // The invariants read state as the sandbox administrator, past the fault proxy.
    admin = sandboxAdminClients(env);
    const directKubeconfig = env.TENANT_FLEET_DIRECT_KUBECONFIG!;
    const logDir = join(sandbox.stateDir, 'logs');

    const startWorker = async () => {
      workerCount += 1;
      worker = await startWorkerProcess({
        name: `chaos-worker-${workerCount}`,
        sandboxEnv: env,
        logDir,
        roles: 'workflows,aws,kubernetes',
        env: { TENANT_FLEET_KUBE_VALUES: SANDBOX_VALUES_FILE },
        startTimeoutMs: 180_000,
      });
    };
    await startWorker();

    let temporal = sandbox.temporal;
    const world: ChaosWorld = {
      env,
      client,
      config,
      admin,
      faults: new FaultControlClient(env.TENANT_FLEET_FAULT_CONTROL_URL!),
      tenant: (id) => resolveTenantSpec(config, id),
      kubectl: (args) => execFileSync(join(toolsDir, 'bin', 'kubectl'), ['--kubeconfig', directKubeconfig, ...args], { encoding: 'utf8' }),
      async killWorker() {
        await worker?.kill();
        await startWorker();
      },
      async ensureWorker() {
        const exited = await worker?.exited(1).then(() => true, () => false);
        if (exited !== false) {
          log(`worker ${worker?.name ?? '(none)'} was gone; starting another`);
          await startWorker();
        }
      },
      async restartTemporal(downMs) {
        const grpc = Number(temporal.address.split(':')[1]);
        const ui = Number(new URL(temporal.uiUrl).port);
        const [http, metrics] = (await freeLoopbackPorts(2)) as [number, number];
        await temporal.stop();
        await new Promise((resolve) => setTimeout(resolve, downMs));
        temporal = await startTemporalServer({ stateDir: join(sandbox.stateDir, 'temporal'), ports: { grpc, ui, http, metrics }, codecEndpoint: sandbox.codec.uiEndpoint });
      },
      log,
      async stop() {
        await worker?.kill();
        admin?.destroy();
        await client?.connection.close();
        // The restarted Temporal server is not the one the sandbox started: stop it here.
        if (temporal !== sandbox.temporal) await temporal.stop();
        await sandbox.stop();
      },
    };
    return world;
  } catch (error) {
    await worker?.kill();
    admin?.destroy();
    await client?.connection.close().catch(() => undefined);
    await sandbox.stop();
    throw error;
  }
}
