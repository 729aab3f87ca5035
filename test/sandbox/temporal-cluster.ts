import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { CUSTOM_SEARCH_ATTRIBUTES } from '../../src/shared/search-attributes';
import { InterruptedError, throwIfInterrupted } from './interrupt';
import { freeLoopbackPorts, freeLoopbackPortsBelow } from './ports';
import { startPostgres, type PostgresServer } from './postgres';
import { startProcess, type ManagedProcess } from './process';
import type { TemporalServer } from './temporal';
import { repoRoot, temporalClusterTools } from './tools';
import { httpOk, waitUntil } from './wait';

const execFileAsync = promisify(execFile);

/** The compose stack's dynamic config (docker-compose.yml mounts the same file), used as it is. */
export const COMPOSE_DYNAMIC_CONFIG = join(repoRoot, 'infra', 'compose', 'dynamicconfig', 'development-sql.yaml');
/** More than one, so workflows spread over shards as in production; the dev server has one. */
export const CLUSTER_HISTORY_SHARDS = 4;
const SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;
const NAMESPACE = 'default';
const RETENTION = '3 days';

export interface TemporalClusterOptions {
  /** Holds PostgreSQL's data (kept across restarts), the server's and the UI's config, and the logs. */
  stateDir: string;
  /** The Web UI's port, when the caller must know it first (the codec server allows its origin). */
  uiPort?: number;
  codecEndpoint?: string;
  /** Stops what started and rejects (InterruptedError) if aborted before everything is ready. */
  signal?: AbortSignal;
}

export interface TemporalCluster extends TemporalServer {
  postgres: PostgresServer;
  historyShards: number;
}

/**
 * The production-shaped Temporal of docker-compose.yml as plain processes on 127.0.0.1:
 * PostgreSQL (schemas by Temporal's SQL tool, SQL visibility), the Temporal server with its
 * four services, the compose file's dynamic config and several history shards, and the Web UI
 * server; then the `default` namespace and the project's search attributes (the compose
 * stack's temporal-setup does the same). docs/sandbox.md, "Production-shaped Temporal".
 */
export async function startTemporalCluster(options: TemporalClusterOptions): Promise<TemporalCluster> {
  const tools = temporalClusterTools();
  const { signal } = options;
  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async () => {
    for (const s of started.reverse()) await s.stop();
  };
  try {
    const postgres = await startPostgres({ stateDir: join(options.stateDir, 'postgres'), signal });
    started.push(postgres);
    await setUpSchemas(tools.sqlTool, postgres, signal);

    const ports = await freeLoopbackPortsBelow(2 * SERVICES.length);
    const [httpPort, metricsPort, picked] = (await freeLoopbackPorts(3)) as [number, number, number];
    const uiPort = options.uiPort ?? picked;
    const rpc = Object.fromEntries(SERVICES.map((service, i) => [service, { grpcPort: ports[2 * i]!, membershipPort: ports[2 * i + 1]! }]));
    const address = `127.0.0.1:${rpc.frontend!.grpcPort}`;
    const configDir = join(options.stateDir, 'config');
    mkdirSync(configDir, { recursive: true });
    writeFileSync(join(configDir, 'sandbox.yaml'), stringify(serverConfig({ postgres, rpc, address, httpPort, metricsPort })), { mode: 0o600 });

    throwIfInterrupted(signal);
    const server = startProcess({
      name: 'temporal-server',
      command: tools.server,
      args: ['--root', options.stateDir, '--config', 'config', '--env', 'sandbox', '--allow-no-auth', 'start'],
      logPath: join(options.stateDir, 'temporal-server.log'),
      pidPath: join(options.stateDir, 'temporal-server.pid'),
    });
    started.push(server);
    await waitForServer('Temporal server', server, () => registerNamespace(address), 120_000, signal);
    // Visibility must know the search attributes before a workflow sets them, or its start fails.
    await waitForServer('Temporal search attributes', server, () => searchAttributesReady(address), 60_000, signal);

    const uiDir = join(options.stateDir, 'ui');
    mkdirSync(join(uiDir, 'config'), { recursive: true });
    const uiUrl = `http://127.0.0.1:${uiPort}`;
    writeFileSync(join(uiDir, 'config', 'sandbox.yaml'), stringify(uiConfig(address, uiPort, uiUrl, options.codecEndpoint)));
    throwIfInterrupted(signal);
    const ui = startProcess({
      name: 'temporal-ui',
      command: tools.uiServer,
      args: ['--root', uiDir, '--config', 'config', '--env', 'sandbox', 'start'],
      logPath: join(options.stateDir, 'temporal-ui.log'),
      pidPath: join(options.stateDir, 'temporal-ui.pid'),
    });
    started.push(ui);
    await waitForServer('Temporal Web UI server', ui, () => httpOk(uiUrl), 30_000, signal);

    return { address, namespace: NAMESPACE, uiUrl, process: server, postgres, historyShards: CLUSTER_HISTORY_SHARDS, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function waitForServer(what: string, proc: ManagedProcess, probe: () => Promise<boolean>, timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await waitUntil(what, probe, { timeoutMs, intervalMs: 500, isAlive: () => proc.isAlive(), signal });
  } catch (error) {
    if (error instanceof InterruptedError) throw error;
    throw new Error(`${(error as Error).message}\n--- ${proc.logPath} (last errors) ---\n${lastErrors(proc.tail(200))}`, { cause: error });
  }
}

/** The server logs JSON lines with stack traces: their level, message and error only, not a wall. */
function lastErrors(tail: string): string {
  const lines = tail.split('\n').filter(Boolean).map((line) => {
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string; error?: string };
      return entry.level && entry.level !== 'info' ? `${entry.level}: ${entry.msg ?? ''}${entry.error ? `: ${entry.error}` : ''}` : undefined;
    } catch {
      return line.slice(0, 300);
    }
  });
  return [...new Set(lines.filter((line): line is string => line !== undefined))].slice(-8).join('\n');
}

