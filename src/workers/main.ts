// Worker process: `tsx src/workers/main.ts` (or node dist/workers/main.js in production).
// TENANT_FLEET_WORKER_ROLES picks the task queues this process serves (default: all).
import { temporalSettingsFromEnv } from '../client/connection';
import { startHealthServer } from './health-server';
import { installTelemetry } from './telemetry';
import { workerEnvFrom } from './settings';
import { createFleetWorkers, type FleetWorkers } from './worker';

async function main(): Promise<void> {
  const env = workerEnvFrom(process.env);
  const { logger, metricsAddress } = installTelemetry(process.env, { service: 'tenant-fleet-worker', roles: env.TENANT_FLEET_WORKER_ROLES });
  const workers = await createFleetWorkers({
    temporal: temporalSettingsFromEnv(),
    roles: env.TENANT_FLEET_WORKER_ROLES,
    awsEndpoint: env.AWS_ENDPOINT_URL,
    workflowBundlePath: env.TENANT_FLEET_WORKFLOW_BUNDLE,
    fleetConfigPath: env.TENANT_FLEET_CONFIG,
    kubernetes: { clusters: env.TENANT_FLEET_KUBE_CLUSTERS, valuesFile: env.TENANT_FLEET_KUBE_VALUES, helm: env.TENANT_FLEET_HELM },
    shutdownGraceTime: env.TENANT_FLEET_SHUTDOWN_GRACE,
    workflowMemory: {
      memoryMiB: env.TENANT_FLEET_WORKER_MEMORY_MIB,
      maxCachedWorkflows: env.TENANT_FLEET_MAX_CACHED_WORKFLOWS,
      reuseV8Context: env.TENANT_FLEET_REUSE_V8_CONTEXT,
    },
  });
  const health = env.TENANT_FLEET_HEALTH_PORT
    ? await startHealthServer({ host: env.TENANT_FLEET_HEALTH_HOST, port: env.TENANT_FLEET_HEALTH_PORT, ready: () => workers.isRunning() })
    : undefined;
  // SIGTERM (Kubernetes, docker stop) drains: no new tasks, running ones finish.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      logger.info('draining', { signal, graceTimeMs: env.TENANT_FLEET_SHUTDOWN_GRACE });
      workers.shutdown();
    });
  }
  const running = workers.run();
  // "started" means polling: scripts and tests wait for this line before sending work.
  if (await untilPolling(workers, running)) logger.info('workers started', { metrics: metricsAddress, health: health?.url });
  try {
    await running;
  } finally {
    await health?.close();
  }
  logger.info('workers stopped');
}

/** True once every worker polls; false if they stopped first (run()'s error is reported by main). */
async function untilPolling(workers: FleetWorkers, running: Promise<void>): Promise<boolean> {
  let ended = false;
  void running.then(
    () => (ended = true),
    () => (ended = true),
  );
  while (!ended && !workers.isRunning()) await new Promise((resolve) => setTimeout(resolve, 50));
  return workers.isRunning();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
