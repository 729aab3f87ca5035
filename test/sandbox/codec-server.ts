import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { keyringFromEnv } from '../../src/client/codec';
import { EncryptionCodec } from '../../src/client/codec/encryption-codec';
import { loadCallersFile, sha256Hex } from '../../src/codec-server/callers';
import { startCodecServer } from '../../src/codec-server/server';

export interface SandboxCodec {
  /** Base URL for `temporal --codec-endpoint` with `Authorization: Bearer <token>`. */
  url: string;
  /** What the sandbox UI is configured with: the base URL plus the token as a path segment. */
  uiEndpoint: string;
  token: string;
  keyFile: string;
  callersFile: string;
  stop(): Promise<void>;
}

/**
 * The sandbox's keyring, codec-server caller and codec server (in this process, on 127.0.0.1).
 * The key and token are created once per state folder and reused, so a resumed sandbox can
 * still read the history it wrote; `fresh` wipes the folder and with it both.
 */
export async function startSandboxCodec(options: { stateDir: string; uiOrigins: string[] }): Promise<SandboxCodec> {
  mkdirSync(options.stateDir, { recursive: true, mode: 0o700 });
  const keyFile = join(options.stateDir, 'codec-keys');
  if (!existsSync(keyFile)) {
    const keyId = `sandbox-${new Date().toISOString().slice(0, 10)}`;
    writeFileSync(keyFile, `# Sandbox payload keys (first = current), written by test/sandbox/codec-server.ts\n${keyId}:${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  }
  const tokenFile = join(options.stateDir, 'codec-token');
  const callersFile = join(options.stateDir, 'codec-callers.yaml');
  if (!existsSync(tokenFile) || !existsSync(callersFile)) {
    const token = randomBytes(24).toString('base64url');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    writeFileSync(callersFile, toYaml({ callers: [{ name: 'sandbox', tokenSha256: sha256Hex(token), namespaces: ['*'] }] }));
  }
  const token = readFileSync(tokenFile, 'utf8').trim();
  const logPath = join(options.stateDir, 'codec-server.log');
  const server = await startCodecServer({
    codec: new EncryptionCodec(keyringFromEnv({ TENANT_FLEET_CODEC_KEY_FILE: keyFile })),
    ...loadCallersFile(callersFile),
    allowedOrigins: options.uiOrigins,
    // The dev server's UI cannot send an Authorization header; its endpoint carries the token instead.
    allowPathTokens: true,
    host: '127.0.0.1',
    port: 0,
    log: (entry) => appendFileSync(logPath, `${JSON.stringify(entry)}\n`),
  });
  return { url: server.url, uiEndpoint: `${server.url}/${token}`, token, keyFile, callersFile, stop: () => server.close() };
}
