import type { BenchContext } from './context';
import { TASK_QUEUES } from '../src/shared/task-queues';
import type { WorkerTuning } from './sim/worker-config';

export interface RawThroughput {
  workflows: number;
  activitiesPerWorkflow: number;
  wallMs: number;
  workflowsPerSecond: number;
}

/**
 * The physical limit on this machine: trivial workflows with as many activities as a tenant's
 * release (doing nothing), all started at once on the same worker process and server.
 */
export async function measureRawThroughput(ctx: BenchContext, options: { workflows: number; activitiesPerWorkflow: number; tuning: WorkerTuning }): Promise<RawThroughput> {
  const worker = await ctx.startWorker('raw', { stepMs: 0, tuning: options.tuning });
  try {
    const tag = Date.now().toString(36);
    const started = performance.now();
    const handles = [];
    // Starts are RPCs: 50 at a time keeps the client from being the bottleneck without flooding it.
    for (let i = 0; i < options.workflows; i += 50) {
      const batch = Array.from({ length: Math.min(50, options.workflows - i) }, (_, j) =>
        ctx.client.workflow.start('trivialTenant', { workflowId: `bench/raw/${tag}/${i + j}`, taskQueue: TASK_QUEUES.workflows, args: [options.activitiesPerWorkflow] }),
      );
      handles.push(...(await Promise.all(batch)));
    }
    await Promise.all(handles.map((h) => h.result()));
    const wallMs = performance.now() - started;
    return { workflows: options.workflows, activitiesPerWorkflow: options.activitiesPerWorkflow, wallMs, workflowsPerSecond: options.workflows / (wallMs / 1000) };
  } finally {
    await worker.stop();
  }
}
