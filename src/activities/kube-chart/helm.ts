import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { INFRA_DIR } from '../templates';

/** Where a chart comes from: a directory (or .tgz) on the worker, or an OCI reference pinned to one version. */
export type ChartSource = { path: string } | { oci: string; version: string };

/** One `--values` file, lowest first; `values` are written to a private temporary file for the run. */
export type ValuesLayer = { file: string } | { name: string; values: Record<string, unknown> };

/** Why `helm template` failed: the chart or its values (a retry renders the same), or something a retry may not meet. */
export class HelmError extends Error {
  constructor(
    message: string,
    readonly kind: 'invalid' | 'transient',
    cause?: Error,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'HelmError';
  }
}

export const describeChart = (chart: ChartSource) => ('path' in chart ? chart.path : `${chart.oci}@${chart.version}`);

/**
 * The helm binary: TENANT_FLEET_HELM when set, else the one scripts/setup-helm.sh builds into
 * .tools/bin, else `helm` on PATH (the worker image's /usr/local/bin/helm). Throws naming the
 * binary and where it was looked for, so a worker without Helm fails at start, not at its first apply.
 */
export function findHelm(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.TENANT_FLEET_HELM;
  if (explicit !== undefined && explicit !== '') {
    if (!isExecutable(explicit)) throw new Error(`TENANT_FLEET_HELM is "${explicit}", which is not an executable file; expected the path of a helm 3 binary`);
    return explicit;
  }
  const built = resolve(INFRA_DIR, '..', '.tools', 'bin', 'helm');
  if (isExecutable(built)) return built;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, 'helm'))) return join(dir, 'helm');
  }
  throw new Error(
    `helm not found (the Kubernetes worker renders the tenant chart with \`helm template\`): set TENANT_FLEET_HELM to its path, put helm on PATH, or run \`npm run setup\`, which builds it into .tools/bin`,
  );
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return existsSync(path);
  } catch {
    return false;
  }
}

export interface HelmTemplateOptions {
  helm: string;
  chart: ChartSource;
  releaseName: string;
  namespace: string;
  values: ValuesLayer[];
  timeoutMs: number;
  /** The activity's cancellation: kills helm. */
  signal?: AbortSignal;
}

/** Errors of an OCI pull that a later attempt may not meet (network, registry 5xx, throttling). */
const TRANSIENT_PULL = /dial tcp|i\/o timeout|connection refused|connection reset|no such host|TLS handshake timeout|status(?: code)? (?:429|5\d\d)|\b(?:429|50[0-4]) (?:Too Many|Internal|Bad Gateway|Service Unavailable|Gateway Timeout)/i;

/**
 * `helm template` for one release: the rendered manifests as helm prints them. Values go in
 * files in a private temporary directory (mode 0700), never on the command line, where any
 * process could read them; the directory is removed whatever happens.
 */
export async function helmTemplate(options: HelmTemplateOptions): Promise<string> {
  const { helm, chart, releaseName, namespace, timeoutMs, signal } = options;
  const release = await helmSlots.acquire(signal);
  const dir = mkdtempSync(join(tmpdir(), 'tenant-fleet-helm-'));
  try {
    const args = ['template', releaseName, 'path' in chart ? chart.path : chart.oci, '--namespace', namespace];
    if ('oci' in chart) args.push('--version', chart.version);
    options.values.forEach((layer, i) => {
      if ('file' in layer) {
        args.push('--values', layer.file);
        return;
      }
      const file = join(dir, `${String(i).padStart(2, '0')}-${layer.name.replace(/[^\w.-]+/g, '_')}.json`);
      // JSON is YAML: helm reads it as a values file.
      writeFileSync(file, JSON.stringify(layer.values), { mode: 0o600 });
      args.push('--values', file);
    });
    return await run(helm, args, { timeoutMs, signal, what: `helm template ${describeChart(chart)}`, oci: 'oci' in chart });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    release();
  }
}

/**
 * At most this many helm processes per worker process: each takes about 50 MB, and a Kubernetes
 * worker runs up to 200 activities at once (a fleet-wide provisioning would otherwise start 200
 * helms inside a 768Mi pod). A render takes a fraction of a second, so the queue drains fast.
 */
export const MAX_CONCURRENT_HELM = 4;

class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = size;
  }

  /** Resolves with the function that gives the slot back; rejects if `signal` aborts first. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.free > 0) {
      this.free--;
    } else {
      await new Promise<void>((resolve, reject) => {
        const wake = () => {
          signal?.removeEventListener('abort', abort);
          resolve();
        };
        const abort = () => {
          const at = this.waiting.indexOf(wake);
          if (at !== -1) this.waiting.splice(at, 1);
          reject(signal?.reason instanceof Error ? signal.reason : new Error('cancelled while waiting to run helm'));
        };
        if (signal?.aborted) return abort();
        this.waiting.push(wake);
        signal?.addEventListener('abort', abort, { once: true });
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}

const helmSlots = new Slots(MAX_CONCURRENT_HELM);

function run(helm: string, args: string[], { timeoutMs, signal, what, oci }: { timeoutMs: number; signal?: AbortSignal; what: string; oci: boolean }): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(helm, args, { signal, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', killSignal: 'SIGKILL', timeout: timeoutMs }, (error, stdout, stderr) => {
      if (!error) {
        resolvePromise(stdout);
        return;
      }
      if (signal?.aborted) {
        // Cancellation: the activity's own reason, not a helm failure.
        reject(signal.reason instanceof Error ? signal.reason : new Error(`${what}: cancelled`, { cause: error }));
        return;
      }
      const spawnError = error as NodeJS.ErrnoException & { killed?: boolean };
      if (spawnError.code === 'ENOENT' || spawnError.code === 'EACCES') {
        reject(new HelmError(`${what}: cannot run helm at "${helm}" (${spawnError.code}); set TENANT_FLEET_HELM or install helm on the worker`, 'invalid', error));
        return;
      }
      if (spawnError.killed) {
        reject(new HelmError(`${what}: no result within ${timeoutMs} ms`, 'transient', error));
        return;
      }
      const message = helmMessage(stderr);
      reject(new HelmError(`${what}: ${message}`, oci && TRANSIENT_PULL.test(message) ? 'transient' : 'invalid', error));
    });
  });
}

/** helm's own error lines, without its usage text; long outputs are cut to their first lines. */
function helmMessage(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '' && !/^Use "helm .* --help"/.test(l));
  const text = lines.slice(0, 20).join('\n').replace(/^Error: /, '');
  return text || '(helm printed no error)';
}
