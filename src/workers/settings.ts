// The worker process's settings, read from its environment (src/workers/main.ts); a module of its
// own so the validation can be tested without starting a worker.
import { z } from 'zod';
import { durationSchema } from '../shared/durations';
import { parseOrThrow } from '../shared/validation';
import { DEFAULT_WORKFLOW_MEMORY, MIN_WORKER_MEMORY_MIB } from './workflow-memory';

export const workerEnvSchema = z.object({
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
  /** Role kubernetes: a values file over the tenant chart's values.yaml (docs/helm.md). */
  TENANT_FLEET_KUBE_VALUES: z.string().min(1).optional(),
  /** Role kubernetes: the helm binary; default .tools/bin/helm, then helm on PATH. */
  TENANT_FLEET_HELM: z.string().min(1).optional(),
  /** Probes' port; unset means no health endpoint (tests, laptops). */
  TENANT_FLEET_HEALTH_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  TENANT_FLEET_HEALTH_HOST: z.string().min(1).default('127.0.0.1'),
  /**
   * Drain time for running activities after SIGTERM, in milliseconds; keep it below the pod's
   * terminationGracePeriodSeconds. Written like every other duration of the project ("60s", "2m"),
   * so it is parsed by the same schema as the fleet config's; `prefault` runs the default through it.
   */
  TENANT_FLEET_SHUTDOWN_GRACE: durationSchema.prefault('30s'),
  /**
   * Role workflows: the memory (MiB) the process may use, its container limit. Sizes the workflow
   * cache and the workflow thread's heap (src/workers/workflow-memory.ts, docs/operators.md).
   */
  TENANT_FLEET_WORKER_MEMORY_MIB: z.coerce
    .number({ error: 'expected a whole number of MiB' })
    .int('expected a whole number of MiB')
    .min(MIN_WORKER_MEMORY_MIB, `expected at least ${MIN_WORKER_MEMORY_MIB} MiB`)
    .max(65_536, 'expected at most 65536 MiB')
    .default(DEFAULT_WORKFLOW_MEMORY.memoryMiB),
  /** Role workflows: overrides the cache size the memory rule gives (0 disables the cache: every task replays its history). */
  TENANT_FLEET_MAX_CACHED_WORKFLOWS: z.coerce
    .number({ error: 'expected a whole number of workflows' })
    .int('expected a whole number of workflows')
    .refine((n) => n === 0 || n >= 2, 'expected 0 (no cache) or at least 2')
    .optional(),
  /** Role workflows: one V8 context for all workflows (the SDK's default, far less memory per workflow) or one per workflow. */
  TENANT_FLEET_REUSE_V8_CONTEXT: z
    .enum(['true', 'false'], { error: 'expected true or false' })
    .default('true')
    .transform((v) => v === 'true'),
});
export type WorkerEnv = z.output<typeof workerEnvSchema>;

/** The environment's settings, or an InputValidationError naming each variable, its value and what was expected. */
export const workerEnvFrom = (env: NodeJS.ProcessEnv): WorkerEnv => parseOrThrow(workerEnvSchema, env, 'worker settings (environment)');
