import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/**
 * The process behind a release's migration task in the sandbox (an ECS `RunTask`, a Kubernetes
 * Job's pod): `migration-task-process.mjs` with the task's command, tenant and version. Its lines come
 * back with the time each was written (stdout and stderr in the order they arrived, as awslogs
 * and a container log keep them).
 */
export interface MigrationProcess {
  pid: number;
  /** The exit code (137 when killed, as a container runtime reports it) and every line. */
  exited: Promise<{ exitCode: number; lines: { at: number; line: string }[] }>;
  kill(): void;
}

const SCRIPT = join(__dirname, 'migration-task-process.mjs');

export function startMigrationProcess(options: { tenantId: string; version: string; command: string[]; terminationMessagePath?: string }): MigrationProcess {
  const { terminationMessagePath, ...task } = options;
  const child = spawn(process.execPath, [SCRIPT, JSON.stringify(task)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', ...(terminationMessagePath ? { TERMINATION_MESSAGE_PATH: terminationMessagePath } : {}) },
  });
  const lines: { at: number; line: string }[] = [];
  const closed = [child.stdout, child.stderr].map(
    (stream) =>
      new Promise<void>((resolve) => {
        const reader = createInterface({ input: stream });
        reader.on('line', (line) => lines.push({ at: Date.now(), line }));
        reader.once('close', resolve);
      }),
  );
  const exited = new Promise<{ exitCode: number; lines: { at: number; line: string }[] }>((resolve) => {
    child.once('exit', (code, signal) => void Promise.all(closed).then(() => resolve({ exitCode: code ?? (signal ? 137 : 1), lines })));
  });
  return { pid: child.pid ?? -1, exited, kill: () => child.kill('SIGKILL') };
}
