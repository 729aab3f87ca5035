import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runCli } from '../../src/client/cli/main';

/** Runs tenantctl in-process with `env` as its whole environment, capturing what it prints. */
export async function runCliCaptured(argv: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await runCli(argv, { stdout, stderr, env });
  return { code, out, err };
}

/**
 * The example fleet config and a Temporal address that refuses connections (127.0.0.1:1): a
 * command that tries to connect shows as exit 4, so an argument refused before connecting is told
 * apart from one that got through.
 */
export const OFFLINE_CLI_ENV: Readonly<Record<string, string>> = {
  TEMPORAL_ADDRESS: '127.0.0.1:1',
  TENANT_FLEET_CONFIG: join(__dirname, '..', '..', 'config', 'fleet.example.yaml'),
  TENANT_FLEET_CODEC_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
  USER: 'tester',
};
