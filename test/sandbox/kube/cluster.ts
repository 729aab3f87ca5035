/**
 * The sandbox's Kubernetes cluster: real etcd, kube-apiserver, kube-controller-manager and
 * kube-scheduler as plain processes on 127.0.0.1, with kwok faking three nodes and the pods'
 * container status (see kwokctl.yaml for the stages, including the "-broken" image convention).
 *
 * The binaries come from `scripts/setup-kube.sh` (in `<repoRoot>/.tools/bin`); nothing is
 * downloaded here. All state lives under `workDir` (kwokctl's KWOK_WORKDIR): the cluster's
 * directory is `<workDir>/clusters/<name>`, with its kubeconfig, PKI, etcd data, pid files
 * and component logs. Nothing is written to ~/.kwok or ~/.kube.
 *
 * Stopping: kwokctl starts the components in their own sessions, so they outlive the Node
 * process unless stopped. Call `await cluster.stop()` when done (it is idempotent). For Ctrl-C
 * and `kill`, install `stopOnSignals(cluster)` right after starting, or call `stop()` from your
 * own SIGINT/SIGTERM handler. An `exit` hook kills the components synchronously if the process
 * exits without having called `stop()`, and `startKubeCluster` removes what a SIGKILLed run
 * left behind under the same workDir and name before it starts a new cluster.
 *
 * Uses Node built-ins only. Example:
 *
 *   const cluster = await startKubeCluster({ repoRoot, workDir: `${repoRoot}/.sandbox/kube` });
 *   stopOnSignals(cluster);
 *   process.env.KUBECONFIG = cluster.kubeconfigPath;
 *   ...
 *   await cluster.stop();
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InterruptedError, throwIfInterrupted } from '../interrupt';
import { freeLoopbackPorts } from '../ports';

export interface KubeClusterPorts {
  kubeApiserver: number;
  etcd: number;
  etcdPeer: number;
  kubeControllerManager: number;
  kubeScheduler: number;
  kwokController: number;
}

export interface KubeCluster {
  /** kwokctl's cluster name (`--name`). */
  readonly name: string;
  /** Admin kubeconfig (client certificate) for the cluster; context `kwok-<name>`. */
  readonly kubeconfigPath: string;
  /** `https://127.0.0.1:<port>`. */
  readonly apiServerUrl: string;
  readonly ports: KubeClusterPorts;
  /** `<workDir>/clusters/<name>`: kubeconfig, pki/, etcd/, logs/, pids/ (removed by stop()). */
  readonly clusterDir: string;
  /** Environment for child processes that should talk to this cluster (KUBECONFIG, KUBECACHEDIR, PATH, KWOK_WORKDIR). */
  readonly env: NodeJS.ProcessEnv;
  /** Runs the sandbox's kubectl against this cluster; rejects with its stderr when it exits non-zero. */
  kubectl(args: string[], options?: { input?: string; timeoutMs?: number }): Promise<string>;
  /** Stops every component and deletes the cluster's state; keeps the logs in `<workDir>/logs/<name>/`. */
  stop(): Promise<void>;
  /**
   * A bearer token the API server accepts (its static token file) for user {@link PLUGIN_USER}
   * in group system:masters: what a test's local exec credential plugin hands out.
   */
  readonly pluginToken: string;
  /** The same token in a file (mode 0600), for processes other than the one that started the cluster. */
  readonly pluginTokenFile: string;
}

/** The user the static token file maps {@link KubeCluster.pluginToken} to. */
export const PLUGIN_USER = 'sandbox-exec-plugin';

