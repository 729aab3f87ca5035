import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { KubeConfig, type Cluster, type User } from '@kubernetes/client-node';
import { z } from 'zod';
import { parseOrThrow } from '../../shared/validation';

/**
 * A cluster as the official client reaches it: its KubeConfig holds exactly one context (the
 * chosen one), with file references made absolute, so nothing depends on the working directory.
 */
export interface KubeAccess {
  config: KubeConfig;
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

const execSchema = z.object({
  apiVersion: z.string().regex(/^client\.authentication\.k8s\.io\/v1(beta1)?$/, 'expected "client.authentication.k8s.io/v1" or "client.authentication.k8s.io/v1beta1"'),
  command: z.string().min(1, 'expected the credential plugin to run, such as "aws"'),
  args: z.array(z.string()).nullish(),
  env: z.array(z.object({ name: z.string().min(1), value: z.string() })).nullish(),
});

const userSchema = z.object({
  'client-certificate': z.string().min(1).optional(),
  'client-certificate-data': z.string().min(1).optional(),
  'client-key': z.string().min(1).optional(),
  'client-key-data': z.string().min(1).optional(),
  token: z.string().min(1).optional(),
  tokenFile: z.string().min(1).optional(),
  /** A credential plugin (`aws eks get-token`, `gke-gcloud-auth-plugin`): the official client runs it and caches its token until it expires. */
  exec: execSchema.optional(),
  'auth-provider': z.object({ name: z.string().min(1), config: z.record(z.string(), z.string()).optional() }).optional(),
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

/** Resolves a cluster's access from a kubeconfig file, or from the pod's service account when none is given. */
export function loadKubeAccess(source: KubeconfigSource, inCluster: InClusterEnvironment = DEFAULT_IN_CLUSTER): KubeAccess {
  return source.kubeconfig === undefined ? inClusterAccess(inCluster) : kubeconfigAccess(source.kubeconfig, source.context);
}

export function kubeconfigAccess(path: string, contextName?: string): KubeAccess {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new Error(`cannot read kubeconfig "${path}": ${(cause as Error).message}`, { cause });
  }
  return parseKubeconfig(text, { path, context: contextName });
}

/**
 * Validates kubeconfig text (each problem named by its field, before anything connects) and hands
 * the chosen context to the official client. `path` resolves relative file references the way
 * kubectl does (against the file's folder), and so does an exec plugin's command given as a path.
 */
export function parseKubeconfig(text: string, { path, context: contextName }: { path: string; context?: string }): KubeAccess {
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

  const base = dirname(path);
  // Files are checked now so a typo fails the worker's start, not its first activity; the client re-reads them per request.
  const file = (field: string, value: string | undefined): string | undefined => (value === undefined ? undefined : readable(where, field, absolute(value, base)));
  const data = (field: string, value: string | undefined): string | undefined => (value === undefined ? undefined : base64(where, field, value));

  const hasCert = user['client-certificate-data'] !== undefined || user['client-certificate'] !== undefined;
  const hasKey = user['client-key-data'] !== undefined || user['client-key'] !== undefined;
  if (hasCert !== hasKey) {
    throw new Error(`${where}: a client certificate needs its key and a key its certificate (got ${hasCert ? 'a certificate only' : 'a key only'})`);
  }
  const tokenFile = user.tokenFile === undefined ? undefined : absolute(user.tokenFile, base);
  if (tokenFile !== undefined && !existsSync(tokenFile)) throw new Error(`${where}: tokenFile "${tokenFile}" does not exist`);

  const clusterEntry: Cluster = {
    name: context.cluster,
    server: cluster.server.replace(/\/+$/, ''),
    // kubectl gives the inline data precedence over the file when both are present; so does the official client.
    caData: data('certificate-authority-data', cluster['certificate-authority-data']),
    caFile: cluster['certificate-authority-data'] === undefined ? file('certificate-authority', cluster['certificate-authority']) : undefined,
    skipTLSVerify: cluster['insecure-skip-tls-verify'] ?? false,
    tlsServerName: cluster['tls-server-name'],
  };
  const userEntry: User = {
    name: context.user,
    certData: data('client-certificate-data', user['client-certificate-data']),
    certFile: user['client-certificate-data'] === undefined ? file('client-certificate', user['client-certificate']) : undefined,
    keyData: data('client-key-data', user['client-key-data']),
    keyFile: user['client-key-data'] === undefined ? file('client-key', user['client-key']) : undefined,
    token: user.token,
    exec: user.exec && {
      ...user.exec,
      // kubectl runs a command given as a relative path from the kubeconfig's folder, and a bare name from PATH.
      command: user.exec.command.includes('/') ? absolute(user.exec.command, base) : user.exec.command,
      args: user.exec.args ?? [],
      env: user.exec.env ?? undefined,
    },
    // The official client reads kubeconfig's `tokenFile` only through this provider, which re-reads it as projected tokens rotate.
    authProvider: tokenFile !== undefined ? { name: 'tokenFile', config: { tokenFile } } : user['auth-provider'],
  };
  return { config: singleContext(clusterEntry, userEntry, wanted, context.namespace), source: where };
}

/** The pod's own service account, as client-go's rest.InClusterConfig finds it. */
export function inClusterAccess({ env, serviceAccountDir }: InClusterEnvironment = DEFAULT_IN_CLUSTER): KubeAccess {
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
  // What the official client's loadFromCluster builds, but from the given environment so it can be tested outside a pod.
  const config = singleContext(
    // An IPv6 service host needs brackets in a URL.
    { name: 'inCluster', server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`, caFile: readable(where, 'ca.crt', caFile), skipTLSVerify: false },
    { name: 'inClusterUser', authProvider: { name: 'tokenFile', config: { tokenFile } } },
    'inClusterContext',
  );
  return { config, source: where };
}

function singleContext(cluster: Cluster, user: User, contextName: string, namespace?: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({ clusters: [cluster], users: [user], contexts: [{ name: contextName, cluster: cluster.name, user: user.name, namespace }], currentContext: contextName });
  return config;
}

function readable(where: string, field: string, path: string): string {
  try {
    accessSync(path, constants.R_OK);
  } catch (cause) {
    throw new Error(`${where}: cannot read ${field} "${path}": ${(cause as Error).message}`, { cause });
  }
  return path;
}

/** Checked here because the official client would decode garbage silently and fail in the TLS handshake. */
function base64(where: string, field: string, value: string): string {
  const compact = value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
    throw new Error(`${where}: ${field} is not base64 (got "${value.slice(0, 20)}${value.length > 20 ? '...' : ''}")`);
  }
  return compact;
}

const absolute = (path: string, base: string) => (isAbsolute(path) ? path : join(base, path));
const list = (items: { name: string }[]) => items.map((i) => `"${i.name}"`).join(', ') || '(none)';
