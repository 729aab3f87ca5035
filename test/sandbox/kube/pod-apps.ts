import { join } from 'node:path';
import type { KubeApi } from './api-proxy';

/** The tenant app of DATAPLANE.md section 1 (test/sandbox/data-plane/tenant-app.ts). */
export interface TenantAppOptions {
  tenantId: string;
  service: string;
  version: string;
  hostnames: string[];
  healthPath: string;
  logFile?: string;
}
export interface RunningTenantApp {
  port: number;
  pid: number;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}
export type StartTenantApp = (options: TenantAppOptions) => Promise<RunningTenantApp>;

/**
 * The pods this kubelet runs: the tenant template's (infra/kubernetes/tenant). kwok only starts
 * them (Running, an IP, container not ready: kwokctl.yaml, stage "pod-start-tenant-app").
 */
export const TENANT_APP_SELECTOR = 'app.kubernetes.io/name=tenant-app';

interface Probe {
  httpGet?: { path?: string };
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
}
interface Pod {
  metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { containers: { name: string; image: string; readinessProbe?: Probe }[]; readinessGates?: { conditionType: string }[] };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}

interface Entry {
  namespace: string;
  name: string;
  uid: string;
  app?: RunningTenantApp;
  starting: boolean;
  startedAt?: string;
  ready: boolean;
  failures: number;
  nextProbeAt: number;
  restarts: number;
  backoffUntil: number;
  lastExit?: { exitCode: number | null; startedAt: string; finishedAt: string };
  gone: boolean;
  /** The status last written, so an unchanged one is not written again. */
  written?: string;
}

/** kubelet's crash loop back-off: 10 s doubling up to 5 minutes (real time, as the rest of the cluster). */
const backoffMs = (restarts: number) => Math.min(10_000 * 2 ** Math.max(0, restarts - 1), 300_000);

/**
 * The sandbox's kubelet for tenant pods: each Running pod gets a real tenant app process; its
 * readiness is the pod's readinessProbe run against that process (HTTP GET, period, timeout,
 * failure threshold from the pod spec), and a process that exits puts the container into
 * CrashLoopBackOff and is restarted with kubelet's back-off. When the pod is gone, the process is
 * stopped (SIGTERM, a graceful drain) once `beforeStop` resolves: the load balancer has drained it.
 */
export class PodApps {
  private readonly pods = new Map<string, Entry>();
  /** Apps of gone pods, kept until the load balancer has drained them. */
  private readonly draining = new Set<RunningTenantApp>();

  constructor(
    private readonly options: {
      api: KubeApi;
      startApp: StartTenantApp;
      logDir: string;
      log: (line: string) => void;
      beforeStop?: (port: number) => Promise<void>;
    },
  ) {}

  /** The loopback port of the app behind pod `uid`, while its process runs. */
  portOf(uid: string): number | undefined {
    return this.pods.get(uid)?.app?.port;
  }

  async sync(): Promise<void> {
    const list = await this.options.api.request<{ items: Pod[] }>('GET', `/api/v1/pods?labelSelector=${encodeURIComponent(TENANT_APP_SELECTOR)}`);
    const live = new Set<string>();
    const work: Promise<void>[] = [];
    for (const pod of list?.items ?? []) {
      // Terminating counts as gone: its endpoint is no longer ready, and kwok deletes it at once.
      if (pod.metadata.deletionTimestamp || pod.status?.phase !== 'Running') continue;
      live.add(pod.metadata.uid);
      let entry = this.pods.get(pod.metadata.uid);
      if (!entry) {
        entry = { namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid, starting: false, ready: false, failures: 0, nextProbeAt: 0, restarts: 0, backoffUntil: 0, gone: false };
        this.pods.set(entry.uid, entry);
      }
      work.push(this.step(entry, pod));
    }
    for (const entry of this.pods.values()) if (!live.has(entry.uid)) this.retire(entry);
    await Promise.all(work);
  }

  /** Stops every process at once (the sandbox is stopping). */
  async stop(): Promise<void> {
    const entries = [...this.pods.values()];
    this.pods.clear();
    for (const entry of entries) entry.gone = true;
    const apps = [...entries.flatMap((entry) => (entry.app ? [entry.app] : [])), ...this.draining];
    this.draining.clear();
    await Promise.all(apps.map((app) => app.stop('SIGKILL')));
  }

  private async step(entry: Entry, pod: Pod): Promise<void> {
    const container = pod.spec.containers[0]!;
    const probe = container.readinessProbe ?? {};
    const now = Date.now();
    if (!entry.app && !entry.starting && now >= entry.backoffUntil) this.launch(entry, pod);
    if (entry.app && now >= entry.nextProbeAt) {
      const { port } = entry.app;
      entry.nextProbeAt = now + (probe.periodSeconds ?? 10) * 1000;
      const ok = await probeOnce(port, probe);
      if (entry.gone || entry.app?.port !== port) return;
      if (ok) {
        entry.failures = 0;
        entry.ready = true;
      } else if (++entry.failures >= (probe.failureThreshold ?? 3) || !entry.ready) {
        entry.ready = false;
      }
    }
    await this.writeStatus(entry, pod);
  }

