import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../sandbox/tools';


export interface EntryPointProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves once a line of output matches (its JSON logs, say); rejects if it exits first or after `timeoutMs`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Signals the process itself (not its group), the way Kubernetes and `docker stop` do. */
  signal(signal: NodeJS.Signals): void;
  /** Resolves with how it exited; rejects after `timeoutMs`. */
  exited(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL to the whole group, for cleanup; never a test's subject. */
  kill(): Promise<void>;
}

/**
 * Runs one of the project's entry points (`src/workers/main.ts`, `src/codec-server/main.ts`)
 * as its own process, as production does, with exactly the environment given (plus PATH and
 * HOME), so a test proves what the process reads rather than what jest happens to have.
 * Tests that kill or restart workers (several workers on one queue, say) can start as many as
 * they need.
 */
export function startEntryPoint(options: { name: string; entry: string; env: Record<string, string>; logDir: string; args?: string[] }): EntryPointProcess {
  mkdirSync(options.logDir, { recursive: true });
  const logPath = join(options.logDir, `${options.name}.log`);
  const log = createWriteStream(logPath, { flags: 'a' });
  // `node --import tsx`, as package.json's scripts run them: the tsx CLI would stand between the
  // test and the process, and SIGKILLs its child when a signal finds the child's event loop busy
  // for 60 ms (a loaded machine), so a Ctrl-C test would see tsx's 130 instead of the process's exit.
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, options.entry), ...(options.args ?? [])], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`${options.name}: could not start node --import tsx ${options.entry}`);
  const pid = child.pid;
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    log.write(chunk);
    for (const listener of listeners) listener();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      log.end();
      for (const listener of listeners) listener();
      resolve(exit);
    });
  });
  // A test that fails half-way must not leave a worker polling the next test's queues.
  const killGroup = () => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killGroup);

  const withTimeout = <T>(what: string, promise: Promise<T>, timeoutMs: number) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${options.name}: ${what} not within ${timeoutMs} ms\n--- output ---\n${text.slice(-3000)}`)), timeoutMs);
      promise.then(
        (value) => (clearTimeout(timer), resolve(value)),
        (error: unknown) => (clearTimeout(timer), reject(error as Error)),
      );
    });

  return {
    name: options.name,
    pid,
    logPath,
    output: () => text,
    waitForOutput(pattern, timeoutMs = 60_000) {
      const found = new Promise<string>((resolve, reject) => {
        const check = () => {
          const line = text.split('\n').find((l) => pattern.test(l));
          if (line !== undefined) {
            listeners.delete(check);
            resolve(line);
          } else if (exit) {
            listeners.delete(check);
            reject(new Error(`${options.name} exited (${JSON.stringify(exit)}) before printing ${pattern}\n--- output ---\n${text.slice(-3000)}`));
          }
        };
        listeners.add(check);
        check();
      });
      return withTimeout(`output ${pattern}`, found, timeoutMs);
    },
    signal: (signal) => process.kill(pid, signal),
    exited: (timeoutMs = 60_000) => withTimeout('exit', exitPromise, timeoutMs),
    async kill() {
      killGroup();
      await exitPromise;
      process.removeListener('exit', killGroup);
    },
  };
}

/** The sandbox variables a worker process reads; everything else it must not need. */
const WORKER_ENV_KEYS = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TENANT_FLEET_CODEC_KEY_FILE',
  'TENANT_FLEET_WORKFLOW_BUNDLE',
  'TENANT_FLEET_CONFIG',
  'AWS_ENDPOINT_URL',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_REGION',
  'KUBECONFIG',
] as const;

/**
 * A worker process (src/workers/main.ts) against the run's sandbox, resolved once it polls.
 * For tests that kill, restart or run several workers: `worker.signal('SIGKILL')` is a crash,
 * `worker.signal('SIGTERM')` a graceful drain (exit 0).
 */
export async function startWorkerProcess(options: {
  name: string;
  sandboxEnv: Record<string, string>;
  logDir: string;
  roles?: string;
  /** Extra or overriding variables, e.g. TENANT_FLEET_SHUTDOWN_GRACE, TENANT_FLEET_METRICS_PORT. */
  env?: Record<string, string>;
  startTimeoutMs?: number;
}): Promise<EntryPointProcess> {
  const env: Record<string, string> = { TENANT_FLEET_WORKER_ROLES: options.roles ?? 'workflows,aws' };
  for (const key of WORKER_ENV_KEYS) if (options.sandboxEnv[key] !== undefined) env[key] = options.sandboxEnv[key];
  const worker = startEntryPoint({ name: options.name, entry: 'src/workers/main.ts', logDir: options.logDir, env: { ...env, ...options.env } });
  try {
    await worker.waitForOutput(/"msg":"workers started"/, options.startTimeoutMs ?? 120_000);
  } catch (error) {
    await worker.kill();
    throw error;
  }
  return worker;
}