export interface StartKubeClusterOptions {
  /** The repository's root; binaries are taken from `<repoRoot>/.tools/bin`. */
  repoRoot: string;
  /** Where kwokctl keeps everything, e.g. `<repoRoot>/.sandbox/kube`. */
  workDir: string;
  /** Cluster name, so several clusters can share a workDir. Default `sandbox`. */
  name?: string;
  /** Progress and kwokctl output, one line at a time. */
  log?: (line: string) => void;
  /** How long creating the cluster and waiting for it may take. Default 180 s. */
  timeoutMs?: number;
  /** Ports to use instead of free ones picked on 127.0.0.1. */
  ports?: Partial<KubeClusterPorts>;
  /** Aborting it while the cluster starts stops kwokctl and every component, then rejects (InterruptedError). */
  signal?: AbortSignal;
  /**
   * A TokenReview webhook (`http://127.0.0.1:<port>/...`) the API server asks about bearer tokens
   * it does not know itself: the sandbox's EKS token authenticator (eks-authenticator.ts).
   */
  tokenWebhookUrl?: string;
}

const BINARIES = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
  'kwok',
  'kwokctl',
] as const;
type BinaryName = (typeof BINARIES)[number];

/** The indented comment line in kwokctl.yaml's options that renderConfig replaces. */
const OPTIONS_MARKER = /^(\s+)# @cluster-options\b/;

