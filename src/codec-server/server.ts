import type { Payload, PayloadCodec } from '@temporalio/common';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { callerRegistry, mayDecodeIn, type Caller } from './callers';
import { InvalidTokenError, KeySetUnavailableError, oidcVerifier, type OidcConfig } from './oidc';

/**
 * The remote codec the Temporal Web UI and `temporal --codec-endpoint` call: `POST /decode`
 * and `POST /encode` with `{"payloads":[{"metadata":{k:base64},"data":base64}]}` and an
 * `X-Namespace` header; the UI calls it from the browser, so CORS is answered for the UI's
 * origin. Only callers whose bearer token is registered get plaintext, and only for their
 * namespaces.
 */
export interface CodecServerOptions {
  codec: PayloadCodec;
  callers: readonly Caller[];
  /** Also accept OIDC access tokens (the Temporal UI's login) signed by this issuer; see oidc.ts. */
  oidc?: OidcConfig;
  /** Origins of Temporal UIs allowed to call from a browser (exact match, e.g. http://127.0.0.1:8233). */
  allowedOrigins: readonly string[];
  /**
   * Also accept the token as the first path segment (`/<token>/decode`), for UIs that cannot
   * send an Authorization header (the dev server's UI). Off in production: URLs end up in logs.
   */
  allowPathTokens?: boolean;
  log?: (entry: Record<string, unknown>) => void;
  maxBodyBytes?: number;
}

