import type { BenchContext } from './context';
import { TASK_QUEUES } from '../src/shared/task-queues';
import type { WorkerTuning } from './sim/worker-config';

export interface RawThroughput {
  workflows: number;
  activitiesPerWorkflow: number;
  concurrency: number;
  wallMs: number;
  workflowsPerSecond: number;
}

/**
 * The physical limit on this machine: trivial workflows with as many activities as a tenant's
 * release (doing nothing) on the same worker process and server, at most `concurrency` running
 * at once like the release's tenants. (All started at once, they queue inside the server and
 * measure its backlog handling instead: slower than the release, so no ceiling.)
 */
export async function measureRawThroughput(
  ctx: BenchContext,
  options: { workflows: number; activitiesPerWorkflow: number; concurrency: number; tuning: WorkerTuning },
): Promise<RawThroughput> {
  const worker = await ctx.startWorker('raw', { stepMs: 0, tuning: options.tuning });
  try {
    const tag = Date.now().toString(36);
    let next = 0;
    const lane = async () => {
      for (let i = next++; i < options.workflows; i = next++) {
        await ctx.client.workflow.execute('trivialTenant', { workflowId: `bench/raw/${tag}/${i}`, taskQueue: TASK_QUEUES.workflows, args: [options.activitiesPerWorkflow] });
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: Math.min(options.concurrency, options.workflows) }, lane));
    const wallMs = performance.now() - started;
    return { workflows: options.workflows, activitiesPerWorkflow: options.activitiesPerWorkflow, concurrency: options.concurrency, wallMs, workflowsPerSecond: options.workflows / (wallMs / 1000) };
  } finally {
    await worker.stop();
  }
}
