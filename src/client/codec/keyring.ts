import { readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * The AES-256 keys payloads are encrypted with. The first key is current (new payloads use
 * it); the others stay so that histories written before a rotation still decrypt.
 */
export interface Keyring {
  readonly currentKeyId: string;
  key(keyId: string): Buffer | undefined;
  readonly keyIds: readonly string[];
}

export const CODEC_KEYS_ENV = 'TENANT_FLEET_CODEC_KEYS';
export const CODEC_KEY_FILE_ENV = 'TENANT_FLEET_CODEC_KEY_FILE';

const KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const BASE64_PATTERN = /^[A-Za-z0-9+/]+={0,2}$/;

/** A key ID travels in payload metadata: it must be short and safe to show. */
const keyIdSchema = z.string().regex(KEY_ID_PATTERN, 'expected 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit');

const keySchema = z
  .string()
  .regex(BASE64_PATTERN, 'expected standard base64 (generate one with `openssl rand -base64 32`)')
  .transform((text) => Buffer.from(text, 'base64'))
  .refine((bytes) => bytes.length === 32, { message: 'expected base64 of exactly 32 bytes (an AES-256 key)' });

const envSchema = z.object({
  [CODEC_KEYS_ENV]: z.string().min(1).optional(),
  [CODEC_KEY_FILE_ENV]: z.string().min(1).optional(),
});

/** Thrown when the key configuration is unusable. Never contains key material. */
export class CodecKeyConfigError extends Error {
  override name = 'CodecKeyConfigError';
}

/**
 * Reads the keyring from `TENANT_FLEET_CODEC_KEYS` (`id:base64key,id:base64key`, first =
 * current) or from the file named by `TENANT_FLEET_CODEC_KEY_FILE` (the same entries, one per
 * line, `#` comments allowed). Exactly one of the two must be set: every payload is encrypted,
 * so a worker without keys must not start.
 */
export function keyringFromEnv(env: NodeJS.ProcessEnv = process.env): Keyring {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new CodecKeyConfigError(`${CODEC_KEYS_ENV} / ${CODEC_KEY_FILE_ENV}: expected non-empty strings when set`);
  }
  const inline = parsed.data[CODEC_KEYS_ENV];
  const file = parsed.data[CODEC_KEY_FILE_ENV];
  if (inline && file) {
    throw new CodecKeyConfigError(`set ${CODEC_KEYS_ENV} or ${CODEC_KEY_FILE_ENV}, not both (got both; which one wins would be a guess)`);
  }
  if (inline) return parseKeyring(inline.split(','), CODEC_KEYS_ENV);
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new CodecKeyConfigError(`${CODEC_KEY_FILE_ENV}: cannot read ${JSON.stringify(file)} (${(error as NodeJS.ErrnoException).code ?? String(error)})`, { cause: error });
    }
    return parseKeyring(text.split('\n').filter((line) => !line.trim().startsWith('#')), `${CODEC_KEY_FILE_ENV} (${file})`);
  }
  throw new CodecKeyConfigError(
    `${CODEC_KEYS_ENV} or ${CODEC_KEY_FILE_ENV}: expected one of them to be set (got neither); every payload is encrypted, ` +
      'so workers, clients and the codec server need the keyring, e.g. TENANT_FLEET_CODEC_KEYS="k1:$(openssl rand -base64 32)"',
  );
}

/**
 * Entries `keyId:base64key`; blank entries are ignored. Error messages name the source and the
 * entry's position and key ID, never the key itself.
 */
export function parseKeyring(entries: readonly string[], source: string): Keyring {
  const keys = new Map<string, Buffer>();
  const problems: string[] = [];
  let position = 0;
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === '') continue;
    position += 1;
    const colon = entry.indexOf(':');
    if (colon < 0) {
      problems.push(`entry ${position}: expected "keyId:base64key" (got an entry without ":", not shown)`);
      continue;
    }
    const id = entry.slice(0, colon);
    const idResult = keyIdSchema.safeParse(id);
    if (!idResult.success) {
      problems.push(`entry ${position} key ID: ${idResult.error.issues[0]?.message ?? 'invalid'} (got ${JSON.stringify(id.slice(0, 70))})`);
      continue;
    }
    const keyResult = keySchema.safeParse(entry.slice(colon + 1));
    if (!keyResult.success) {
      const decodedLength = Buffer.from(entry.slice(colon + 1), 'base64').length;
      problems.push(`entry ${position} (key ID ${JSON.stringify(id)}) key: ${keyResult.error.issues[0]?.message ?? 'invalid'} (got ${decodedLength} bytes, value not shown)`);
      continue;
    }
    if (keys.has(id)) {
      problems.push(`entry ${position}: key ID ${JSON.stringify(id)} appears twice (expected each key ID once; old payloads name the key that encrypted them)`);
      continue;
    }
    keys.set(id, keyResult.data);
  }
  if (problems.length === 0 && keys.size === 0) problems.push('expected at least one "keyId:base64key" entry (got none)');
  if (problems.length > 0) {
    throw new CodecKeyConfigError(`${source} is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  const keyIds = [...keys.keys()];
  return { currentKeyId: keyIds[0]!, keyIds, key: (keyId) => keys.get(keyId) };
}
