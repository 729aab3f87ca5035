import { Connection } from '@temporalio/client';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SEARCH_ATTRIBUTE_CLI_TYPES } from '../../src/shared/search-attributes';
import { InterruptedError } from './interrupt';
import { freeLoopbackPorts } from './ports';
import { startProcess, type ManagedProcess } from './process';
import { temporalCliPath } from './tools';
import { httpOk, waitUntil } from './wait';

export interface TemporalServer {
  address: string;
  namespace: string;
  uiUrl: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

export interface TemporalServerOptions {
  /** Holds the SQLite file (history survives a restart) and the log. */
  stateDir: string;
  /** Reuse these ports, e.g. when restarting a server that clients already point at. */
  ports?: { grpc: number; ui: number; http: number; metrics: number };
  codecEndpoint?: string;
  /** Stops the server and rejects (InterruptedError) if aborted before it is ready. */
  signal?: AbortSignal;
}

/** `temporal server start-dev` on 127.0.0.1 with the project's search attributes registered. */
export async function startTemporalServer(options: TemporalServerOptions): Promise<TemporalServer> {
  mkdirSync(options.stateDir, { recursive: true });
  const [grpc, ui, http, metrics] = options.ports
    ? [options.ports.grpc, options.ports.ui, options.ports.http, options.ports.metrics]
    : await freeLoopbackPorts(4);
  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1', '--ui-ip', '127.0.0.1',
    '--port', String(grpc), '--ui-port', String(ui), '--http-port', String(http), '--metrics-port', String(metrics),
    '--db-filename', join(options.stateDir, 'temporal.db'),
    '--log-level', 'warn',
    // Release tests start hundreds of children; the dev server's default RPS limits would throttle them.
    '--dynamic-config-value', 'frontend.namespaceRPS=5000',
    '--dynamic-config-value', 'frontend.rps=5000',
    ...Object.entries(SEARCH_ATTRIBUTE_CLI_TYPES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
    ...(options.codecEndpoint ? ['--ui-codec-endpoint', options.codecEndpoint] : []),
  ];
  const proc = startProcess({
    name: 'temporal',
    command: temporalCliPath(),
    args,
    logPath: join(options.stateDir, 'temporal.log'),
    pidPath: join(options.stateDir, 'temporal.pid'),
  });
  const address = `127.0.0.1:${grpc}`;
  const uiUrl = `http://127.0.0.1:${ui}`;
  try {
    await waitUntil('Temporal dev server', () => canListNamespaces(address), { timeoutMs: 90_000, isAlive: () => proc.isAlive(), signal: options.signal });
    await waitUntil('Temporal Web UI', () => httpOk(uiUrl), { timeoutMs: 30_000, isAlive: () => proc.isAlive(), signal: options.signal });
  } catch (error) {
    await proc.stop();
    if (error instanceof InterruptedError) throw error;
    throw new Error(`${(error as Error).message}\n--- ${proc.logPath} ---\n${proc.tail()}`, { cause: error });
  }
  return {
    address,
    namespace: 'default',
    uiUrl,
    process: proc,
    stop: () => proc.stop(),
  };
}

async function canListNamespaces(address: string): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 1_000 });
  try {
    const { namespaces } = await connection.workflowService.listNamespaces({});
    return namespaces.some((ns) => ns.namespaceInfo?.name === 'default');
  } finally {
    await connection.close();
  }
}