export async function startKubeCluster(options: StartKubeClusterOptions): Promise<KubeCluster> {
  const repoRoot = resolve(options.repoRoot);
  const workDir = resolve(options.workDir);
  const name = options.name ?? 'sandbox';
  const log = options.log ?? (() => undefined);
  const timeoutMs = options.timeoutMs ?? 180_000;
  const deadline = Date.now() + timeoutMs;
  const signal = options.signal;
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) throw new Error(`invalid cluster name ${JSON.stringify(name)}`);

  const binDir = join(repoRoot, '.tools', 'bin');
  const bin = Object.fromEntries(BINARIES.map((b) => [b, join(binDir, b)])) as Record<BinaryName, string>;
  const missing = BINARIES.filter((b) => !existsSync(bin[b]));
  if (missing.length > 0) {
    throw new Error(`missing ${missing.join(', ')} in ${binDir}: run scripts/setup-kube.sh first`);
  }

  const clusterDir = join(workDir, 'clusters', name);
  const kubeconfigPath = join(clusterDir, 'kubeconfig.yaml');
  const env = kwokctlEnv(workDir, binDir);
  mkdirSync(workDir, { recursive: true });

  // A previous run that was SIGKILLed may have left components and state behind.
  if (existsSync(clusterDir)) {
    log(`[kube] removing a leftover cluster ${name} in ${clusterDir}`);
    await deleteCluster({ name, clusterDir, kubeconfigPath, bin, env, log });
  }
  throwIfInterrupted(signal);

  const picked = await freeLoopbackPorts(6);
  const ports: KubeClusterPorts = {
    kubeApiserver: options.ports?.kubeApiserver ?? picked[0]!,
    etcd: options.ports?.etcd ?? picked[1]!,
    etcdPeer: options.ports?.etcdPeer ?? picked[2]!,
    kubeControllerManager: options.ports?.kubeControllerManager ?? picked[3]!,
    kubeScheduler: options.ports?.kubeScheduler ?? picked[4]!,
    kwokController: options.ports?.kwokController ?? picked[5]!,
  };

  const configPath = join(workDir, `${name}.kwokctl.yaml`);
  const auth = writeAuthentication(join(workDir, `${name}.auth`), options.tokenWebhookUrl);
  writeFileSync(configPath, renderConfig(readFileSync(join(repoRoot, 'test/sandbox/kube/kwokctl.yaml'), 'utf8'), ports, bin, workDir, auth.apiserverArgs));

  const apiServerUrl = `https://127.0.0.1:${ports.kubeApiserver}`;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      process.removeListener('exit', exitHook);
      saveLogs(clusterDir, join(workDir, 'logs', name));
      await deleteCluster({ name, clusterDir, kubeconfigPath, bin, env, log });
      rmSync(configPath, { force: true });
      log(`[kube] cluster ${name} stopped`);
    })();
    return stopped;
  };
  // Last resort when the process exits without stop(): kill the components synchronously.
  const exitHook = (): void => killComponentsSync(clusterDir);
  process.on('exit', exitHook);

  const kubectl = (args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> =>
    run(bin.kubectl, ['--kubeconfig', kubeconfigPath, ...args], { env, ...opts });
  // Only while starting: once started, stopping is the caller's stop().
  const startKubectl = (args: string[]): Promise<string> => run(bin.kubectl, ['--kubeconfig', kubeconfigPath, ...args], { env, signal });

  try {
    log(`[kube] creating cluster ${name} (kube-apiserver on ${apiServerUrl}) in ${clusterDir}`);
    await run(
      bin.kwokctl,
      ['--name', name, '--config', configPath, 'create', 'cluster', '--kubeconfig=', `--timeout=${Math.max(1, Math.round((deadline - Date.now()) / 1000))}s`],
      { env, timeoutMs: deadline - Date.now(), onLine: (line) => log(`[kwokctl] ${kwokctlLine(line)}`), signal },
    );
    throwIfInterrupted(signal);
    if (!existsSync(kubeconfigPath)) throw new Error(`kwokctl did not write ${kubeconfigPath}`);

    // kwokctl has exited; every component it started must stay up from here on.
    const components = componentPids(clusterDir);
    if (components.length !== 5) throw new Error(`expected 5 components, kwokctl started ${components.length}`);
    const alive = (): void => {
      const dead = readdirSync(join(clusterDir, 'pids')).filter((f) => {
        const pid = Number.parseInt(readFileSync(join(clusterDir, 'pids', f), 'utf8'), 10);
        return !isAlive(pid);
      });
      if (dead.length > 0) throw new FatalError(`component(s) exited: ${dead.map((f) => f.replace(/\.pid$/, '')).join(', ')}`);
    };
    const ready = async (check: () => Promise<boolean>): Promise<boolean> => {
      if (signal?.aborted) throw new FatalError('interrupted');
      alive();
      return check();
    };

    await waitFor('the API server to be ready', deadline, () => ready(async () => (await startKubectl(['get', '--raw', '/readyz'])).trim() === 'ok'));
    log('[kube] API server ready; creating nodes');
    await startKubectl(['apply', '-f', join(repoRoot, 'test/sandbox/kube/nodes.yaml')]);
    await waitFor('the nodes to be Ready', deadline, () => ready(async () => {
      const out = await startKubectl(['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}']);
      const states = out.split('\n').filter(Boolean);
      return states.length > 0 && states.every((s) => s === 'True');
    }));
    // The custom resources the product applies (the AWS Load Balancer Controller's TargetGroupBinding).
    await startKubectl(['apply', '-f', join(repoRoot, 'test/sandbox/kube/crds')]);
    await startKubectl(['wait', '--for=condition=Established', '--timeout=30s', 'crd', '--all']);
    // Pods cannot be created in a namespace before its default ServiceAccount exists.
    await waitFor('the default ServiceAccount', deadline, () => ready(async () => {
      await startKubectl(['get', 'serviceaccount', 'default', '-n', 'default', '-o', 'name']);
      return true;
    }));
    log(`[kube] cluster ${name} ready: KUBECONFIG=${kubeconfigPath}`);
  } catch (err) {
    const tail = signal?.aborted ? '' : tailLogs(clusterDir);
    await stop().catch((stopErr: unknown) => log(`[kube] cleanup after failed start: ${String(stopErr)}`));
    if (signal?.aborted) throw new InterruptedError(signal.reason);
    throw new Error(`starting the sandbox Kubernetes cluster failed: ${errorMessage(err)}${tail}`);
  }

  return {
    name,
    kubeconfigPath,
    apiServerUrl,
    ports,
    clusterDir,
    env: { ...env, KUBECONFIG: kubeconfigPath },
    kubectl,
    stop,
    pluginToken: auth.pluginToken,
    pluginTokenFile: auth.pluginTokenFile,
  };
}