  private launch(entry: Entry, pod: Pod): void {
    const container = pod.spec.containers[0]!;
    const tag = container.image.slice(container.image.lastIndexOf(':') + 1).replace(/@.*$/, '');
    entry.starting = true;
    const startedAt = new Date().toISOString();
    const crashed = (exitCode: number | null) => {
      entry.app = undefined;
      entry.ready = false;
      if (entry.gone) return;
      entry.restarts += 1;
      entry.backoffUntil = Date.now() + backoffMs(entry.restarts);
      entry.lastExit = { exitCode, startedAt, finishedAt: new Date().toISOString() };
      this.options.log(`pod ${entry.namespace}/${entry.name}: container ${container.name} exited with ${exitCode}; restart ${entry.restarts} in ${backoffMs(entry.restarts)} ms`);
    };
    this.options
      .startApp({
        // A green pod's instance label names its colour (infra/helm/tenant/templates/_helpers.tpl); its tenant-id label does not.
        tenantId: pod.metadata.labels?.['tenant-fleet.io/tenant-id'] ?? pod.metadata.labels?.['app.kubernetes.io/instance'] ?? entry.namespace,
        service: container.name,
        version: tag,
        hostnames: [],
        healthPath: container.readinessProbe?.httpGet?.path ?? '/',
        logFile: join(this.options.logDir, `${entry.namespace}.${entry.name}.log`),
      })
      .then(
        (app) => {
          entry.starting = false;
          if (entry.gone) {
            void app.stop();
            return;
          }
          entry.app = app;
          entry.startedAt = startedAt;
          entry.nextProbeAt = 0;
          entry.failures = 0;
          void app.exited.then((code) => {
            if (entry.app === app) crashed(code);
          });
        },
        (error: unknown) => {
          entry.starting = false;
          this.options.log(`pod ${entry.namespace}/${entry.name}: ${(error as Error).message}`);
          crashed(1);
        },
      );
  }

  private retire(entry: Entry): void {
    this.pods.delete(entry.uid);
    entry.gone = true;
    const app = entry.app;
    if (!app) return;
    this.draining.add(app);
    const drained = this.options.beforeStop?.(app.port) ?? Promise.resolve();
    void drained
      .catch((error: unknown) => this.options.log(`pod ${entry.namespace}/${entry.name}: ${(error as Error).message}; stopping its app anyway`))
      .then(() => (this.draining.delete(app) ? app.stop() : undefined));
  }

  private async writeStatus(entry: Entry, pod: Pod): Promise<void> {
    const container = pod.spec.containers[0]!;
    const now = new Date().toISOString();
    const lastState = entry.lastExit
      ? { terminated: { exitCode: entry.lastExit.exitCode ?? 137, reason: 'Error', startedAt: entry.lastExit.startedAt, finishedAt: entry.lastExit.finishedAt } }
      : {};
    const state = entry.app
      ? { running: { startedAt: entry.startedAt ?? now } }
      : entry.restarts > 0
        ? { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${backoffMs(entry.restarts) / 1000}s restarting failed container=${container.name} pod=${entry.name}` } }
        : { waiting: { reason: 'ContainerCreating' } };
    // As kubelet: the pod is Ready when its containers are and every readiness gate's condition is True.
    const closedGates = (pod.spec.readinessGates ?? [])
      .map((g) => g.conditionType)
      .filter((type) => !pod.status?.conditions?.some((c) => c.type === type && c.status === 'True'));
    const key = JSON.stringify({ ready: entry.ready, closedGates, state: Object.keys(state)[0], restarts: entry.restarts });
    if (key === entry.written) return;
    const containersNotReady = { reason: 'ContainersNotReady', message: `containers with unready status: [${container.name}]` };
    const gatesNotReady = { reason: 'ReadinessGatesNotReady', message: `corresponding condition of pod readiness gate "${closedGates[0]}" does not exist.` };
    const containersReady = { type: 'ContainersReady', status: entry.ready ? 'True' : 'False', lastTransitionTime: now, ...(entry.ready ? {} : containersNotReady) };
    const podReady = entry.ready && closedGates.length === 0;
    const ready = { type: 'Ready', status: podReady ? 'True' : 'False', lastTransitionTime: now, ...(podReady ? {} : entry.ready ? gatesNotReady : containersNotReady) };
    const status = {
      conditions: [containersReady, ready],
      containerStatuses: [
        { name: container.name, image: container.image, imageID: '', ready: entry.ready, started: entry.app !== undefined, restartCount: entry.restarts, state, lastState },
      ],
    };
    try {
      await this.options.api.request('PATCH', `/api/v1/namespaces/${entry.namespace}/pods/${entry.name}/status`, { status }, 'application/strategic-merge-patch+json');
      entry.written = key;
    } catch (error) {
      // The pod may have gone meanwhile; the next sync retries otherwise.
      this.options.log(`pod ${entry.namespace}/${entry.name}: writing its status: ${(error as Error).message}`);
    }
  }
}

async function probeOnce(port: number, probe: Probe): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${probe.httpGet?.path ?? '/'}`, { signal: AbortSignal.timeout((probe.timeoutSeconds ?? 1) * 1000) });
    await response.arrayBuffer();
    // kubelet: any status from 200 to 399 is a success.
    return response.status >= 200 && response.status < 400;
  } catch {
    return false;
  }
}
