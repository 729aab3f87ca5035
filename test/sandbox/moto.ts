import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { InterruptedError } from './interrupt';
import { freeLoopbackPort } from './ports';
import { startProcess, type ManagedProcess } from './process';
import { motoPython, repoRoot } from './tools';
import { httpOk, waitUntil } from './wait';

export interface AwsEmulator {
  endpoint: string;
  process: ManagedProcess;
  callLogPath: string;
  stop(): Promise<void>;
}

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
 * Every call made once IAM is enforced is logged with its principal to `<stateDir>/calls.jsonl`
 * (`callLogPath`), one JSON object a line: time, service, action, account, region, principalArn,
 * resource (when moto knows it), allowed; CloudFormation's own actions carry `via: "cloudformation"`.
 * An aborted `signal` stops it and rejects (InterruptedError) if it is not ready yet.
 */
export async function startAwsEmulator(options: { stateDir: string; port?: number; settings?: AwsEmulatorSettings; signal?: AbortSignal }): Promise<AwsEmulator> {
  const port = options.port ?? (await freeLoopbackPort());
  const callLogPath = join(options.stateDir, 'calls.jsonl');
  // One log per moto process: a resumed sandbox starts a new emulator with new identities.
  rmSync(callLogPath, { force: true });
  const proc = startProcess({
    name: 'moto',
    command: motoPython(),
    args: [LAUNCHER, '--host', '127.0.0.1', '--port', String(port), '--call-log', callLogPath, ...settingsArgs(options.settings)],
    logPath: join(options.stateDir, 'moto.log'),
    pidPath: join(options.stateDir, 'moto.pid'),
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitUntil('moto server', () => httpOk(`${endpoint}/moto-api/`), { timeoutMs: 60_000, isAlive: () => proc.isAlive(), signal: options.signal });
  } catch (error) {
    await proc.stop();
    if (error instanceof InterruptedError) throw error;
    throw new Error(`${(error as Error).message}\n--- ${proc.logPath} ---\n${proc.tail()}`, { cause: error });
  }
  return { endpoint, process: proc, callLogPath, stop: () => proc.stop() };
}
