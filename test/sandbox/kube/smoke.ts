/**
 * Smoke test of the sandbox Kubernetes cluster:
 *
 *   npx tsx test/sandbox/kube/smoke.ts [--keep] [--work-dir DIR] [--name NAME] [--repo-root DIR]
 *
 * Starts the cluster, rolls out a 3-replica nginx:1.27 Deployment (must succeed), switches it to
 * nginx:1.27-broken (must fail its 15 s progress deadline with ProgressDeadlineExceeded while the
 * new pod crash-loops), stops the cluster and checks that none of its processes is left.
 * With --keep it leaves the cluster running until Ctrl-C. Exits 0 only when all of that held.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { isProcessRunning, startKubeCluster, stopOnSignals } from './cluster';

const DEPLOYMENT = (image: string): string =>
  JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'smoke', namespace: 'default' },
    spec: {
      replicas: 3,
      progressDeadlineSeconds: 15,
      selector: { matchLabels: { app: 'smoke' } },
      template: {
        metadata: { labels: { app: 'smoke' } },
        spec: { containers: [{ name: 'web', image, ports: [{ containerPort: 80 }] }] },
      },
    },
  });

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const repoRoot = resolve(flag('--repo-root') ?? process.cwd());
  if (!existsSync(join(repoRoot, 'test/sandbox/kube/kwokctl.yaml'))) {
    throw new Error(`${repoRoot} is not the repository root: run from there or pass --repo-root`);
  }
  const workDir = resolve(flag('--work-dir') ?? join(repoRoot, '.sandbox/kube'));
  const name = flag('--name') ?? 'smoke';
  const started = Date.now();
  const log = (line: string): void => console.log(`${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s ${line}`);

  const cluster = await startKubeCluster({ repoRoot, workDir, name, log });
  stopOnSignals(cluster);
  const failures: string[] = [];
  const check = (ok: boolean, what: string): void => {
    log(`${ok ? 'PASS' : 'FAIL'} ${what}`);
    if (!ok) failures.push(what);
  };

  try {
    log(`kubeconfig: ${cluster.kubeconfigPath}  api: ${cluster.apiServerUrl}`);
    log(await cluster.kubectl(['get', 'nodes', '-o', 'wide']));

    await cluster.kubectl(['apply', '-f', '-'], { input: DEPLOYMENT('nginx:1.27') });
    const good = await cluster
      .kubectl(['rollout', 'status', 'deployment/smoke', '--timeout=90s'], { timeoutMs: 100_000 })
      .then((out) => ({ ok: true, out }), (err: unknown) => ({ ok: false, out: String(err) }));
    log(good.out.trim());
    check(good.ok, 'rollout of nginx:1.27 succeeds');
    log(await cluster.kubectl(['get', 'deploy,rs,pods', '-o', 'wide']));
    const status = JSON.parse(await cluster.kubectl(['get', 'deployment', 'smoke', '-o', 'json'])) as DeploymentJson;
    check(
      status.status.availableReplicas === 3 && status.status.observedGeneration === status.metadata.generation,
      `deployment Available with 3 replicas, observedGeneration ${status.status.observedGeneration} = generation ${status.metadata.generation}`,
    );

    await cluster.kubectl(['set', 'image', 'deployment/smoke', 'web=nginx:1.27-broken']);
    const bad = await cluster
      .kubectl(['rollout', 'status', 'deployment/smoke', '--timeout=60s'], { timeoutMs: 70_000 })
      .then((out) => ({ ok: true, out }), (err: unknown) => ({ ok: false, out: String(err) }));
    log(bad.out.trim());
    check(!bad.ok, 'rollout of nginx:1.27-broken fails');
    const after = JSON.parse(await cluster.kubectl(['get', 'deployment', 'smoke', '-o', 'json'])) as DeploymentJson;
    const progressing = after.status.conditions?.find((c) => c.type === 'Progressing');
    check(
      progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded',
      `Progressing=${progressing?.status} reason=${progressing?.reason}`,
    );
    check(after.status.availableReplicas === 3, `old ReplicaSet keeps serving: availableReplicas=${after.status.availableReplicas}`);
    const pods = await cluster.kubectl([
      'get',
      'pods',
      '-l',
      'app=smoke',
      '-o',
      'custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[0].image,PHASE:.status.phase,READY:.status.containerStatuses[0].ready,RESTARTS:.status.containerStatuses[0].restartCount,STATE:.status.containerStatuses[0].state.waiting.reason',
    ]);
    log(pods);
    check(/-broken\s+Running\s+false\s+[1-9]\d*\s+CrashLoopBackOff/.test(pods), 'the broken pod is Running, not ready, restarting, CrashLoopBackOff');
    log(await cluster.kubectl(['get', 'events', '--field-selector', 'reason=BackOff', '-o', 'custom-columns=OBJECT:.involvedObject.name,REASON:.reason,COUNT:.count,MESSAGE:.message']));

    if (args.includes('--keep')) {
      log(`--keep: cluster left running; export KUBECONFIG=${cluster.kubeconfigPath}; Ctrl-C stops it`);
      await new Promise<never>(() => setInterval(() => undefined, 1 << 30)); // until stopOnSignals exits
    }
  } finally {
    const pids = componentPids(cluster.clusterDir);
    await cluster.stop();
    const alive = pids.filter(isProcessRunning);
    check(pids.length === 5 && alive.length === 0, `after stop: ${pids.length} component processes, ${alive.length} still alive`);
  }

  log(failures.length === 0 ? 'smoke: all checks passed' : `smoke: ${failures.length} check(s) failed`);
  process.exitCode = failures.length === 0 ? 0 : 1;
}

interface DeploymentJson {
  metadata: { generation: number };
  status: {
    observedGeneration?: number;
    availableReplicas?: number;
    conditions?: { type: string; status: string; reason?: string }[];
  };
}

function componentPids(clusterDir: string): number[] {
  try {
    return readdirSync(join(clusterDir, 'pids')).map((f) => Number(readFileSync(join(clusterDir, 'pids', f), 'utf8').trim()));
  } catch {
    return [];
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
