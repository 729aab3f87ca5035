import type { Client } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { connectClient, temporalSettingsFromEnv } from '../src/client/connection';
import { startTemporalServer, type TemporalServer } from '../test/sandbox/temporal';
import { CLUSTER_HISTORY_SHARDS, startTemporalCluster } from '../test/sandbox/temporal-cluster';
import { repoRoot } from '../test/sandbox/tools';
import { writeWorkflowBundle } from '../src/workers/bundle';
import { startBenchWorker, type BenchWorker } from './worker-process';
import type { WorkerConfig } from './sim/worker-config';
import type { BenchTarget } from './options';

export const BENCH_STATE_DIR = join(repoRoot, '.sandbox', 'bench');

/** One Temporal server for the measures of a run, a client on it, and the bench workers' bundle. */
export interface BenchContext {
  server: Pick<TemporalServer, 'address' | 'namespace' | 'stop'>;
  /** What the results say they were measured on. */
  serverLabel: string;
  client: Client;
  /** What a worker process needs to reach the server and share the payload keys. */
  env: Record<string, string>;
  bundlePath: string;
  logDir: string;
  startWorker(name: string, config: Omit<WorkerConfig, 'bundlePath'>): Promise<BenchWorker>;
  stop(): Promise<void>;
}

/** The server's description in the results. */
export function serverLabel(target: BenchTarget): string {
  if (target === 'dev') return 'dev server (SQLite, 1 history shard)';
  if (target === 'cluster') return `cluster (PostgreSQL, ${CLUSTER_HISTORY_SHARDS} history shards)`;
  return `server at ${target}`;
}

/** `target`: start a dev server or a production-shaped cluster, or use a server someone else started (nothing is started or stopped then). */
export async function startBenchContext(log: (line: string) => void, target: BenchTarget = 'dev'): Promise<BenchContext> {
  const runDir = join(BENCH_STATE_DIR, `run-${Date.now()}`);
  const logDir = join(runDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  log('bundling the workflows (product workflows + the trivial one)');
  // Built as the product's bundle is (the same options), so the bench measures what ships.
  const bundlePath = await writeWorkflowBundle(join(runDir, 'workflow-bundle.js'), require.resolve('./sim/workflows'));

  log(target === 'dev' || target === 'cluster' ? `starting the Temporal ${serverLabel(target)}` : `using the Temporal ${serverLabel(target)}`);
  const server: Pick<TemporalServer, 'address' | 'namespace' | 'stop'> =
    target === 'dev'
      ? await startTemporalServer({ stateDir: join(runDir, 'temporal') })
      : target === 'cluster'
        ? await startTemporalCluster({ stateDir: join(runDir, 'temporal-cluster') })
        : { address: target, namespace: 'default', stop: () => Promise.resolve() };
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
    serverLabel: serverLabel(target),
    client,
    env,
    bundlePath,
    logDir,
    startWorker: (name, config) => startBenchWorker({ name, env, logDir, config: { ...config, bundlePath } }),
    async stop() {
      await client.connection.close();
      await server.stop();
      // The SQLite file or PostgreSQL data of a 5,000-tenant run is large; the logs stay for a look afterwards.
      rmSync(join(runDir, 'temporal', 'temporal.db'), { force: true });
      rmSync(join(runDir, 'temporal-cluster', 'postgres', 'data'), { recursive: true, force: true });
    },
  };
}
