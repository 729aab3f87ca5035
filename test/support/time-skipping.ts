import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type BundleOptions } from '@temporalio/worker';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { errorsOnlyLogger, installQuietRuntime } from './quiet-runtime';

/**
 * Temporal's Java time-skipping test server, from scripts/setup.sh (on 127.0.0.1 only, see
 * scripts/temporal-test-server/LoopbackTestServer.java); without a JDK and Maven it is not installed.
 */
export const TEST_SERVER = join(__dirname, '..', '..', '.tools', 'bin', 'temporal-test-server');

// Without a JDK setup installs no test server and these tests skip; in CI (CI=true) that would
// hide them, so there a missing server fails the run instead.
export const describeWithTestServer = existsSync(TEST_SERVER) || process.env.CI === 'true' ? describe : describe.skip;

/** The test server on a free loopback port; a second try if the first start was too slow (a loaded machine). */
async function startTestServer(): Promise<TestWorkflowEnvironment> {
  const start = () => TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: TEST_SERVER } } });
  try {
    return await start();
  } catch (error) {
    if (!/did not start within/.test((error as Error).message)) throw error;
    return start();
  }
}

export interface TimeSkippingWorkers {
  env: TestWorkflowEnvironment;
  /** Shuts the workers down, waits for them, then stops the server. */
  stop(): Promise<void>;
}

/**
 * The test server with one worker per queue: `workflows` (bundled once, errors only in the log)
 * runs on the first queue, each queue's activities on its own. Call in a beforeAll (it takes a
 * minute on a busy machine) and `stop` in the afterAll.
 */
export async function startTimeSkippingWorkers({ workflows, queues }: { workflows: BundleOptions; queues: { taskQueue: string; activities: object }[] }): Promise<TimeSkippingWorkers> {
  // Core's own log lines (a capability warning about this server) go to the logger, which keeps only errors.
  installQuietRuntime();
  // One after the other: the SDK gives the server 5 s to listen, and a JVM starting beside webpack on a busy machine can miss that.
  const env = await startTestServer();
  const workers: Worker[] = [];
  let running: Promise<unknown> = Promise.resolve();
  const stop = async () => {
    workers.forEach((w) => w.shutdown());
    await running;
    await env.teardown();
  };
  try {
    const bundle = await bundleWorkflowCode({ ...workflows, logger: errorsOnlyLogger });
    // The workflows set these; a server that does not know them refuses the upsert.
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: { TenantId: 2, ReleaseId: 2, Environment: 2, Phase: 2 }, // KEYWORD
    });
    for (const [index, { taskQueue, activities }] of queues.entries()) {
      workers.push(await Worker.create({ connection: env.nativeConnection, namespace: env.namespace, taskQueue, activities, ...(index === 0 ? { workflowBundle: bundle } : {}) }));
    }
    running = Promise.all(workers.map((w) => w.run()));
  } catch (error) {
    await env.teardown();
    throw error;
  }
  return { env, stop };
}
