import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, type ManagedProcess } from '../process';
import { waitUntil } from '../wait';

/**
 * `kubectl proxy` on a free loopback port: the sandbox's own controllers (data-plane.ts) talk
 * plain HTTP to it with the cluster admin's kubeconfig, so they depend neither on the product's
 * Kubernetes client (the code under test) nor on the kubeconfig's credential format.
 */
export interface KubeApi {
  url: string;
  request<T>(method: 'GET' | 'PATCH' | 'PUT', path: string, body?: unknown, contentType?: string): Promise<T | undefined>;
  stop(): Promise<void>;
}

export async function startKubeApiProxy({ kubectl, kubeconfig, workDir }: { kubectl: string; kubeconfig: string; workDir: string }): Promise<KubeApi> {
  const logPath = join(workDir, 'kubectl-proxy.log');
  const proxy: ManagedProcess = startProcess({
    name: 'kubectl proxy',
    command: kubectl,
    args: ['--kubeconfig', kubeconfig, 'proxy', '--address=127.0.0.1', '--port=0', '--disable-filter=false'],
    logPath,
    pidPath: join(workDir, 'kubectl-proxy.pid'),
  });
  let url = '';
  try {
    await waitUntil(
      'kubectl proxy to listen',
      async () => {
        const match = /Starting to serve on (127\.0\.0\.1:\d+)/.exec(readFileSync(logPath, 'utf8'));
        if (match) url = `http://${match[1]}`;
        return Promise.resolve(match !== null);
      },
      { intervalMs: 50, timeoutMs: 15_000, isAlive: () => proxy.isAlive() },
    );
  } catch (error) {
    await proxy.stop();
    throw new Error(`${(error as Error).message}: ${proxy.tail()}`, { cause: error });
  }

  return {
    url,
    async request<T>(method: 'GET' | 'PATCH' | 'PUT', path: string, body?: unknown, contentType = 'application/json'): Promise<T | undefined> {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': contentType },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
      if (response.status === 404) return undefined;
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text.slice(0, 300)}`);
      return JSON.parse(text) as T;
    },
    stop: () => proxy.stop(),
  };
}
