import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { InterruptedError } from './interrupt';
import { freeLoopbackPort } from './ports';
import { startProcess, type ManagedProcess } from './process';
import { motoPython, repoRoot } from './tools';
import { httpOk, waitUntil } from './wait';

export interface AwsEmulator {
  endpoint: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** Credentials moto accepts; they identify its default account (123456789012), never a real one. */
export const SANDBOX_AWS_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: 'sandbox',
  AWS_SECRET_ACCESS_KEY: 'sandbox',
  AWS_REGION: 'us-east-1',
} as const;

/**
 * The launcher's settings (time scale, quotas, ...: test/sandbox/moto/README.md), by JSON key. They override the
 * `TENANT_FLEET_SANDBOX_*` environment variables the launcher also reads; the launcher validates both.
 */
export type AwsEmulatorSettings = Record<string, unknown>;

const LAUNCHER = join(repoRoot, 'test', 'sandbox', 'moto', 'launcher.py');

function settingsArgs(settings: AwsEmulatorSettings | undefined): string[] {
  return settings && Object.keys(settings).length > 0 ? ['--settings', JSON.stringify(settings)] : [];
}

/** Refuses bad emulator settings (naming the setting) before any server of the sandbox starts. */
export function checkAwsEmulatorSettings(settings?: AwsEmulatorSettings): void {
  const result = spawnSync(motoPython(), [LAUNCHER, '--host', '127.0.0.1', '--check-settings', ...settingsArgs(settings)], {
    encoding: 'utf8',
    env: process.env,
    timeout: 30_000,
  });
  if (result.status === 0) return;
  const said = (result.stderr ?? '').trim().replace(/^launcher: /, '');
  throw new Error(`AWS emulator settings refused: ${said || result.error?.message || `launcher exited ${result.status}`}`);
}

/**
 * moto server behind the project's launcher (test/sandbox/moto/launcher.py closes the gaps we rely on).
 * An aborted `signal` stops it and rejects (InterruptedError) if it is not ready yet.
 */
export async function startAwsEmulator(options: { stateDir: string; port?: number; settings?: AwsEmulatorSettings; signal?: AbortSignal }): Promise<AwsEmulator> {
  const port = options.port ?? (await freeLoopbackPort());
  const proc = startProcess({
    name: 'moto',
    command: motoPython(),
    args: [LAUNCHER, '--host', '127.0.0.1', '--port', String(port), ...settingsArgs(options.settings)],
    logPath: join(options.stateDir, 'moto.log'),
    pidPath: join(options.stateDir, 'moto.pid'),
    env: { ...process.env, ...SANDBOX_AWS_CREDENTIALS, PYTHONUNBUFFERED: '1' },
  });
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitUntil('moto server', () => httpOk(`${endpoint}/moto-api/`), { timeoutMs: 60_000, isAlive: () => proc.isAlive(), signal: options.signal });
  } catch (error) {
    await proc.stop();
    if (error instanceof InterruptedError) throw error;
    throw new Error(`${(error as Error).message}\n--- ${proc.logPath} ---\n${proc.tail()}`, { cause: error });
  }
  return { endpoint, process: proc, stop: () => proc.stop() };
}
