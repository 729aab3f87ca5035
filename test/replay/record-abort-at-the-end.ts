/**
 * Records test/replay/histories/release-wave-abort-at-the-end.json: `npx tsx test/replay/record-abort-at-the-end.ts`.
 * An abort reaches the release in the same workflow task as the end of its last child, so the
 * abort's stop signal goes to a child that has already ended and the release ends while the
 * abort's handler still waits for that signal. No sandbox can time that, so the workflow worker
 * is stopped while the child is terminated and the abort sent, then started again. The history
 * shows the release ending only after the abort's answer (allHandlersFinished) and not missing
 * the child's end (patch release-wave-keeps-wakes); test/unit/replay.test.ts replays it.
 */
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { abortUpdate, type ReleaseWaveInput } from '../../src/shared/messages/release';
import { TASK_QUEUES } from '../../src/shared/task-queues';
import { errorsOnlyLogger, installQuietRuntime } from '../support/quiet-runtime';

const QUEUE = 'time-skipping';

async function main(): Promise<void> {
  installQuietRuntime();
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: join(__dirname, '..', '..', '.tools', 'bin', 'temporal') },
      ip: '127.0.0.1',
      extraArgs: ['TenantId', 'ReleaseId', 'Environment', 'Phase'].flatMap((name) => ['--search-attribute', `${name}=Keyword`]),
    },
  });
  try {
    // The real releaseWave; releaseTenant for tenant `stuck` runs until it is terminated.
    const bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../unit/support/time-skipping-workflows'), logger: errorsOnlyLogger });
    const activities = { deliverNotification: () => Promise.resolve({ delivered: [] }) };
    const workflowWorker = () => Worker.create({ connection: env.nativeConnection, namespace: env.namespace, taskQueue: QUEUE, workflowBundle: bundle, activities, stickyQueueScheduleToStartTimeout: '1s' });
    const aws = await Worker.create({ connection: env.nativeConnection, namespace: env.namespace, taskQueue: TASK_QUEUES.aws, activities });
    const awsRun = aws.run();
    let worker = await workflowWorker();
    let run = worker.run();
    const input: ReleaseWaveInput = {
      releaseId: 'abort-at-the-end',
      version: '2.0.0',
      plan: 'gated',
      environments: ['prod'],
      waves: [{ name: 'all', tenants: ['stuck'], maxInFlight: 1, failureThreshold: { count: 1 }, bakeMs: 0 }],
      options: { verifyWindowMs: 0, restoreDatabaseOnRollback: false, rollbackOnAbort: true, busyRetry: { attempts: 1, delayMs: 0 } },
      requestedBy: 'jest',
    };
    const release = await env.client.workflow.start('releaseWave', { taskQueue: QUEUE, workflowId: 'release/abort-at-the-end', args: [input] });
    for (;;) {
      const events = (await release.fetchHistory()).events ?? [];
      if (events.some((e) => e.childWorkflowExecutionStartedEventAttributes) && events.at(-1)?.workflowTaskCompletedEventAttributes) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    worker.shutdown();
    await run;
    await env.client.workflow.getHandle('release/abort-at-the-end/tenant/stuck').terminate('ended while the abort was on its way');
    const aborted = release.executeUpdate(abortUpdate, { args: [{ by: 'jest', reason: 'stop', rollback: true }] });
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    worker = await workflowWorker();
    run = worker.run();
    console.log('abort answered:', JSON.stringify(await aborted));
    console.log('release:', await release.result().then(() => 'succeeded', (e: Error) => String((e.cause as Error | undefined)?.message)));
    const history = await release.fetchHistory();
    const json = temporal.api.history.v1.History.toObject(history as temporal.api.history.v1.History, { longs: String, enums: String, bytes: String });
    writeFileSync(join(__dirname, 'histories', 'release-wave-abort-at-the-end.json'), `${JSON.stringify(json, null, 1)}\n`);
    worker.shutdown();
    aws.shutdown();
    await Promise.all([run, awsRun]);
  } finally {
    await env.teardown();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
