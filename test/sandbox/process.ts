import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  isAlive(): boolean;
  /** SIGTERM to the whole process group, SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
  /** Last lines of the log, for error messages when startup fails. */
  tail(lines?: number): string;
}

export interface StartProcessOptions {
  name: string;
  command: string;
  args: string[];
  logPath: string;
  /** A file that records the PID, so a later run can clean up after a run that was SIGKILLed. */
  pidPath: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run as this user (PostgreSQL refuses to run as root; test/sandbox/postgres.ts). */
  user?: { uid: number; gid: number };
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Starts a server as its own process group and remembers it, so that a crash or a Ctrl-C
 * of the parent still takes the whole group down (no orphaned servers between runs).
 */
export function startProcess(options: StartProcessOptions): ManagedProcess {
  killStale(options.pidPath);
  mkdirSync(dirname(options.logPath), { recursive: true });
  const log = createWriteStream(options.logPath, { flags: 'a' });
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.user ? { uid: options.user.uid, gid: options.user.gid } : {}),
  });
  if (child.pid === undefined) throw new Error(`${options.name}: could not start ${options.command}`);
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  writeFileSync(options.pidPath, String(child.pid));
  live.add(child);
  installExitHook();

  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      live.delete(child);
      rmSync(options.pidPath, { force: true });
      log.end();
      resolve();
    });
  });
  const pid = child.pid;

  return {
    name: options.name,
    pid,
    logPath: options.logPath,
    isAlive: () => !exited,
    async stop(graceMs = 10_000) {
      if (exited) return;
      signalGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
      await exitedPromise;
      clearTimeout(timer);
      // Children that outlived the leader (none expected) must not survive the sandbox.
      signalGroup(pid, 'SIGKILL');
    },
    tail(lines = 30) {
      try {
        return readFileSync(options.logPath, 'utf8').split('\n').slice(-lines).join('\n');
      } catch {
        return '(no log)';
      }
    },
  };
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

function killStale(pidPath: string): void {
  if (!existsSync(pidPath)) return;
  const pid = Number(readFileSync(pidPath, 'utf8').trim());
  if (Number.isInteger(pid) && pid > 1) signalGroup(pid, 'SIGKILL');
  rmSync(pidPath, { force: true });
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
  });
}
