// `npm run sandbox [-- --temporal dev|cluster]`: the sandbox servers in the foreground until Ctrl-C.
// TENANT_FLEET_SANDBOX_DIR: another state folder than .sandbox/ (the interrupt test runs it in its own).
import './quiet-aws-sdk';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { InputValidationError, parseOrThrow } from '../src/shared/validation';
import { temporalSettingsFromEnv } from '../src/client/connection';
import { SANDBOX_VALUES_FILE } from '../src/activities/kube-chart/tenant-chart';
import { createFleetWorkers } from '../src/workers/worker';
import { startSandbox, TEMPORAL_FLAVORS } from '../test/sandbox';
import { CLUSTER_HISTORY_SHARDS } from '../test/sandbox/temporal-cluster';
import { abortable, interruptOnSignals, untilInterrupted } from '../test/sandbox/interrupt';
import { logWorkersToFile } from '../test/sandbox/worker-log';

// Before anything starts: a Ctrl-C at any point of the start-up stops what has started.
const interrupt = interruptOnSignals({ label: 'sandbox' });
const log = (line: string) => console.log(`[sandbox] ${line}`);

const optionsSchema = z.strictObject({ temporal: z.enum(TEMPORAL_FLAVORS) });

async function main(): Promise<void> {
  const { values } = parseArgs({ args: process.argv.slice(2), options: { temporal: { type: 'string', default: 'dev' } }, strict: true });
  const options = parseOrThrow(optionsSchema, values, 'npm run sandbox options');
  const sandbox = await startSandbox({ stateDir: process.env.TENANT_FLEET_SANDBOX_DIR, temporal: options.temporal, ecsTasks: true, blueGreen: true, log, signal: interrupt.signal });
  try {
    const workerLog = logWorkersToFile(join(sandbox.stateDir, 'logs', 'workers.log'));
    Object.assign(process.env, sandbox.env);
    // Interrupted while the workers are created (bundling the workflows takes seconds): the
    // sandbox stops at once; the half-made workers go with the process.
    const workers = await abortable(
      createFleetWorkers({
        temporal: temporalSettingsFromEnv(sandbox.env),
        roles: ['workflows', 'aws', ...(sandbox.kube ? (['kubernetes'] as const) : [])],
        awsEndpoint: sandbox.aws.endpoint,
        fleetConfigPath: sandbox.fleetConfigPath,
        kubernetes: { valuesFile: SANDBOX_VALUES_FILE },
      }),
      interrupt.signal,
    );
    const workersDone = workers.run();
    console.log(`
Sandbox and workers running (Ctrl-C stops them):
  Temporal          ${options.temporal === 'cluster' ? `production-shaped cluster (PostgreSQL, ${CLUSTER_HISTORY_SHARDS} history shards)` : 'dev server'}
  Temporal address  ${sandbox.temporal.address}
  Temporal Web UI   ${sandbox.temporal.uiUrl}
  AWS endpoint      ${sandbox.aws.endpoint}
  Kubernetes API    ${sandbox.kube?.apiServerUrl ?? '(not started)'}
  Fleet config      ${sandbox.fleetConfigPath}
  Environment       . ${sandbox.envFile}
  Worker log        ${workerLog}
`);
    // A worker that fails on its own ends the run too, rather than leaving a sandbox nobody serves.
    await Promise.race([untilInterrupted(interrupt.signal), workersDone]);
    log('stopping the workers');
    workers.shutdown();
    await workersDone;
  } finally {
    log('stopping the sandbox');
    await sandbox.stop();
  }
}

// Ctrl-C is how a running sandbox ends (exit 0); one during the start-up exits 130 (SIGTERM 143).
main().then(
  () => process.exit(0),
  (error: unknown) => {
    const code = interrupt.exitCode();
    if (code !== undefined) {
      console.error(`[sandbox] ${(error as Error)?.message ?? String(error)}; stopped`);
      process.exit(code);
    }
    // Bad options are the user's to fix: their message, not a stack.
    if (error instanceof InputValidationError || (error as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS')) console.error(`[sandbox] ${(error as Error).message}`);
    else console.error('[sandbox] failed:', error);
    process.exit(1);
  },
);
