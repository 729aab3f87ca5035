import { bundleWorkflowCode } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectClient, temporalSettingsFromEnv } from '../src/client/connection';
import { startTemporalServer, type TemporalServer } from '../test/sandbox/temporal';
import { repoRoot } from '../test/sandbox/tools';
import { startBenchWorker, type BenchWorker } from './worker-process';
import type { WorkerConfig } from './sim/worker-config';

export const BENCH_STATE_DIR = join(repoRoot, '.sandbox', 'bench');

/** One Temporal dev server for the whole run, a client on it, and the bench workers' bundle. */
export interface BenchContext {
  server: Pick<TemporalServer, 'address' | 'namespace' | 'stop'>;
  client: Client;
  /** What a worker process needs to reach the server and share the payload keys. */
  env: Record<string, string>;
  bundlePath: string;
  logDir: string;
  startWorker(name: string, config: Omit<WorkerConfig, 'bundlePath'>): Promise<BenchWorker>;
  stop(): Promise<void>;
}

/** `existingAddress`: run against a server someone else started (nothing is started or stopped then). */
export async function startBenchContext(log: (line: string) => void, existingAddress?: string): Promise<BenchContext> {
  const runDir = join(BENCH_STATE_DIR, `run-${Date.now()}`);
  const logDir = join(runDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  log('bundling the workflows (product workflows + the trivial one)');
  const bundlePath = join(runDir, 'workflow-bundle.js');
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('./sim/workflows'), logger: quietLogger });
  writeFileSync(bundlePath, code);

  const server: Pick<TemporalServer, 'address' | 'namespace' | 'stop'> = existingAddress
    ? { address: existingAddress, namespace: 'default', stop: () => Promise.resolve() }
    : (log('starting the Temporal dev server'), await startTemporalServer({ stateDir: join(runDir, 'temporal') }));
  // Payloads are encrypted as in production; a throwaway key for this run only.
  const env = {
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_NAMESPACE: server.namespace,
    TENANT_FLEET_CODEC_KEYS: `bench:${randomBytes(32).toString('base64')}`,
  };
  let client: Client;
  try {
    client = await connectClient(temporalSettingsFromEnv(env));
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    server,
    client,
    env,
    bundlePath,
    logDir,
    startWorker: (name, config) => startBenchWorker({ name, env, logDir, config: { ...config, bundlePath } }),
    async stop() {
      await client.connection.close();
      await server.stop();
      // The SQLite file of a 5,000-tenant run is large; the logs stay for a look afterwards.
      rmSync(join(runDir, 'temporal', 'temporal.db'), { force: true });
    },
  };
}

const noop = () => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error, log: noop };