/**
 * The API server's own authenticators besides the admin's client certificate: a static token
 * file with one token (for exec credential plugin tests), and optionally a TokenReview webhook.
 */
function writeAuthentication(dir: string, tokenWebhookUrl: string | undefined): { pluginToken: string; pluginTokenFile: string; apiserverArgs: Record<string, string> } {
  mkdirSync(dir, { recursive: true });
  const pluginToken = randomBytes(24).toString('base64url');
  const tokenFile = join(dir, 'tokens.csv');
  // token,user,uid,"group1,group2" (kube-apiserver --token-auth-file)
  writeFileSync(tokenFile, `${pluginToken},${PLUGIN_USER},${PLUGIN_USER},"system:masters"\n`, { mode: 0o600 });
  const pluginTokenFile = join(dir, 'plugin-token');
  writeFileSync(pluginTokenFile, pluginToken, { mode: 0o600 });
  const apiserverArgs: Record<string, string> = { 'token-auth-file': tokenFile };
  if (tokenWebhookUrl !== undefined) {
    const webhookConfig = join(dir, 'token-webhook.kubeconfig');
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'token-webhook', cluster: { server: tokenWebhookUrl } }],
      users: [{ name: 'kube-apiserver', user: {} }],
      contexts: [{ name: 'token-webhook', context: { cluster: 'token-webhook', user: 'kube-apiserver' } }],
      'current-context': 'token-webhook',
    };
    // JSON is YAML.
    writeFileSync(webhookConfig, JSON.stringify(config, null, 2));
    apiserverArgs['authentication-token-webhook-config-file'] = webhookConfig;
    apiserverArgs['authentication-token-webhook-version'] = 'v1';
    // Short, so a test that changes what the webhook accepts sees it quickly (the default is 2 minutes).
    apiserverArgs['authentication-token-webhook-cache-ttl'] = '5s';
  }
  return { pluginToken, pluginTokenFile, apiserverArgs };
}

/**
 * Stops the cluster on SIGINT/SIGTERM/SIGHUP, then exits with 128+signal. Returns a function
 * that removes the handlers again (call it after your own `stop()` if the process lives on).
 */
export function stopOnSignals(cluster: Pick<KubeCluster, 'stop'>, log: (line: string) => void = console.error): () => void {
  const codes: Record<string, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };
  const handlers = Object.keys(codes).map((signal) => {
    const handler = (): void => {
      log(`[kube] ${signal}: stopping the cluster`);
      cluster.stop().then(
        () => process.exit(codes[signal]),
        (err: unknown) => {
          log(`[kube] stopping failed: ${errorMessage(err)}`);
          process.exit(codes[signal]);
        },
      );
    };
    process.once(signal, handler);
    return [signal, handler] as const;
  });
  return () => handlers.forEach(([signal, handler]) => process.removeListener(signal, handler));
}

// ---------------------------------------------------------------------------------------------

function kwokctlEnv(workDir: string, binDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // KWOK_* variables override kwokctl's configuration; only ours may apply.
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('KWOK_')) env[key] = value;
  env.KWOK_WORKDIR = workDir;
  // kwokctl runs the first `kubectl` on PATH for its own checks: make it ours.
  env.PATH = `${binDir}:${process.env.PATH ?? '/usr/bin:/bin'}`;
  // kubectl's discovery/http cache would otherwise go to ~/.kube/cache.
  env.KUBECACHEDIR = join(workDir, 'kubectl-cache');
  delete env.KUBECONFIG;
  return env;
}

