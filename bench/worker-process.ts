import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WORKER_CONFIG_ENV, type WorkerConfig } from './sim/worker-config';

const REPO = join(__dirname, '..');

export interface BenchWorker {
  readonly pid: number;
  /** Resident memory now and the process's peak so far (VmHWM), in MiB. */
  memory(): { rssMiB: number; peakRssMiB: number };
  /** Graceful stop (SIGTERM, drains), as a deploy would. */
  stop(): Promise<void>;
  /** SIGKILL: a worker that dies without a word. Resolves once it is gone. */
  kill(): Promise<void>;
}

/**
 * Starts bench/sim/worker-main.ts as its own node process (not behind a tsx wrapper, so `pid`
 * is the worker itself and its memory is the worker's) and resolves once it polls.
 */
export async function startBenchWorker(options: { name: string; env: Record<string, string>; config: WorkerConfig; logDir: string }): Promise<BenchWorker> {
  mkdirSync(options.logDir, { recursive: true });
  const log = createWriteStream(join(options.logDir, `${options.name}.log`), { flags: 'a' });
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'bench', 'sim', 'worker-main.ts')], {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env, [WORKER_CONFIG_ENV]: JSON.stringify(options.config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${options.name}: could not start ${process.execPath}`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A bench that fails half-way must not leave a worker polling.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${options.name}: not polling within 120 s\n${output.slice(-2000)}`)), 120_000);
    const onData = (chunk: Buffer) => {
      log.write(chunk);
      output += chunk.toString('utf8');
      if (output.includes('bench worker polling')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited before polling\n${output.slice(-2000)}`));
    });
  });
  const gone = async () => {
    await exited;
    process.removeListener('exit', killOnExit);
    log.end();
  };
  try {
    await ready;
  } catch (error) {
    child.kill('SIGKILL');
    await gone();
    throw error;
  }
  return {
    pid,
    memory: () => {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
      return { rssMiB: kib('VmRSS') / 1024, peakRssMiB: kib('VmHWM') / 1024 };
    },
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await gone();
      clearTimeout(timer);
    },
    async kill() {
      child.kill('SIGKILL');
      await gone();
    },
  };
}