/** Creates (first start) or migrates (later starts) both databases, as infra/compose/temporal-schema.sh does. */
async function setUpSchemas(sqlTool: string, postgres: PostgresServer, signal: AbortSignal | undefined): Promise<void> {
  const env = { ...process.env, SQL_PASSWORD: postgres.password };
  const run = async (db: string, args: string[]) => {
    try {
      await execFileAsync(sqlTool, ['--plugin', 'postgres12', '--ep', postgres.host, '-p', String(postgres.port), '-u', postgres.user, '--db', db, ...args], { env, signal });
    } catch (error) {
      if (signal?.aborted) throw new InterruptedError(signal.reason);
      const { stderr = '', stdout = '' } = error as { stderr?: string; stdout?: string };
      const e = new Error(`Temporal SQL tool ${args[0]} on ${db}: ${`${stderr}${stdout}`.trim().split('\n').slice(-3).join(' ')}`, { cause: error });
      throw Object.assign(e, { output: `${stderr}${stdout}` });
    }
  };
  for (const [db, schema] of [['temporal', 'temporal'], ['temporal_visibility', 'visibility']] as const) {
    let created = true;
    await run(db, ['create-database']).catch((error: unknown) => {
      if (!/already exists/i.test((error as { output?: string }).output ?? '')) throw error;
      created = false;
    });
    if (created) await run(db, ['setup-schema', '-v', '0.0']);
    await run(db, ['update-schema', '--schema-name', `postgresql/v12/${schema}`]);
  }
}

interface ServerConfigInput {
  postgres: PostgresServer;
  rpc: Record<string, { grpcPort: number; membershipPort: number }>;
  address: string;
  httpPort: number;
  metricsPort: number;
}

/** The server's static config: go.temporal.io/server's config/development-postgres12.yaml, bound to 127.0.0.1. */
function serverConfig({ postgres, rpc, address, httpPort, metricsPort }: ServerConfigInput): unknown {
  const store = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${postgres.host}:${postgres.port}`,
      connectProtocol: 'tcp',
      user: postgres.user,
      password: postgres.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  return {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      // A SQL visibility store is advanced visibility (custom search attributes, List with queries).
      visibilityStore: 'postgres-visibility',
      numHistoryShards: CLUSTER_HISTORY_SHARDS,
      datastores: { 'postgres-default': store('temporal', 20), 'postgres-visibility': store('temporal_visibility', 2) },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' },
      metrics: { prometheus: { framework: 'tally', timerType: 'histogram', listenAddress: `127.0.0.1:${metricsPort}` } },
    },
    services: Object.fromEntries(
      Object.entries(rpc).map(([service, ports]) => [service, { rpc: { ...ports, bindOnIP: '127.0.0.1', ...(service === 'frontend' ? { httpPort } : {}) } }]),
    ),
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: address, httpAddress: `127.0.0.1:${httpPort}` } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } },
    namespaceDefaults: { archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } } },
    dynamicConfigClient: { filepath: COMPOSE_DYNAMIC_CONFIG, pollInterval: '10s' },
  };
}

function uiConfig(address: string, port: number, uiUrl: string, codecEndpoint: string | undefined): unknown {
  return {
    temporalGrpcAddress: address,
    host: '127.0.0.1',
    port,
    enableUi: true,
    defaultNamespace: NAMESPACE,
    notifyOnNewVersion: false,
    hideLogs: true,
    cors: { allowOrigins: [uiUrl, uiUrl.replace('127.0.0.1', 'localhost')], cookieInsecure: true },
    ...(codecEndpoint ? { codec: { endpoint: codecEndpoint } } : {}),
  };
}

/** True once the frontend answers and `default` exists (registered here on the first start). */
async function registerNamespace(address: string): Promise<boolean> {
  return withConnection(address, async (connection) => {
    const { namespaces } = await connection.workflowService.listNamespaces({});
    if (namespaces.some((ns) => ns.namespaceInfo?.name === NAMESPACE)) return true;
    await connection.workflowService.registerNamespace({ namespace: NAMESPACE, workflowExecutionRetentionPeriod: msToTs(RETENTION) });
    return false; // the next poll sees it
  });
}

/** Adds the missing custom search attributes; true once visibility answers a query on all of them. */
async function searchAttributesReady(address: string): Promise<boolean> {
  return withConnection(address, async (connection) => {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: NAMESPACE });
    const missing = CUSTOM_SEARCH_ATTRIBUTES.filter((key) => !(key.name in (customAttributes ?? {})));
    if (missing.length > 0) {
      await connection.operatorService.addSearchAttributes({
        namespace: NAMESPACE,
        searchAttributes: Object.fromEntries(missing.map((key) => [key.name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD])),
      });
      return false;
    }
    const query = CUSTOM_SEARCH_ATTRIBUTES.map((key) => `${key.name} = 'sandbox-probe'`).join(' AND ');
    await connection.workflowService.listWorkflowExecutions({ namespace: NAMESPACE, query, pageSize: 1 });
    return true;
  });
}

async function withConnection<T>(address: string, use: (connection: Connection) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address, connectTimeout: 1_000 });
  try {
    return await use(connection);
  } finally {
    await connection.close();
  }
}
