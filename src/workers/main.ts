// Worker process: `tsx src/workers/main.ts` (or node dist/workers/main.js in production).
// TENANT_FLEET_WORKER_ROLES picks the task queues this process serves (default: all).
import { z } from 'zod';
import { temporalSettingsFromEnv } from '../client/connection';
import { parseOrThrow } from '../shared/validation';
import { startHealthServer } from './health';
import { installTelemetry } from './telemetry';
import { createFleetWorkers, type FleetWorkers } from './worker';

const envSchema = z.object({
  TENANT_FLEET_WORKER_ROLES: z
    .string()
    .default('workflows,aws')
    .transform((s) => s.split(',').map((r) => r.trim()))
    .pipe(z.array(z.enum(['workflows', 'aws', 'kubernetes'])).min(1)),
  AWS_ENDPOINT_URL: z.url().optional(),
  TENANT_FLEET_WORKFLOW_BUNDLE: z.string().optional(),
  TENANT_FLEET_CONFIG: z.string().min(1).optional(),
  /** Role kubernetes: serve only these clusters of the fleet config (comma-separated), e.g. from a worker inside one. */
  TENANT_FLEET_KUBE_CLUSTERS: z
    .string()
    .transform((s) => s.split(',').map((c) => c.trim()).filter(Boolean))
    .optional(),
  /** Role kubernetes: a values file over infra/kubernetes/tenant/values.yaml. */
  TENANT_FLEET_KUBE_VALUES: z.string().min(1).optional(),
  /** Probes' port; unset means no health endpoint (tests, laptops). */
  TENANT_FLEET_HEALTH_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  TENANT_FLEET_HEALTH_HOST: z.string().min(1).default('127.0.0.1'),
  /** Drain time for running activities after SIGTERM; keep it below the pod's terminationGracePeriodSeconds. */
  TENANT_FLEET_SHUTDOWN_GRACE: z
    .string()
    .regex(/^\d+(ms|s|m)$/, 'expected a duration such as "30s", "90s" or "2m"')
    .default('30s')
    .transform((text) => Number(/^\d+/.exec(text)![0]) * ({ ms: 1, s: 1_000, m: 60_000 } as const)[/[a-z]+$/.exec(text)![0] as 'ms' | 's' | 'm']),
});

async function main(): Promise<void> {
  const env = parseOrThrow(envSchema, process.env, 'worker settings (environment)');
  const { logger, metricsAddress } = installTelemetry(process.env, { service: 'tenant-fleet-worker', roles: env.TENANT_FLEET_WORKER_ROLES });
  const workers = await createFleetWorkers({
    temporal: temporalSettingsFromEnv(),
    roles: env.TENANT_FLEET_WORKER_ROLES,
    awsEndpoint: env.AWS_ENDPOINT_URL,
    workflowBundlePath: env.TENANT_FLEET_WORKFLOW_BUNDLE,
    fleetConfigPath: env.TENANT_FLEET_CONFIG,
    kubernetes: { clusters: env.TENANT_FLEET_KUBE_CLUSTERS, valuesFile: env.TENANT_FLEET_KUBE_VALUES },
    shutdownGraceTime: env.TENANT_FLEET_SHUTDOWN_GRACE,
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
