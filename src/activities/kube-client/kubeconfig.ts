import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseOrThrow } from '../../shared/validation';

/** Everything needed to reach one API server: where, how to trust it, who we are. */
export interface KubeConnection {
  /** e.g. `https://10.0.0.1:443`, without a trailing slash. */
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** A fixed bearer token (kubeconfig `token`). */
  token?: string;
  /** A bearer token re-read from this file, because projected service account tokens rotate. */
  tokenFile?: string;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
  /** Where this came from, for error messages: `kubeconfig /x/y (context c)` or `in-cluster service account`. */
  source: string;
}

export interface KubeconfigSource {
  /** Path to a kubeconfig file; without it, the in-cluster service account is used. */
  kubeconfig?: string;
  /** A context name; without it, the file's `current-context`. */
  context?: string;
}

/** Where a pod finds its service account; overridable so tests need not be inside a cluster. */
export interface InClusterEnvironment {
  env: NodeJS.ProcessEnv;
  serviceAccountDir: string;
}

const DEFAULT_IN_CLUSTER: InClusterEnvironment = {
  env: process.env,
  serviceAccountDir: '/var/run/secrets/kubernetes.io/serviceaccount',
};

const clusterSchema = z.object({
  server: z.url({ message: 'expected the API server URL, such as "https://10.0.0.1:6443"' }),
  'certificate-authority': z.string().min(1).optional(),
  'certificate-authority-data': z.string().min(1).optional(),
  'insecure-skip-tls-verify': z.boolean().optional(),
  'tls-server-name': z.string().min(1).optional(),
});

const userSchema = z.object({
  'client-certificate': z.string().min(1).optional(),
  'client-certificate-data': z.string().min(1).optional(),
  'client-key': z.string().min(1).optional(),
  'client-key-data': z.string().min(1).optional(),
  token: z.string().min(1).optional(),
  tokenFile: z.string().min(1).optional(),
  // Recognised only to refuse them with a clear message: running plugins is out of scope for the workers.
  exec: z.unknown().optional(),
  'auth-provider': z.unknown().optional(),
  username: z.string().optional(),
});

const contextSchema = z.object({
  cluster: z.string().min(1),
  user: z.string().min(1),
  namespace: z.string().optional(),
});

const kubeconfigSchema = z.object({
  clusters: z.array(z.object({ name: z.string().min(1), cluster: clusterSchema })).default([]),
  users: z.array(z.object({ name: z.string().min(1), user: userSchema.default({}) })).default([]),
  contexts: z.array(z.object({ name: z.string().min(1), context: contextSchema })).default([]),
  'current-context': z.string().optional(),
});

/** Resolves a cluster's connection from a kubeconfig file, or from the pod's service account when none is given. */
export function loadKubeConnection(source: KubeconfigSource, inCluster: InClusterEnvironment = DEFAULT_IN_CLUSTER): KubeConnection {
  return source.kubeconfig === undefined ? inClusterConnection(inCluster) : kubeconfigConnection(source.kubeconfig, source.context);
}

export function kubeconfigConnection(path: string, contextName?: string): KubeConnection {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new Error(`cannot read kubeconfig "${path}": ${(cause as Error).message}`, { cause });
  }
  return parseKubeconfig(text, { path, context: contextName });
}

