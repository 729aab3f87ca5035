import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseOrThrow } from '../shared/validation';
import { oidcConfigSchema, type OidcConfig } from './oidc';

/**
 * Who may see decrypted payloads. The file holds SHA-256 digests of bearer tokens, never the
 * tokens, so it can live in a ConfigMap or a repository without handing out access:
 *
 * ```yaml
 * callers:
 *   - name: ops-oncall                 # appears in the codec server's access log
 *     tokenSha256: 5e884898da28...     # printf %s "$TOKEN" | sha256sum
 *     namespaces: [tenant-fleet-prod]  # or ["*"]
 * oidc:                                # optional: the Temporal UI's login tokens (see oidc.ts)
 *   issuer: https://login.example.com/realms/ops
 *   ...
 * ```
 */
const callerSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9@._-]{0,63}$/, 'expected a name of 1-64 letters, digits, "@", ".", "_" or "-"'),
  tokenSha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'expected the lowercase hex SHA-256 of the token (printf %s "$TOKEN" | sha256sum), not the token'),
  namespaces: z.array(z.string().min(1, 'expected a namespace name or "*"')).min(1, 'expected at least one namespace (or "*")'),
});

export const callersFileSchema = z
  .object({
    callers: z
      .array(callerSchema)
      .default([])
      .refine((callers) => new Set(callers.map((c) => c.tokenSha256)).size === callers.length, {
        message: 'expected each tokenSha256 once (two callers sharing a token cannot be told apart)',
      }),
    oidc: oidcConfigSchema.optional(),
  })
  .refine((file) => file.callers.length > 0 || file.oidc !== undefined, {
    path: ['callers'],
    message: 'expected at least one caller or an oidc section; with neither, nobody could decode',
  });

/** Who may decode: static callers, and OIDC access tokens when configured. */
export interface CodecAccess {
  callers: Caller[];
  oidc?: OidcConfig;
}

export type Caller = z.infer<typeof callerSchema>;

export interface CallerRegistry {
  /** The caller whose token this is, or undefined. Constant-time per comparison. */
  identify(token: string): Caller | undefined;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function callerRegistry(callers: readonly Caller[]): CallerRegistry {
  const digests = callers.map((caller) => ({ caller, digest: Buffer.from(caller.tokenSha256, 'hex') }));
  return {
    identify(token) {
      const presented = createHash('sha256').update(token, 'utf8').digest();
      let found: Caller | undefined;
      // Compare against every entry, not stopping at a match, so timing does not reveal position.
      for (const { caller, digest } of digests) if (timingSafeEqual(presented, digest) && !found) found = caller;
      return found;
    },
  };
}

export function mayDecodeIn(caller: Pick<Caller, 'namespaces'>, namespace: string): boolean {
  return caller.namespaces.includes('*') || caller.namespaces.includes(namespace);
}

export function loadCallersFile(path: string): CodecAccess {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`codec server callers file ${JSON.stringify(path)} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`, { cause: error });
  }
  return parseCallers(text, `codec server callers file ${path}`);
}

/** The same document given inline (YAML or JSON), e.g. from an environment variable in docker-compose.yml. */
export function parseCallers(text: string, source: string): CodecAccess {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new Error(`${source} is not YAML or JSON: ${(error as Error).message.split('\n')[0]}`, { cause: error });
  }
  return parseOrThrow(callersFileSchema, hideMistakenTokens(document), source);
}

/**
 * A `tokenSha256` that is not a digest may be a token pasted by mistake; the validation error
 * quotes values, so such a value is replaced before it could reach a log.
 */
function hideMistakenTokens(input: unknown): unknown {
  if (!input || typeof input !== 'object' || !Array.isArray((input as { callers?: unknown }).callers)) return input;
  const callers = (input as { callers: unknown[] }).callers.map((caller) => {
    if (!caller || typeof caller !== 'object') return caller;
    const digest = (caller as { tokenSha256?: unknown }).tokenSha256;
    if (typeof digest !== 'string' || /^[0-9a-f]{64}$/.test(digest)) return caller;
    return { ...caller, tokenSha256: `<${digest.length} characters, not shown>` };
  });
  return { ...input, callers };
}