function renderConfig(template: string, ports: KubeClusterPorts, bin: Record<BinaryName, string>, workDir: string, apiserverArgs: Record<string, string>): string {
  const lines = template.split('\n');
  const at = lines.findIndex((line) => OPTIONS_MARKER.test(line));
  const indent = at < 0 ? undefined : OPTIONS_MARKER.exec(lines[at]!)?.[1];
  if (indent === undefined) throw new Error('kwokctl.yaml lacks its indented "# @cluster-options" line');
  const options: Record<string, string | number> = {
    kubeApiserverPort: ports.kubeApiserver,
    etcdPort: ports.etcd,
    etcdPeerPort: ports.etcdPeer,
    kubeControllerManagerPort: ports.kubeControllerManager,
    kubeSchedulerPort: ports.kubeScheduler,
    kwokControllerPort: ports.kwokController,
    etcdBinary: bin.etcd,
    kubeApiserverBinary: bin['kube-apiserver'],
    kubeControllerManagerBinary: bin['kube-controller-manager'],
    kubeSchedulerBinary: bin['kube-scheduler'],
    kubectlBinary: bin.kubectl,
    kwokControllerBinary: bin.kwok,
    cacheDir: join(workDir, 'cache'),
  };
  // JSON strings and numbers are valid YAML scalars.
  const rendered = Object.entries(options).map(([key, value]) => `${indent}${key}: ${JSON.stringify(value)}`);
  lines.splice(at, 1, ...rendered);
  // Extra kube-apiserver flags go at the end of the first document (the KwokctlConfiguration).
  const end = lines.findIndex((line) => line.trim() === '---');
  const patches = [
    'componentsPatches:',
    '- name: kube-apiserver',
    '  extraArgs:',
    ...Object.entries(apiserverArgs).flatMap(([key, value]) => [`  - key: ${JSON.stringify(key)}`, `    value: ${JSON.stringify(value)}`]),
  ];
  lines.splice(end < 0 ? lines.length : end, 0, ...patches);
  return lines.join('\n');
}

interface DeleteTarget {
  name: string;
  clusterDir: string;
  kubeconfigPath: string;
  bin: Record<BinaryName, string>;
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
}

/** `kwokctl delete cluster`, then make sure no component survived it. */
async function deleteCluster(t: DeleteTarget): Promise<void> {
  const pids = componentPids(t.clusterDir);
  try {
    // --kubeconfig: remove the context from the cluster's own kubeconfig, never from ~/.kube/config.
    await run(t.bin.kwokctl, ['--name', t.name, 'delete', 'cluster', '--kubeconfig', t.kubeconfigPath], {
      env: t.env,
      timeoutMs: 60_000,
      onLine: (line) => t.log(`[kwokctl] ${kwokctlLine(line)}`),
    });
  } catch (err) {
    t.log(`[kube] kwokctl delete cluster failed (${errorMessage(err)}); killing the components`);
  }
  // A component whose pid file kwokctl had not written yet (kwokctl interrupted mid-create) is found by its arguments.
  pids.push(...strayComponentPids(t.clusterDir).filter((pid) => !pids.includes(pid)));
  for (const pid of pids) killIfComponent(pid, t.clusterDir);
  const until = Date.now() + 10_000;
  while (pids.some(isAlive) && Date.now() < until) await sleep(100);
  const survivors = pids.filter(isAlive);
  if (survivors.length > 0) throw new Error(`cluster ${t.name}: processes ${survivors.join(', ')} did not exit`);
  rmSync(t.clusterDir, { recursive: true, force: true });
}

/** PIDs from kwokctl's pid files (`<clusterDir>/pids/<component>.pid`). */
function componentPids(clusterDir: string): number[] {
  const dir = join(clusterDir, 'pids');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.pid'))
    .map((f) => Number.parseInt(readFileSync(join(dir, f), 'utf8').trim(), 10))
    .filter((pid) => Number.isInteger(pid) && pid > 1);
}

/** SIGKILL a pid only if it is still one of this cluster's components (its args name clusterDir). */
function killIfComponent(pid: number, clusterDir: string): void {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes(clusterDir)) return;
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function killComponentsSync(clusterDir: string): void {
  for (const pid of new Set([...componentPids(clusterDir), ...strayComponentPids(clusterDir)])) killIfComponent(pid, clusterDir);
}

