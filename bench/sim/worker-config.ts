import { z } from 'zod';
import { MIN_WORKER_MEMORY_MIB } from '../../src/workers/workflow-memory';

/** What the bench worker process is told through BENCH_WORKER_CONFIG (JSON). */
export const workerConfigSchema = z.strictObject({
  stepMs: z.number().int().min(0),
  bundlePath: z.string().min(1),
  /** Worker options under test; unset ones keep the production worker's values. */
  tuning: z
    .strictObject({
      /** TENANT_FLEET_WORKER_MEMORY_MIB: sizes the cache and the workflow heap as the product's worker does. */
      memoryMiB: z.number().int().min(MIN_WORKER_MEMORY_MIB).optional(),
      reuseV8Context: z.boolean().optional(),
      maxCachedWorkflows: z.number().int().min(0).optional(),
      maxConcurrentWorkflowTaskExecutions: z.number().int().min(2).optional(),
      maxConcurrentWorkflowTaskPolls: z.number().int().min(2).optional(),
      maxConcurrentActivityTaskPolls: z.number().int().min(1).optional(),
      maxConcurrentActivityTaskExecutions: z.number().int().min(1).optional(),
      stickyQueueScheduleToStartTimeoutMs: z.number().int().min(100).optional(),
    })
    .default({}),
});
export type WorkerConfig = z.input<typeof workerConfigSchema>;
export type WorkerTuning = NonNullable<WorkerConfig['tuning']>;

export const WORKER_CONFIG_ENV = 'BENCH_WORKER_CONFIG';
