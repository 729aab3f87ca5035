import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startMigrationProcess, type MigrationProcess } from '../data-plane/migration-task';
import type { KubeApi } from './api-proxy';

/** A release's migration pods (src/activities/runtime/kubernetes-migration.ts); kwok only starts them (kwokctl.yaml, "pod-start-tenant-app"). */
export const MIGRATION_SELECTOR = 'app.kubernetes.io/name=tenant-migration';
/** kubelet's limits on a termination message: 4096 bytes; the log fallback, 80 lines or 2048 bytes. */
const MESSAGE_MAX_BYTES = 4096;
const FALLBACK_LINES = 80;
const FALLBACK_BYTES = 2048;

interface Pod {
  metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { containers: { name: string; image: string; command?: string[]; terminationMessagePolicy?: string }[] };
  status?: { phase?: string };
}

interface Run {
  process: MigrationProcess;
  startedAt: string;
  messagePath: string;
}

/**
 * The sandbox's kubelet for migration pods: runs the first container's command as a real process
 * (data-plane/migration-task.ts), then ends the pod `Succeeded` or `Failed` with the container's
 * exit code and its termination message, filled as a kubelet fills it: the file the container
 * wrote at its terminationMessagePath, and with `FallbackToLogsOnError`, when that is empty and
 * the container failed, the end of its log (80 lines or 2 KiB). There is no log endpoint: the
 * sandbox has no kubelet API (docs/sandbox.md, "Migrations").
 */
export class MigrationPods {
  private readonly runs = new Map<string, Run>();
  private readonly ended = new Set<string>();

  constructor(private readonly options: { api: KubeApi; workDir: string; log: (line: string) => void }) {
    mkdirSync(options.workDir, { recursive: true });
  }

  async sync(): Promise<void> {
    const list = await this.options.api.request<{ items: Pod[] }>('GET', `/api/v1/pods?labelSelector=${encodeURIComponent(MIGRATION_SELECTOR)}`);
    const live = new Set<string>();
    for (const pod of list?.items ?? []) {
      const uid = pod.metadata.uid;
      if (pod.metadata.deletionTimestamp) continue;
      live.add(uid);
      if (pod.status?.phase !== 'Running' || this.runs.has(uid) || this.ended.has(uid)) continue;
      this.start(pod);
    }
    // A pod deleted while it runs (the Job's deadline, a deleted Job): its container is killed.
    for (const [uid, run] of this.runs) {
      if (live.has(uid)) continue;
      run.process.kill();
      this.runs.delete(uid);
    }
  }

  async stop(): Promise<void> {
    const runs = [...this.runs.values()];
    this.runs.clear();
    for (const run of runs) run.process.kill();
    await Promise.all(runs.map((run) => run.process.exited));
  }

  private start(pod: Pod): void {
    const { namespace, name, uid } = pod.metadata;
    const container = pod.spec.containers[0]!;
    const tag = container.image.slice(container.image.lastIndexOf(':') + 1).replace(/@.*$/, '');
    const messagePath = join(this.options.workDir, `${namespace}.${name}.termination-log`);
    rmSync(messagePath, { force: true });
    const process = startMigrationProcess({
      tenantId: pod.metadata.labels?.['app.kubernetes.io/instance'] ?? namespace,
      version: tag,
      command: container.command ?? [],
      terminationMessagePath: messagePath,
    });
    const run: Run = { process, startedAt: new Date().toISOString(), messagePath };
    this.runs.set(uid, run);
    this.options.log(`pod ${namespace}/${name}: running ${(container.command ?? []).join(' ')} (${tag})`);
    void process.exited.then(async ({ exitCode, lines }) => {
      if (this.runs.get(uid) !== run) return;
      const written = readMessage(messagePath);
      rmSync(messagePath, { force: true });
      const message = written || (container.terminationMessagePolicy === 'FallbackToLogsOnError' && exitCode !== 0 ? logTail(lines.map((l) => l.line)) : '');
      const finishedAt = new Date().toISOString();
      const status = {
        phase: exitCode === 0 ? 'Succeeded' : 'Failed',
        conditions: [
          { type: 'ContainersReady', status: 'False', reason: 'PodCompleted', lastTransitionTime: finishedAt },
          { type: 'Ready', status: 'False', reason: 'PodCompleted', lastTransitionTime: finishedAt },
        ],
        containerStatuses: [
          {
            name: container.name,
            image: container.image,
            imageID: '',
            ready: false,
            started: false,
            restartCount: 0,
            state: { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', ...(message ? { message } : {}), startedAt: run.startedAt, finishedAt } },
          },
        ],
      };
      try {
        await this.options.api.request('PATCH', `/api/v1/namespaces/${namespace}/pods/${name}/status`, { status }, 'application/strategic-merge-patch+json');
        this.options.log(`pod ${namespace}/${name}: exited with ${exitCode}`);
        this.ended.add(uid);
      } catch (error) {
        this.options.log(`pod ${namespace}/${name}: writing its end (exit ${exitCode}): ${(error as Error).message}`);
      } finally {
        this.runs.delete(uid);
      }
    });
  }
}

function readMessage(path: string): string {
  try {
    return Buffer.from(readFileSync(path)).subarray(0, MESSAGE_MAX_BYTES).toString('utf8');
  } catch {
    return '';
  }
}

/** The end of a container's log as kubelet's fallback takes it: the last 80 lines, at most the last 2 KiB of them. */
function logTail(lines: string[]): string {
  const text = lines.slice(-FALLBACK_LINES).join('\n');
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length <= FALLBACK_BYTES ? text : bytes.subarray(bytes.length - FALLBACK_BYTES).toString('utf8');
}
