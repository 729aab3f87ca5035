// Codec server process: `tsx src/codec-server/main.ts` (node dist/codec-server/main.js in the image).
// Point the Temporal UI's codec endpoint (TEMPORAL_CODEC_ENDPOINT in temporalio/ui) at it.
import { z } from 'zod';
import { keyringFromEnv } from '../client/codec';
import { EncryptionCodec } from '../client/codec/encryption-codec';
import { parseOrThrow } from '../shared/validation';
import { loadCallersFile, parseCallers } from './callers';
import { startCodecServer } from './server';

const envSchema = z.object({
  TENANT_FLEET_CODEC_SERVER_HOST: z.string().min(1).default('127.0.0.1'),
  TENANT_FLEET_CODEC_SERVER_PORT: z.coerce.number().int().min(1).max(65535).default(8888),
  /** Who may decode (src/codec-server/callers.ts): a file path, or the same document inline. */
  TENANT_FLEET_CODEC_SERVER_CALLERS_FILE: z.string().min(1).optional(),
  TENANT_FLEET_CODEC_SERVER_CALLERS: z.string().min(1).optional(),
  TENANT_FLEET_CODEC_SERVER_ALLOWED_ORIGINS: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((o) => o.trim()).filter(Boolean))
    .pipe(z.array(z.url({ message: 'expected origins such as https://temporal-ui.example.com, comma-separated' }))),
  TENANT_FLEET_CODEC_SERVER_PATH_TOKENS: z.enum(['true', 'false']).default('false'),
}).refine((env) => Boolean(env.TENANT_FLEET_CODEC_SERVER_CALLERS_FILE) !== Boolean(env.TENANT_FLEET_CODEC_SERVER_CALLERS), {
  path: ['TENANT_FLEET_CODEC_SERVER_CALLERS_FILE'],
  message: 'expected exactly one of TENANT_FLEET_CODEC_SERVER_CALLERS_FILE or TENANT_FLEET_CODEC_SERVER_CALLERS (who may decode)',
});

async function main(): Promise<void> {
  const env = parseOrThrow(envSchema, process.env, 'codec server settings (environment)');
  const server = await startCodecServer({
    codec: new EncryptionCodec(keyringFromEnv()),
    ...(env.TENANT_FLEET_CODEC_SERVER_CALLERS_FILE
      ? loadCallersFile(env.TENANT_FLEET_CODEC_SERVER_CALLERS_FILE)
      : parseCallers(env.TENANT_FLEET_CODEC_SERVER_CALLERS!, 'TENANT_FLEET_CODEC_SERVER_CALLERS')),
    allowedOrigins: env.TENANT_FLEET_CODEC_SERVER_ALLOWED_ORIGINS,
    allowPathTokens: env.TENANT_FLEET_CODEC_SERVER_PATH_TOKENS === 'true',
    host: env.TENANT_FLEET_CODEC_SERVER_HOST,
    port: env.TENANT_FLEET_CODEC_SERVER_PORT,
  });
  console.log(JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: 'codec server listening', url: server.url }));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      server.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
