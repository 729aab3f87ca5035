// `npm run sandbox`: the sandbox servers in the foreground until Ctrl-C.
import { temporalSettingsFromEnv } from '../src/client/connection';
import { SANDBOX_VALUES_FILE } from '../src/activities/kube-template/tenant-template';
import { createFleetWorkers } from '../src/workers/worker';
import { startSandbox } from '../test/sandbox';

async function main(): Promise<void> {
  const sandbox = await startSandbox({ log: (line) => console.log(`[sandbox] ${line}`) });
  Object.assign(process.env, sandbox.env);
  const workers = await createFleetWorkers({
    temporal: temporalSettingsFromEnv(sandbox.env),
    roles: ['workflows', 'aws', ...(sandbox.kube ? (['kubernetes'] as const) : [])],
    awsEndpoint: sandbox.aws.endpoint,
    fleetConfigPath: sandbox.fleetConfigPath,
    kubernetes: { valuesFile: SANDBOX_VALUES_FILE },
  });
  const workersDone = workers.run();
  console.log(`
Sandbox and workers running (Ctrl-C stops them):
  Temporal address  ${sandbox.temporal.address}
  Temporal Web UI   ${sandbox.temporal.uiUrl}
  AWS endpoint      ${sandbox.aws.endpoint}
  Kubernetes API    ${sandbox.kube?.apiServerUrl ?? '(not started)'}
  Fleet config      ${sandbox.fleetConfigPath}
  Environment       . ${sandbox.envFile}
`);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`[sandbox] ${signal}: stopping`);
    workers.shutdown();
    workersDone.then(() => sandbox.stop()).then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('[sandbox] stop failed', error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
