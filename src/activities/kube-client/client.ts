import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { abortSignal } from '../poll';
import { KubeApiError, KubeConnectionError, isNotFound } from './errors';
import type { KubeConnection } from './kubeconfig';

/** The fields of any Kubernetes object this project reads; the rest is passed through untouched. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
  };
  [field: string]: unknown;
}

export type PatchType = 'strategic-merge' | 'merge' | 'json';

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  'strategic-merge': 'application/strategic-merge-patch+json',
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
};

export interface RequestOptions {
  query?: Record<string, string | undefined>;
  body?: unknown;
  contentType?: string;
}

export interface KubeClientOptions {
  /** Per request, from sending to the last byte of the answer. Default 30 s. */
  requestTimeoutMs?: number;
}

/** Projected service account tokens rotate (hourly by default); re-reading this often is plenty. */
const TOKEN_FILE_TTL_MS = 60_000;

/**
 * A small REST client for one API server: JSON over node:https with a keep-alive agent,
 * server-side apply, patches, typed errors. One instance per cluster, shared by every activity.
 */
export class KubeClient {
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;
  private readonly timeoutMs: number;
  private cachedToken?: { value: string; readAt: number };

  constructor(
    readonly connection: KubeConnection,
    options: KubeClientOptions = {},
  ) {
    const url = new URL(connection.server);
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
    if (url.protocol === 'http:') {
      this.transport = http;
      this.agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    } else {
      this.transport = https;
      this.agent = new https.Agent({
        keepAlive: true,
        maxSockets: 32,
        ca: connection.ca,
        cert: connection.cert,
        key: connection.key,
        rejectUnauthorized: !connection.insecureSkipTlsVerify,
        servername: connection.tlsServerName,
      });
    }
  }

  /** The object at `path`, or undefined when the server answers 404. */
  async get<T extends KubeObject = KubeObject>(path: string, query?: RequestOptions['query']): Promise<T | undefined> {
    try {
      return await this.request<T>('GET', path, { query });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async list<T extends KubeObject = KubeObject>(path: string, query?: RequestOptions['query']): Promise<T[]> {
    const answer = await this.request<{ items?: T[] }>('GET', path, { query });
    return answer.items ?? [];
  }

  /**
   * Server-side apply: `manifest` is the whole intent of `fieldManager` for this object.
   * `force` takes over fields another manager owns instead of failing with a conflict.
   * JSON is YAML, so the body is sent as JSON under the apply content type.
   */
  apply<T extends KubeObject = KubeObject>(path: string, manifest: KubeObject, { fieldManager, force }: { fieldManager: string; force: boolean }): Promise<T> {
    return this.request<T>('PATCH', path, {
      query: { fieldManager, force: String(force) },
      body: manifest,
      contentType: 'application/apply-patch+yaml',
    });
  }

  patch<T extends KubeObject = KubeObject>(path: string, body: unknown, { type, fieldManager }: { type: PatchType; fieldManager: string }): Promise<T> {
    return this.request<T>('PATCH', path, { query: { fieldManager }, body, contentType: PATCH_CONTENT_TYPES[type] });
  }

  /** Deletes `path`; false when it was already gone. */
  async delete(path: string, { propagationPolicy }: { propagationPolicy?: 'Foreground' | 'Background' | 'Orphan' } = {}): Promise<boolean> {
    try {
      await this.request('DELETE', path, { body: propagationPolicy ? { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy } : undefined });
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const url = new URL(this.connection.server + path);
    for (const [key, value] of Object.entries(options.query ?? {})) if (value !== undefined) url.searchParams.set(key, value);
    const body = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: http.OutgoingHttpHeaders = { Accept: 'application/json', 'User-Agent': 'tenant-fleet' };
    if (body) {
      headers['Content-Type'] = options.contentType ?? 'application/json';
      headers['Content-Length'] = body.length;
    }
    const token = this.bearerToken();
    if (token) headers.Authorization = `Bearer ${token}`;

    const { status, text } = await this.send(method, url, headers, body);
    if (status >= 200 && status < 300) return (text.length === 0 ? undefined : JSON.parse(text)) as T;
    const failure = statusOf(text);
    throw new KubeApiError(method, url.pathname + url.search, status, failure.reason, failure.message);
  }

  /** Closes the kept-alive connections; the client is unusable afterwards. */
  close(): void {
    this.agent.destroy();
  }

  private send(method: string, url: URL, headers: http.OutgoingHttpHeaders, body: Buffer | undefined): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const fail = (cause: Error) => reject(new KubeConnectionError(method, url.href, cause));
      // Temporal's cancellation of the activity aborts the call in flight.
      const signal = abortSignal();
      const request = this.transport.request(url, { method, headers, agent: this.agent, signal }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', fail);
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      });
      request.setTimeout(this.timeoutMs, () => request.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      request.on('error', (error) => (signal?.aborted ? reject(error) : fail(error)));
      request.end(body);
    });
  }

  private bearerToken(): string | undefined {
    const { token, tokenFile } = this.connection;
    if (tokenFile === undefined) return token;
    const now = Date.now();
    if (this.cachedToken === undefined || now - this.cachedToken.readAt > TOKEN_FILE_TTL_MS) {
      this.cachedToken = { value: readFileSync(tokenFile, 'utf8').trim(), readAt: now };
    }
    return this.cachedToken.value;
  }
}

/** The API server answers errors with a `Status` object; anything else (a proxy's HTML page) is quoted as text. */
function statusOf(text: string): { reason?: string; message: string } {
  try {
    const parsed = JSON.parse(text) as { kind?: string; reason?: string; message?: string };
    if (parsed.kind === 'Status') return { reason: parsed.reason || undefined, message: parsed.message ?? text };
  } catch {
    // not JSON: fall through to the raw text
  }
  const trimmed = text.trim();
  return { message: trimmed.length > 300 ? `${trimmed.slice(0, 297)}...` : trimmed || '(empty answer)' };
}
