import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { z } from 'zod';

/**
 * The tenant app: the real local process behind one running ECS task or Ready pod
 * (docs/sandbox.md "data plane"). Its behaviour follows the image tag: `-broken` exits 1 right
 * after start (a crash loop), `-failing` answers 500 on every path but the health path.
 */
export const tenantAppOptionsSchema = z.object({
  tenantId: z.string().min(1),
  service: z.string().min(1),
  version: z.string().min(1),
  hostnames: z.array(z.string().min(1)),
  healthPath: z.string().startsWith('/'),
  /** The container's command (ECS `command`): the app logs it and answers it on `/`; it runs the same whatever it says. */
  command: z.array(z.string()).optional(),
  /** The container's variables, set in the process's environment over the sandbox's. */
  environment: z.record(z.string(), z.string()).optional(),
  /** Where the app's own lines go; none are kept when unset. */
  logFile: z.string().min(1).optional(),
});
export type TenantAppOptions = z.infer<typeof tenantAppOptionsSchema>;

export interface RunningTenantApp {
  /** The loopback port it bound (a `-broken` app binds it, reports it, then exits: connections are refused). */
  port: number;
  pid: number;
  /** The exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** SIGTERM (the default) drains in-flight requests and exits 0; SIGKILL is escalated to after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

const SERVER_SCRIPT = join(__dirname, 'tenant-app-server.mjs');
const START_TIMEOUT_MS = 10_000;

export async function startTenantApp(options: TenantAppOptions): Promise<RunningTenantApp> {
  const parsed = tenantAppOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`startTenantApp: ${issue ? `${issue.path.join('.')}: ${issue.message}` : parsed.error.message}`);
  }
  const { logFile, environment, ...appOptions } = parsed.data;
  // Its own process group is not wanted: the app must die with the sandbox's node process.
  const child = spawn(process.execPath, [SERVER_SCRIPT, JSON.stringify(appOptions)], {
    stdio: ['ignore', 'pipe', logFile ? 'pipe' : 'ignore'],
    ...(environment ? { env: { ...process.env, ...environment } } : {}),
  });
  if (logFile) {
    mkdirSync(dirname(logFile), { recursive: true });
    const log = createWriteStream(logFile, { flags: 'a' });
    child.stderr?.pipe(log);
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  live.add(child.pid ?? -1);
  void exited.then(() => live.delete(child.pid ?? -1));
  installExitHook();

  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tenant app ${appOptions.tenantId}/${appOptions.service} ${appOptions.version}: did not report its port within ${START_TIMEOUT_MS} ms`));
    }, START_TIMEOUT_MS);
    lines.once('line', (line) => {
      clearTimeout(timer);
      const match = /^listening (\d+)$/.exec(line);
      if (match) resolve(Number(match[1]));
      else reject(new Error(`tenant app ${appOptions.tenantId}/${appOptions.service}: unexpected first line ${JSON.stringify(line)}`));
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`tenant app ${appOptions.tenantId}/${appOptions.service} ${appOptions.version}: exited with ${code} before reporting its port`));
    });
  });

  return {
    port,
    pid: child.pid!,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

const live = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of live) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}