const jsonPayloadSchema = z.object({
  metadata: z.record(z.string(), z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'expected base64')).nullish(),
  data: z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'expected base64').nullish(),
});
const bodySchema = z.object({ payloads: z.array(jsonPayloadSchema).max(10_000, 'expected at most 10000 payloads per request') });
type JsonPayload = z.infer<typeof jsonPayloadSchema>;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function createCodecServer(options: CodecServerOptions): Server {
  const registry = callerRegistry(options.callers);
  const oidc = options.oidc ? oidcVerifier(options.oidc) : undefined;
  const origins = new Set(options.allowedOrigins);
  const log = options.log ?? ((entry) => process.stdout.write(`${JSON.stringify(entry)}\n`));
  const maxBodyBytes = options.maxBodyBytes ?? 4 * 1024 * 1024;

  async function handle(req: IncomingMessage, res: ServerResponse, access: Record<string, unknown>): Promise<void> {
    const origin = req.headers.origin;
    if (origin !== undefined) {
      if (!origins.has(origin)) throw new HttpError(403, `origin ${JSON.stringify(origin)} is not an allowed Temporal UI origin`);
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('access-control-allow-credentials', 'true');
      res.setHeader('vary', 'Origin');
    }
    const { operation, pathToken } = route(req.url ?? '/', options.allowPathTokens ?? false);
    access.operation = operation;
    if (req.method === 'OPTIONS') {
      // CORS preflight: browsers send no credentials here, so it is answered without any.
      res.writeHead(204, {
        'access-control-allow-methods': 'POST, OPTIONS',
        'access-control-allow-headers': 'authorization, content-type, x-namespace',
        'access-control-max-age': '600',
      });
      res.end();
      return;
    }
    if (req.method !== 'POST') throw new HttpError(405, 'expected POST', { allow: 'POST, OPTIONS' });

    const token = pathToken ?? bearerToken(req.headers.authorization);
    if (token === undefined) throw new HttpError(401, 'expected an Authorization: Bearer <token> header', { 'www-authenticate': 'Bearer' });
    const caller = registry.identify(token) ?? (oidc && looksLikeJwt(token) ? await identifyByOidc(token) : undefined);
    if (!caller) throw new HttpError(401, 'the bearer token is not registered with this codec server', { 'www-authenticate': 'Bearer error="invalid_token"' });
    access.caller = caller.name;
    const namespace = headerValue(req.headers['x-namespace']);
    if (!namespace) throw new HttpError(400, 'expected an X-Namespace header naming the namespace the payloads belong to');
    access.namespace = namespace;
    if (!mayDecodeIn(caller, namespace)) throw new HttpError(403, `caller ${JSON.stringify(caller.name)} may not use the codec for namespace ${JSON.stringify(namespace)}`);

    const body = await readJson(req, maxBodyBytes);
    const parsed = bodySchema.safeParse(body);
    // Field paths and expectations only: values may be plaintext (/encode) and this message is logged.
    if (!parsed.success) throw new HttpError(400, `request body is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    const input = parsed.data.payloads.map(fromJson);
    access.payloads = input.length;
    let output: Payload[];
    try {
      output = operation === 'decode' ? await options.codec.decode(input) : await options.codec.encode(input);
    } catch (error) {
      // The codec's messages name key IDs and sizes, never payload contents.
      throw new HttpError(422, `could not ${operation} the payloads: ${(error as Error).message}`);
    }
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ payloads: output.map(toJson) }));
  }

  async function identifyByOidc(token: string): Promise<Pick<Caller, 'name' | 'namespaces'>> {
    try {
      return await oidc!.identify(token);
    } catch (error) {
      if (error instanceof InvalidTokenError) throw new HttpError(401, error.message, { 'www-authenticate': 'Bearer error="invalid_token"' });
      if (error instanceof KeySetUnavailableError) throw new HttpError(503, error.message);
      throw error;
    }
  }

  return createServer((req, res) => {
    const startedAt = Date.now();
    const access: Record<string, unknown> = { msg: 'codec request', method: req.method, operation: undefined };
    handle(req, res, access)
      .catch((error: unknown) => {
        const status = error instanceof HttpError ? error.status : 500;
        const message = error instanceof HttpError ? error.message : 'internal error';
        if (!(error instanceof HttpError)) access.error = String(error);
        access.reason = message;
        if (!res.headersSent) {
          res.writeHead(status, { 'content-type': 'application/json', ...(error instanceof HttpError ? error.headers : {}) });
          res.end(JSON.stringify({ error: message }));
        } else {
          res.destroy();
        }
      })
      .finally(() => {
        log({ time: new Date().toISOString(), level: res.statusCode >= 500 ? 'error' : 'info', ...access, status: res.statusCode, ms: Date.now() - startedAt });
      });
  });
}

export interface RunningCodecServer {
  /** Base URL, e.g. `http://127.0.0.1:8888`; the UI's codec endpoint. */
  url: string;
  close(): Promise<void>;
}

export async function startCodecServer(options: CodecServerOptions & { host: string; port: number }): Promise<RunningCodecServer> {
  const server = createCodecServer(options);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
    close: () =>
      new Promise((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      }),
  };
}

function route(url: string, allowPathTokens: boolean): { operation: 'encode' | 'decode'; pathToken?: string } {
  const segments = url.split('?')[0]!.split('/').filter(Boolean);
  const last = segments[segments.length - 1];
  if (last !== 'encode' && last !== 'decode') throw new HttpError(404, 'expected POST /encode or POST /decode');
  if (segments.length === 1) return { operation: last };
  if (segments.length === 2 && allowPathTokens) {
    try {
      return { operation: last, pathToken: decodeURIComponent(segments[0]!) };
    } catch {
      throw new HttpError(404, 'expected POST /encode or POST /decode');
    }
  }
  throw new HttpError(404, 'expected POST /encode or POST /decode');
}

/** Three base64url segments: worth a signature check; anything else is a static token or nothing. */
const looksLikeJwt = (token: string) => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);

function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

function headerValue(value: string | string[] | undefined): string | undefined {
  const single = Array.isArray(value) ? value[0] : value;
  return single?.trim() || undefined;
}

async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new HttpError(413, `request body is larger than ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'request body is not JSON (expected {"payloads":[...]})');
  }
}

function fromJson(payload: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64')])),
    data: payload.data ? Buffer.from(payload.data, 'base64') : undefined,
  };
}

function toJson(payload: Payload): { metadata: Record<string, string>; data?: string } {
  return {
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value).toString('base64')])),
    ...(payload.data ? { data: Buffer.from(payload.data).toString('base64') } : {}),
  };
}
