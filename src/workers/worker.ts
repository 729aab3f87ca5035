import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createAwsActivities } from '../activities';
import { AwsClients } from '../activities/aws/clients';
import { createFleetActivities, fleetConfigSource } from '../activities/fleet';
import { createLockActivities } from '../activities/lock';
import { createNotificationActivities } from '../activities/notify';
import { UiLinks } from '../client/cli/ui-links';
import { createTemporalActivities } from '../activities/temporal';
import { TemplateStore } from '../activities/templates';
import type { TemporalSettings } from '../client/connection';
import type { Duration } from '@temporalio/common';
import { TASK_QUEUES } from '../shared/task-queues';
import { createKubernetesWorkers, type KubernetesWorkersOptions } from './kubernetes-role';
import { stepMetricsInterceptor } from './step-metrics';
import { bundleWorkflows } from './bundle';
import { DEFAULT_WORKFLOW_MEMORY, workflowWorkerMemoryOptions, type WorkflowMemorySettings } from './workflow-memory';

export type WorkerRole = 'workflows' | 'aws' | 'kubernetes';

export interface FleetWorkersOptions {
  temporal: TemporalSettings;
  roles: WorkerRole[];
  awsEndpoint?: string;
  /** A prebuilt workflow bundle (npm run build); without it the workflows are bundled at start. */
  workflowBundlePath?: string;
  /** The fleet YAML (TENANT_FLEET_CONFIG): release workflows resolve their tenants from it. */
  fleetConfigPath?: string;
  /** How long a shutdown waits for running activities before cancelling them (default 30s; keep below the pod's termination grace). */
  shutdownGraceTime?: Duration;
  /** Role `kubernetes`: which of the fleet config's clusters to serve, and a values file for the tenant chart. */
  kubernetes?: Omit<KubernetesWorkersOptions, 'fleet'>;
  /** Role `aws`: the CloudFormation templates' directory (default infra/cloudformation of this installation). */
  templatesDir?: string;
  /** Role `workflows`: the memory the process may use and the cache it sizes (src/workers/workflow-memory.ts); default 1,024 MiB. */
  workflowMemory?: WorkflowMemorySettings;
}

export interface FleetWorkers {
  /** Resolves when every worker has stopped; rejects if one failed. */
  run(): Promise<void>;
  /** Graceful: stops polling, lets running activities and workflow tasks finish. */
  shutdown(): void;
  /** True while every worker is polling (the readiness probe). */
  isRunning(): boolean;
}

const DEFAULT_BUNDLE = resolve(__dirname, '..', '..', 'dist', 'workflow-bundle.js');

/** Builds one Worker per role on a shared connection; each role is its own task queue. */
export async function createFleetWorkers(options: FleetWorkersOptions): Promise<FleetWorkers> {
  const connection = await NativeConnection.connect(options.temporal.connection);
  const clientConnection = await Connection.connect(options.temporal.connection);
  const client = new Client({ connection: clientConnection, namespace: options.temporal.namespace, dataConverter: options.temporal.dataConverter });
  const aws = new AwsClients({ endpoint: options.awsEndpoint, sessionName: 'tenant-fleet-worker' });
  const common: Pick<WorkerOptions, 'connection' | 'namespace' | 'dataConverter' | 'shutdownGraceTime' | 'interceptors'> = {
    connection,
    namespace: options.temporal.namespace,
    dataConverter: options.temporal.dataConverter,
    shutdownGraceTime: options.shutdownGraceTime ?? '30s',
    interceptors: { activity: [stepMetricsInterceptor] },
  };
  const bundlePath = options.workflowBundlePath ?? (existsSync(DEFAULT_BUNDLE) ? DEFAULT_BUNDLE : undefined);
  // One reader of the fleet config per process, handed to every role: the workflows role's
  // activities (tenant specs, certificate groups) and the Kubernetes role (its clusters) share
  // its cache, so the file is read and validated once (again only when it changes).
  const fleetConfig = options.fleetConfigPath ? fleetConfigSource(options.fleetConfigPath) : undefined;

  /**
   * The config for a role that needs it to start. A bad file refuses the start with the file's
   * own problems, not with the activity failure the reader wraps them in for activities.
   */
  const fleetAtStart = async () => {
    if (!options.fleetConfigPath || !fleetConfig) return undefined;
    try {
      return { path: options.fleetConfigPath, config: await fleetConfig() };
    } catch (error) {
      throw (error as Error).cause ?? error;
    }
  };

  const workers: Worker[] = [];
  const closers: (() => void)[] = [];
  for (const role of options.roles) {
    if (role === 'workflows') {
      workers.push(
        await Worker.create({
          ...common,
          taskQueue: TASK_QUEUES.workflows,
          // Without a prebuilt bundle, bundled here with the same options (src/workers/bundle.ts).
          workflowBundle: bundlePath ? { codePath: bundlePath } : { code: await bundleWorkflows() },
          ...workflowWorkerMemoryOptions(options.workflowMemory ?? DEFAULT_WORKFLOW_MEMORY),
          activities: {
            ...createTemporalActivities({ client, taskQueue: TASK_QUEUES.workflows, fleetConfig }),
            ...createLockActivities({ client }),
            ...createFleetActivities({ configPath: options.fleetConfigPath, config: fleetConfig }),
            ...createNotificationActivities({
              config: fleetConfig ?? fleetConfigSource(undefined),
              ui: UiLinks.fromEnv(process.env, options.temporal.namespace),
              awsEndpoint: options.awsEndpoint,
            }),
          },
        }),
      );
    } else if (role === 'kubernetes') {
      const kube = await createKubernetesWorkers(common, { ...options.kubernetes, fleet: await fleetAtStart(), aws, awsEndpoint: options.awsEndpoint });
      workers.push(...kube.workers);
      closers.push(kube.close);
    } else {
      const activities = createAwsActivities({ aws, templates: new TemplateStore(options.templatesDir) });
      // Quick calls and waits on queues of their own (src/shared/task-queues.ts). A wait mostly sleeps
      // between reads, so a worker holds many; the per-account rate budget bounds what they ask AWS.
      workers.push(
        await Worker.create({ ...common, taskQueue: TASK_QUEUES.aws, activities, maxConcurrentActivityTaskExecutions: 200 }),
        await Worker.create({ ...common, taskQueue: TASK_QUEUES.awsWait, activities, maxConcurrentActivityTaskExecutions: 2_000 }),
      );
    }
  }

  return {
    async run() {
      try {
        await Promise.all(workers.map((w) => w.run()));
      } finally {
        aws.destroy();
        for (const close of closers) close();
        await clientConnection.close();
        await connection.close();
      }
    },
    shutdown() {
      for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
    },
    isRunning: () => workers.every((worker) => worker.getState() === 'RUNNING'),
  };
}
