// The bench's worker process (`node --import tsx bench/sim/worker-main.ts`): the production
// worker's two task queues and options, the real workflows and lock activities, and simulated
// AWS and fleet activities. Its own process so that the bench can read its memory and SIGKILL it.
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { createLockActivities } from '../../src/activities/lock';
import { createTemporalActivities } from '../../src/activities/temporal';
import { temporalSettingsFromEnv } from '../../src/client/connection';
import { TASK_QUEUES } from '../../src/shared/task-queues';
import { parseOrThrow } from '../../src/shared/validation';
import { stepMetricsInterceptor } from '../../src/workers/step-metrics';
import { DEFAULT_WORKFLOW_MEMORY, workflowWorkerMemoryOptions } from '../../src/workers/workflow-memory';
import { createSimulatedActivities } from './activities';
import { WORKER_CONFIG_ENV, workerConfigSchema } from './worker-config';

async function main(): Promise<void> {
  const config = parseOrThrow(workerConfigSchema, JSON.parse(process.env[WORKER_CONFIG_ENV] ?? '{}'), WORKER_CONFIG_ENV);
  const { tuning } = config;
  Runtime.install({ logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: console.warn, error: console.error } });
  const settings = temporalSettingsFromEnv();
  const connection = await NativeConnection.connect(settings.connection);
  const client = new Client({ connection: await Connection.connect(settings.connection), namespace: settings.namespace, dataConverter: settings.dataConverter });
  const simulated = createSimulatedActivities(config.stepMs);
  // As src/workers/worker.ts builds them; `tuning` overrides what the bench is measuring.
  const common: Pick<WorkerOptions, 'connection' | 'namespace' | 'dataConverter' | 'interceptors'> = {
    connection,
    namespace: settings.namespace,
    dataConverter: settings.dataConverter,
    interceptors: { activity: [stepMetricsInterceptor] },
  };
  const workflows = await Worker.create({
    ...common,
    taskQueue: TASK_QUEUES.workflows,
    workflowBundle: { codePath: config.bundlePath },
    activities: { ...createTemporalActivities({ client, taskQueue: TASK_QUEUES.workflows }), ...createLockActivities({ client }), ...simulated.fleet },
    // The product worker's memory rule and defaults (src/workers/workflow-memory.ts); tuning may override them.
    ...workflowWorkerMemoryOptions({
      memoryMiB: tuning.memoryMiB ?? DEFAULT_WORKFLOW_MEMORY.memoryMiB,
      maxCachedWorkflows: tuning.maxCachedWorkflows,
      reuseV8Context: tuning.reuseV8Context ?? DEFAULT_WORKFLOW_MEMORY.reuseV8Context,
    }),
    ...(tuning.maxConcurrentWorkflowTaskExecutions !== undefined ? { maxConcurrentWorkflowTaskExecutions: tuning.maxConcurrentWorkflowTaskExecutions } : {}),
    ...(tuning.maxConcurrentWorkflowTaskPolls !== undefined ? { maxConcurrentWorkflowTaskPolls: tuning.maxConcurrentWorkflowTaskPolls } : {}),
    ...(tuning.maxConcurrentActivityTaskPolls !== undefined ? { maxConcurrentActivityTaskPolls: tuning.maxConcurrentActivityTaskPolls } : {}),
    ...(tuning.stickyQueueScheduleToStartTimeoutMs !== undefined ? { stickyQueueScheduleToStartTimeout: tuning.stickyQueueScheduleToStartTimeoutMs } : {}),
  });
  const aws = await Worker.create({
    ...common,
    taskQueue: TASK_QUEUES.aws,
    activities: simulated.aws,
    maxConcurrentActivityTaskExecutions: tuning.maxConcurrentActivityTaskExecutions ?? 200,
    ...(tuning.maxConcurrentActivityTaskPolls !== undefined ? { maxConcurrentActivityTaskPolls: tuning.maxConcurrentActivityTaskPolls } : {}),
  });
  // The production AWS worker serves the waits on a queue of their own with 2,000 slots (src/workers/worker.ts).
  const awsWait = await Worker.create({
    ...common,
    taskQueue: TASK_QUEUES.awsWait,
    activities: simulated.aws,
    maxConcurrentActivityTaskExecutions: 2_000,
    ...(tuning.maxConcurrentActivityTaskPolls !== undefined ? { maxConcurrentActivityTaskPolls: tuning.maxConcurrentActivityTaskPolls } : {}),
  });
  const all = [workflows, aws, awsWait];
  const running = Promise.all(all.map((worker) => worker.run()));
  while (all.some((worker) => worker.getState() !== 'RUNNING')) await new Promise((resolve) => setTimeout(resolve, 20));
  // The bench waits for this line before it sends work.
  console.log(JSON.stringify({ msg: 'bench worker polling', pid: process.pid }));
  // Where the memory is, in the worker's log: the V8 heap, what lives outside it, and how many
  // workflows the cache holds (docs/benchmarks.md, "Worker memory").
  const MiB = 2 ** 20;
  const memoryLog = setInterval(() => {
    const usage = process.memoryUsage();
    const status = workflows.getStatus();
    console.log(
      JSON.stringify({
        msg: 'bench worker memory',
        rssMiB: Math.round(usage.rss / MiB),
        heapUsedMiB: Math.round(usage.heapUsed / MiB),
        heapTotalMiB: Math.round(usage.heapTotal / MiB),
        externalMiB: Math.round(usage.external / MiB),
        cachedWorkflows: status.numCachedWorkflows,
        inFlightActivations: status.numInFlightWorkflowActivations,
      }),
    );
  }, 2_000);
  memoryLog.unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const worker of all) worker.shutdown();
    });
  }
  await running;
  await client.connection.close();
  await connection.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
