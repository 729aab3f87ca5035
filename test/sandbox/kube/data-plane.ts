import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { AwsCredentialIdentity } from '@smithy/types';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startKubeApiProxy } from './api-proxy';
import { MigrationPods } from './migration-pods';
import { PodApps, type StartTenantApp } from './pod-apps';
import { TargetGroupBindings } from './target-group-binding';

export interface KubeDataPlaneOptions {
  kubectl: string;
  /** The cluster admin's kubeconfig (never the fault proxy's). */
  kubeconfig: string;
  workDir: string;
  awsEndpoint: string;
  /** The sandbox administrator's session in an account (aws-baseline.ts, adminCredentials). */
  adminCredentials: (accountId: string) => Promise<AwsCredentialIdentity>;
  startApp: StartTenantApp;
  intervalMs?: number;
}

export interface KubeDataPlane {
  pods: PodApps;
  bindings: TargetGroupBindings;
  logPath: string;
  stop(): Promise<void>;
}

/**
 * What the sandbox cluster lacks for traffic (test/sandbox/kube/README.md, "Data plane"): a
 * kubelet for tenant pods (PodApps: a tenant app process per pod, readiness from its probe) and
 * the AWS Load Balancer Controller's TargetGroupBinding reconciler (TargetGroupBindings: Ready
 * endpoints as moto ELBv2 targets), and a kubelet for a release's migration pods (MigrationPods).
 * They poll the API; their lines go to `<workDir>/data-plane.log`.
 */
export async function startKubeDataPlane(options: KubeDataPlaneOptions): Promise<KubeDataPlane> {
  mkdirSync(options.workDir, { recursive: true });
  const logPath = join(options.workDir, 'data-plane.log');
  const log = (line: string) => appendFileSync(logPath, `${new Date().toISOString()} ${line}\n`);
  const api = await startKubeApiProxy({ kubectl: options.kubectl, kubeconfig: options.kubeconfig, workDir: options.workDir });

  const clients = new Map<string, Promise<ElasticLoadBalancingV2Client>>();
  const elbv2For = (arn: string) => {
    const [, , , region, account] = arn.split(':');
    const key = `${account}/${region}`;
    let client = clients.get(key);
    if (!client) {
      client = Promise.resolve(
        new ElasticLoadBalancingV2Client({
          region,
          endpoint: options.awsEndpoint,
          // A provider, so the SDK assumes the role again before the session expires.
          credentials: () => options.adminCredentials(account!),
          maxAttempts: 2,
        }),
      );
      clients.set(key, client);
    }
    return client;
  };

  const holder: { bindings?: TargetGroupBindings } = {};
  const pods = new PodApps({ api, startApp: options.startApp, logDir: join(options.workDir, 'apps'), log, beforeStop: (port) => holder.bindings?.released(port) ?? Promise.resolve() });
  const bindings = new TargetGroupBindings({ api, elbv2For, podPort: (uid) => pods.portOf(uid), log });
  holder.bindings = bindings;
  const migrations = new MigrationPods({ api, workDir: join(options.workDir, 'migrations'), log });

  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        // Pods first: a gone pod's port stays known to the bindings until they have drained it.
        await pods.sync();
        await bindings.sync();
      } catch (error) {
        log(`sync: ${(error as Error).message}`);
      }
      await migrations.sync().catch((error: unknown) => log(`migration pods: ${(error as Error).message}`));
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 300));
    }
  })();

  return {
    pods,
    bindings,
    logPath,
    async stop() {
      running = false;
      await loop;
      bindings.close();
      await pods.stop();
      await migrations.stop();
      for (const client of clients.values()) (await client).destroy();
      await api.stop();
    },
  };
}