/** Processes whose arguments name a path inside clusterDir (every component's do; kwokctl's own do not). */
function strayComponentPids(clusterDir: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return []; // no procfs: the pid files are all there is
  }
  const inside = `${clusterDir}/`;
  const pids: number[] = [];
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(inside)) pids.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** True while the process exists and is not a zombie. */
export function isProcessRunning(pid: number): boolean {
  return isAlive(pid);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // a zombie still answers signal 0; it is gone for our purposes
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

function saveLogs(clusterDir: string, dest: string): void {
  const logs = join(clusterDir, 'logs');
  if (!existsSync(logs)) return;
  try {
    rmSync(dest, { recursive: true, force: true });
    mkdirSync(dest, { recursive: true });
    cpSync(logs, dest, { recursive: true });
  } catch {
    // logs are a convenience
  }
}

function tailLogs(clusterDir: string, lines = 15): string {
  const logs = join(clusterDir, 'logs');
  if (!existsSync(logs)) return '';
  return readdirSync(logs)
    .filter((f) => f.endsWith('.log'))
    .map((f) => {
      const text = readFileSync(join(logs, f), 'utf8').trimEnd().split('\n').slice(-lines).join('\n  ');
      return `\n--- ${f} (last ${lines} lines)\n  ${text}`;
    })
    .join('');
}

/** An error that ends a waitFor at once instead of being retried. */
class FatalError extends Error {}

async function waitFor(what: string, deadline: number, check: () => Promise<boolean>): Promise<void> {
  let lastError = '';
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      if (err instanceof FatalError) throw err;
      lastError = errorMessage(err);
    }
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${lastError}` : ''}`);
}

interface RunOptions {
  env: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
  onLine?: (line: string) => void;
  /** SIGTERM to the command when aborted. */
  signal?: AbortSignal;
}

/** Runs a command to completion; resolves with stdout, rejects with the exit status and stderr. */
function run(command: string, args: string[], options: RunOptions): Promise<string> {
  if (options.onLine === undefined && options.input === undefined) {
    return new Promise((resolvePromise, reject) => {
      execFile(command, args, { env: options.env, timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 << 20, signal: options.signal }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${command} ${args.join(' ')}: ${stderr.trim() || err.message}`));
        else resolvePromise(stdout);
      });
    });
  }
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { env: options.env, stdio: ['pipe', 'pipe', 'pipe'], signal: options.signal });
    const out: string[] = [];
    const err: string[] = [];
    const timer = setTimeout(() => child.kill('SIGTERM'), options.timeoutMs ?? 60_000);
    const lines = (sink: string[]) => {
      let partial = '';
      return (chunk: Buffer): void => {
        const text = partial + chunk.toString('utf8');
        const parts = text.split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) {
          sink.push(line);
          options.onLine?.(line);
        }
      };
    };
    child.stdout.on('data', lines(out));
    child.stderr.on('data', lines(err));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise(out.join('\n'));
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}: ${err.slice(-10).join('\n')}`));
    });
    child.stdin.end(options.input ?? '');
  });
}


/** kwokctl logs JSON lines when not on a terminal; keep level, message and the useful fields. */
function kwokctlLine(line: string): string {
  try {
    const entry = JSON.parse(line) as Record<string, unknown>;
    const fields = ['err', 'elapsed', 'uri', 'component', 'components']
      .filter((k) => entry[k] !== undefined)
      .map((k) => {
        const v = entry[k];
        if (typeof v === 'string') return `${k}=${v}`;
        const human = typeof v === 'object' && v !== null ? (v as { human?: unknown }).human : undefined;
        return `${k}=${typeof human === 'string' ? human : JSON.stringify(v)}`;
      });
    const text = (v: unknown): string => (typeof v === 'string' ? v : '');
    return [text(entry.level), text(entry.msg), ...fields].join(' ').trim();
  } catch {
    return line;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
