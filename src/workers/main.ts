// Worker process: `tsx src/workers/main.ts` (or node dist/workers/main.js in production).
// TENANT_FLEET_WORKER_ROLES picks the task queues this process serves (default: all).
import { z } from 'zod';
import { temporalSettingsFromEnv } from '../client/connection';
import { parseOrThrow } from '../shared/validation';
import { createFleetWorkers } from './worker';

const envSchema = z.object({
  TENANT_FLEET_WORKER_ROLES: z
    .string()
    .default('workflows,aws')
    .transform((s) => s.split(',').map((r) => r.trim()))
    .pipe(z.array(z.enum(['workflows', 'aws'])).min(1)),
  AWS_ENDPOINT_URL: z.url().optional(),
  TENANT_FLEET_WORKFLOW_BUNDLE: z.string().optional(),
});

async function main(): Promise<void> {
  const env = parseOrThrow(envSchema, process.env, 'worker settings (environment)');
  const workers = await createFleetWorkers({
    temporal: temporalSettingsFromEnv(),
    roles: env.TENANT_FLEET_WORKER_ROLES,
    awsEndpoint: env.AWS_ENDPOINT_URL,
    workflowBundlePath: env.TENANT_FLEET_WORKFLOW_BUNDLE,
  });
  // SIGTERM (Kubernetes, docker stop) drains: no new tasks, running ones finish.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => workers.shutdown());
  console.log(JSON.stringify({ level: 'info', msg: 'workers started', roles: env.TENANT_FLEET_WORKER_ROLES }));
  await workers.run();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
