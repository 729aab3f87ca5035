import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

export interface KubeErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The API server's own answer under API Priority and Fairness: a Status object, 429 and Retry-After. */
export function kubeThrottle(retryAfterSeconds = 1): KubeErrorAnswer {
  return status(429, 'TooManyRequests', 'Too many requests, please try again later.', { 'retry-after': String(retryAfterSeconds) }, { retryAfterSeconds });
}

/** What an overloaded or restarting API server (or the load balancer in front of it) answers. */
export function kubeServerError(): KubeErrorAnswer {
  return status(503, 'ServiceUnavailable', 'the server is currently unable to handle the request', {}, undefined);
}

function status(code: number, reason: string, message: string, headers: Record<string, string>, details: object | undefined): KubeErrorAnswer {
  return {
    status: code,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code }),
  };
}

/** What the proxy needs to stand in for the API server: its own serving certificate and the way upstream. */
export interface KubeProxyTls {
  /** Serving certificate for 127.0.0.1, signed by the cluster's CA so clients keep verifying it. */
  cert: Buffer;
  key: Buffer;
  /** Upstream: the real API server, its CA and the kubeconfig's client certificate. */
  upstream: string;
  ca: Buffer;
  clientCert: Buffer;
  clientKey: Buffer;
}

interface Kubeconfig {
  clusters: { name: string; cluster: { server: string; 'certificate-authority'?: string } }[];
  users: { name: string; user: { 'client-certificate'?: string; 'client-key'?: string } }[];
  [key: string]: unknown;
}

/**
 * The proxy terminates TLS (an HTTP-level fault like a 429 needs to see requests) and
 * re-originates it with the kubeconfig's admin client certificate. Its serving certificate
 * is issued here with openssl from the sandbox cluster's CA key (kwokctl leaves `pki/ca.key`
 * beside the kubeconfig), so clients go on verifying the server against the same CA.
 */
export function kubeProxyTls(kubeconfigPath: string, workDir: string): KubeProxyTls {
  const config = parseYaml(readFileSync(kubeconfigPath, 'utf8')) as Kubeconfig;
  const cluster = config.clusters[0]?.cluster;
  const user = config.users[0]?.user;
  const caPath = cluster?.['certificate-authority'];
  if (!cluster || !caPath || !user?.['client-certificate'] || !user['client-key']) {
    throw new Error(`${kubeconfigPath}: expected a cluster with certificate-authority and a user with client-certificate and client-key (the sandbox's kwok kubeconfig)`);
  }
  const caKey = join(caPath, '..', 'ca.key');
  if (!existsSync(caKey)) throw new Error(`${caKey}: the cluster CA's key is needed to issue the fault proxy's serving certificate`);
  mkdirSync(workDir, { recursive: true });
  const keyPath = join(workDir, 'proxy.key');
  const csrPath = join(workDir, 'proxy.csr');
  const certPath = join(workDir, 'proxy.crt');
  const extPath = join(workDir, 'proxy.ext');
  writeFileSync(extPath, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', csrPath, '-subj', '/CN=tenant-fleet-fault-proxy']);
  openssl(['x509', '-req', '-in', csrPath, '-CA', caPath, '-CAkey', caKey, '-CAcreateserial', '-CAserial', join(workDir, 'ca.srl'), '-out', certPath, '-days', '7', '-extfile', extPath]);
  return {
    cert: readFileSync(certPath),
    key: readFileSync(keyPath),
    upstream: cluster.server,
    ca: readFileSync(caPath),
    clientCert: readFileSync(user['client-certificate']),
    clientKey: readFileSync(user['client-key']),
  };
}

/** A copy of the kubeconfig whose server is the proxy; certificates and user are unchanged. */
export function writeProxiedKubeconfig(kubeconfigPath: string, proxyUrl: string, outPath: string): string {
  const config = parseYaml(readFileSync(kubeconfigPath, 'utf8')) as Kubeconfig;
  for (const c of config.clusters) c.cluster.server = proxyUrl;
  writeFileSync(outPath, stringifyYaml(config));
  return outPath;
}