/** Parses kubeconfig text; `path` resolves relative file references the way kubectl does (against the file's folder). */
export function parseKubeconfig(text: string, { path, context: contextName }: { path: string; context?: string }): KubeConnection {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (cause) {
    throw new Error(`kubeconfig "${path}" is not valid YAML: ${(cause as Error).message}`, { cause });
  }
  const config = parseOrThrow(kubeconfigSchema, raw, `kubeconfig "${path}"`);
  const wanted = contextName ?? config['current-context'];
  if (!wanted) {
    throw new Error(`kubeconfig "${path}" has no current-context; set "context" for this cluster in the fleet config (contexts: ${list(config.contexts)})`);
  }
  const context = config.contexts.find((c) => c.name === wanted)?.context;
  if (!context) throw new Error(`kubeconfig "${path}" has no context "${wanted}"; expected one of: ${list(config.contexts)}`);
  const cluster = config.clusters.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster) throw new Error(`kubeconfig "${path}", context "${wanted}": cluster "${context.cluster}" is not defined; expected one of: ${list(config.clusters)}`);
  const user = config.users.find((u) => u.name === context.user)?.user;
  if (!user) throw new Error(`kubeconfig "${path}", context "${wanted}": user "${context.user}" is not defined; expected one of: ${list(config.users)}`);
  const where = `kubeconfig "${path}" (context "${wanted}", user "${context.user}")`;
  if (user.exec !== undefined || user['auth-provider'] !== undefined) {
    throw new Error(`${where} authenticates with an exec or auth-provider plugin, which tenant-fleet workers do not run; use a client certificate, a token or a tokenFile`);
  }

  const base = dirname(path);
  const file = (field: string, value: string | undefined): Buffer | undefined => (value === undefined ? undefined : readReferenced(where, field, value, base));
  const data = (field: string, value: string | undefined): Buffer | undefined => (value === undefined ? undefined : decodeBase64(where, field, value));

  const connection: KubeConnection = {
    server: cluster.server.replace(/\/+$/, ''),
    // kubectl gives the inline data precedence over the file when both are present.
    ca: data('certificate-authority-data', cluster['certificate-authority-data']) ?? file('certificate-authority', cluster['certificate-authority']),
    cert: data('client-certificate-data', user['client-certificate-data']) ?? file('client-certificate', user['client-certificate']),
    key: data('client-key-data', user['client-key-data']) ?? file('client-key', user['client-key']),
    token: user.token,
    tokenFile: user.tokenFile === undefined ? undefined : absolute(user.tokenFile, base),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] ?? false,
    tlsServerName: cluster['tls-server-name'],
    source: where,
  };
  if ((connection.cert === undefined) !== (connection.key === undefined)) {
    throw new Error(`${where}: a client certificate needs its key and a key its certificate (got ${connection.cert ? 'a certificate only' : 'a key only'})`);
  }
  if (connection.tokenFile !== undefined && !existsSync(connection.tokenFile)) {
    throw new Error(`${where}: tokenFile "${connection.tokenFile}" does not exist`);
  }
  return connection;
}

/** The pod's own service account, as client-go's rest.InClusterConfig finds it. */
export function inClusterConnection({ env, serviceAccountDir }: InClusterEnvironment = DEFAULT_IN_CLUSTER): KubeConnection {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new Error(
      `no kubeconfig given and not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST=${JSON.stringify(host ?? null)}, KUBERNETES_SERVICE_PORT=${JSON.stringify(port ?? null)}): set "kubeconfig" for this cluster in the fleet config`,
    );
  }
  const tokenFile = join(serviceAccountDir, 'token');
  const caFile = join(serviceAccountDir, 'ca.crt');
  const where = `in-cluster service account (${serviceAccountDir})`;
  if (!existsSync(tokenFile)) throw new Error(`${where}: ${tokenFile} does not exist; is a service account token mounted into this pod?`);
  return {
    // An IPv6 service host needs brackets in a URL.
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: readReferenced(where, 'ca.crt', caFile, serviceAccountDir),
    tokenFile,
    insecureSkipTlsVerify: false,
    source: where,
  };
}

function readReferenced(where: string, field: string, value: string, base: string): Buffer {
  const path = absolute(value, base);
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new Error(`${where}: cannot read ${field} "${path}": ${(cause as Error).message}`, { cause });
  }
}

function decodeBase64(where: string, field: string, value: string): Buffer {
  const compact = value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
    throw new Error(`${where}: ${field} is not base64 (got "${value.slice(0, 20)}${value.length > 20 ? '...' : ''}")`);
  }
  return Buffer.from(compact, 'base64');
}

const absolute = (path: string, base: string) => (isAbsolute(path) ? path : join(base, path));
const list = (items: { name: string }[]) => items.map((i) => `"${i.name}"`).join(', ') || '(none)';
