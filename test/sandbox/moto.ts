import { join } from 'node:path';
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

/** moto server behind the project's launcher (test/sandbox/moto/launcher.py closes the gaps we rely on). */
export async function startAwsEmulator(options: { stateDir: string; port?: number }): Promise<AwsEmulator> {
  const port = options.port ?? (await freeLoopbackPort());
  const proc = startProcess({
    name: 'moto',
    command: motoPython(),
    args: [join(repoRoot, 'test', 'sandbox', 'moto', 'launcher.py'), '--host', '127.0.0.1', '--port', String(port)],
    logPath: join(options.stateDir, 'moto.log'),
    pidPath: join(options.stateDir, 'moto.pid'),
    env: { ...process.env, ...SANDBOX_AWS_CREDENTIALS, PYTHONUNBUFFERED: '1' },
  });
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitUntil('moto server', () => httpOk(`${endpoint}/moto-api/`), { timeoutMs: 60_000, isAlive: () => proc.isAlive() });
  } catch (error) {
    await proc.stop();
    throw new Error(`${(error as Error).message}\n--- ${proc.logPath} ---\n${proc.tail()}`, { cause: error });
  }
  return { endpoint, process: proc, stop: () => proc.stop() };
}
