import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { promisify } from 'node:util';
import { InterruptedError, throwIfInterrupted } from './interrupt';
import { freeLoopbackPort } from './ports';
import { startProcess, type ManagedProcess } from './process';
import { postgresBinDir, repoRoot } from './tools';
import { waitUntil } from './wait';

const execFileAsync = promisify(execFile);

export interface PostgresServer {
  host: string;
  port: number;
  /** A superuser made by initdb; its password is kept in the data folder's parent (mode 600). */
  user: string;
  password: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

export interface PostgresOptions {
  /** Holds the data folder (kept across restarts unless the sandbox starts fresh), the password and the log. */
  stateDir: string;
  user?: string;
  signal?: AbortSignal;
}

/**
 * Debian's PostgreSQL on a free 127.0.0.1 port, no Unix socket, password authentication.
 * PostgreSQL refuses to run as root, so a root caller runs it as the `postgres` user (Debian's
 * package creates it), or `nobody`, which must then be able to reach the state folder.
 */
export async function startPostgres(options: PostgresOptions): Promise<PostgresServer> {
  const bin = postgresBinDir();
  const user = options.user ?? 'temporal';
  const dataDir = join(options.stateDir, 'data');
  const passwordFile = join(options.stateDir, 'password');
  mkdirSync(options.stateDir, { recursive: true });
  chmodSync(options.stateDir, 0o700);
  const runAs = process.getuid?.() === 0 ? unprivilegedUser() : undefined;
  if (runAs) {
    chownSync(options.stateDir, runAs.uid, runAs.gid);
    letTraverse(options.stateDir);
    checkReachable(options.stateDir, runAs);
  }

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    // What an interrupted initdb left behind; initdb wants an empty folder.
    rmSync(dataDir, { recursive: true, force: true });
    writeFileSync(passwordFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
    if (runAs) chownSync(passwordFile, runAs.uid, runAs.gid);
    try {
      // --no-sync: a sandbox's fresh cluster need not survive a power cut mid-initdb.
      await execFileAsync(join(bin, 'initdb'), ['-D', dataDir, '-U', user, `--pwfile=${passwordFile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--no-locale', '--no-sync'], {
        signal: options.signal,
        ...(runAs ?? {}),
      });
    } catch (error) {
      if (options.signal?.aborted) throw new InterruptedError(options.signal.reason);
      const stderr = String((error as { stderr?: string }).stderr ?? '').trim();
      throw new Error(`PostgreSQL initdb failed in ${dataDir}: ${stderr.split('\n').slice(-3).join(' ')}`, { cause: error });
    }
  }
  const password = readFileSync(passwordFile, 'utf8').trim();

  throwIfInterrupted(options.signal);
  const port = await freeLoopbackPort();
  const proc = startProcess({
    name: 'postgres',
    command: join(bin, 'postgres'),
    args: [
      '-D', dataDir, '-p', String(port),
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'unix_socket_directories=',
      // Four services each keep up to 20 connections to the main store and 2 to visibility (the server config).
      '-c', 'max_connections=200',
    ],
    logPath: join(options.stateDir, 'postgres.log'),
    pidPath: join(options.stateDir, 'postgres.pid'),
    user: runAs,
  });
  try {
    await waitUntil('PostgreSQL', () => isReady(bin, port), { timeoutMs: 60_000, isAlive: () => proc.isAlive(), signal: options.signal });
  } catch (error) {
    await proc.stop();
    if (error instanceof InterruptedError) throw error;
    throw new Error(`${(error as Error).message}\n--- ${proc.logPath} ---\n${proc.tail()}`, { cause: error });
  }
  return { host: '127.0.0.1', port, user, password, process: proc, stop: () => proc.stop() };
}

async function isReady(bin: string, port: number): Promise<boolean> {
  try {
    await execFileAsync(join(bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port)], { timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

function unprivilegedUser(): { uid: number; gid: number } {
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      if (uid > 0) return { uid, gid };
    } catch {
      // no such user: try the next
    }
  }
  throw new Error('PostgreSQL refuses to run as root and neither a `postgres` nor a `nobody` user exists to run it as');
}

/**
 * The sandbox's own folders (under the repository's .sandbox/, or wherever the caller keeps its
 * state) may be 0700 for root; the PostgreSQL user needs to pass through them, not to list them.
 */
function letTraverse(dir: string): void {
  for (let parent = dirname(dir); parent.startsWith(`${repoRoot}${sep}`); parent = dirname(parent)) {
    const { mode } = statSync(parent);
    if ((mode & 0o001) === 0) chmodSync(parent, (mode & 0o7777) | 0o001);
  }
}

/** A clear error up front, instead of initdb's "could not change directory" deep in a log. */
function checkReachable(dir: string, user: { uid: number; gid: number }): void {
  try {
    execFileSync('test', ['-x', dir], { stdio: 'ignore', uid: user.uid, gid: user.gid });
  } catch (error) {
    throw new Error(`PostgreSQL runs as uid ${user.uid} (not root) and cannot reach ${dir}: give the folders above it o+x (the sandbox does so for those inside the repository)`, { cause: error });
  }
}
