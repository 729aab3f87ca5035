import {
  ApiException,
  KubernetesObjectApi,
  PatchStrategy,
  ServerConfiguration,
  Watch,
  createConfiguration,
  type KubeConfig,
  type KubernetesObject,
  type RequestContext,
  type ResponseContext,
  type V1ObjectMeta,
} from '@kubernetes/client-node';
import { abortSignal, activityContext } from '../poll';
import { KubeApiError, KubeConnectionError, isNotFound, isRefused, isRetryableWrite, isTransientRead } from './errors';
import type { KubeAccess } from './kubeconfig';
import { collectionPath, objectPath, type ObjectRef } from './resources';
import { inPlaceRetries, type RetryLimits } from './retry';

/**
 * Any Kubernetes object this project reads, with the official client's metadata type; the rest is
 * passed through untouched. Objects from a watch carry timestamps as the server's strings, objects
 * from other calls as Dates (the client deserializes them): compare them only for presence.
 */
export interface KubeObject extends KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: V1ObjectMeta & { name: string };
  [field: string]: unknown;
}

export type PatchType = 'strategic-merge' | 'merge' | 'json';

const PATCH_STRATEGIES: Record<PatchType, PatchStrategy> = {
  'strategic-merge': PatchStrategy.StrategicMergePatch,
  merge: PatchStrategy.MergePatch,
  json: PatchStrategy.JsonPatch,
};

export interface KubeClientOptions {
  /** Per request, from sending to the last byte of the answer (not for watches). Default 30 s. */
  requestTimeoutMs?: number;
  /** Items per page when listing; the server hands out a `continue` token for the rest. Default 500. */
  pageSize?: number;
  /** Overrides of CALL_RETRY. */
  retry?: Partial<RetryLimits>;
}

/**
 * How a one-shot call (a get, a page of a list, an apply, a patch, a delete) rides out a throttled
 * or failing API server: sent again in place, as a follow's reads are (follow.ts FOLLOW_RETRY),
 * but at most 5 times (a few seconds of back-off, or the server's Retry-After) and never starting
 * a try that could not finish within the activity attempt (the margin is the request timeout).
 * Reads are retried on a 429, a 5xx or a lost connection; writes only when refused (429, 503) or
 * their connection was refused or reset (errors.ts isRetryableWrite), deletes only when refused.
 * Once it gives up, the last error is thrown with `gaveUp` set, which toKubeFailure names.
 */
export const CALL_RETRY: Omit<RetryLimits, 'deadlineMarginMs'> = { maxConsecutive: 5, intervalMs: 1_000, maxIntervalMs: 15_000, maxRetryAfterMs: 30_000 };

/** One event of a watch, as the API server streams it. */
export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/**
 * The project's face of `@kubernetes/client-node` for one cluster: the official client does the
 * transport, TLS and authentication (certificates, tokens, exec credential plugins, the in-process
 * EKS token of eks-token.ts); this class adds what every activity needs on top: the activity's
 * cancellation and a timeout on each call, `continue` on lists, and errors the project classifies
 * (errors.ts). One instance per cluster, shared by every activity.
 */
export class KubeClient {
  private readonly objects: KubernetesObjectApi;
  private readonly watcher: Watch;
  private readonly timeoutMs: number;
  private readonly pageSize: number;
  private readonly server: string;
  private readonly retry: RetryLimits;
  /** Open watches, so close() can end them. */
  private readonly watches = new Set<AbortController>();

  constructor(
    readonly access: KubeAccess,
    options: KubeClientOptions = {},
  ) {
    const config: KubeConfig = access.config;
    const cluster = config.getCurrentCluster();
    if (!cluster) throw new Error(`${access.source}: no current cluster`);
    this.server = cluster.server.replace(/\/+$/, '');
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.pageSize = options.pageSize ?? 500;
    this.retry = { ...CALL_RETRY, deadlineMarginMs: this.timeoutMs, ...options.retry };
    const timeoutMs = this.timeoutMs;
    this.objects = new KubernetesObjectApi(
      createConfiguration({
        baseServer: new ServerConfiguration(this.server, {}),
        authMethods: { default: config },
        promiseMiddleware: [
          {
            // Temporal's cancellation of the activity aborts the call in flight; a hung server is given up on.
            pre: (context: RequestContext) => {
              const cancelled = abortSignal();
              const timeout = AbortSignal.timeout(timeoutMs);
              context.setSignal(cancelled ? AbortSignal.any([cancelled, timeout]) : timeout);
              return Promise.resolve(context);
            },
            post: (response: ResponseContext) => Promise.resolve(response),
          },
        ],
      }),
    );
    this.watcher = new Watch(config);
  }

  /** The object, or undefined when the server answers 404. */
  async get<T extends KubeObject = KubeObject>(ref: ObjectRef): Promise<T | undefined> {
    try {
      return await this.call('GET', objectPath(ref), () => this.objects.read<T>(ref), isTransientRead);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * Every object of a kind in a namespace, page by page (`limit` and `continue`). `retry: false`
   * for a caller that retries the list itself (a follow), so one count bounds its failures.
   */
  async list<T extends KubeObject = KubeObject>(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    { labelSelector, fieldSelector, retry = true }: { labelSelector?: string; fieldSelector?: string; retry?: boolean } = {},
  ): Promise<{ items: T[]; resourceVersion?: string }> {
    const path = collectionPath(apiVersion, kind, namespace);
    const items: T[] = [];
    let continueToken: string | undefined;
    let resourceVersion: string | undefined;
    do {
      const page = await this.call(
        'GET',
        path,
        () => this.objects.list<T>(apiVersion, kind, namespace, undefined, undefined, undefined, fieldSelector, labelSelector, this.pageSize, continueToken),
        retry ? isTransientRead : undefined,
      );
      items.push(...page.items);
      continueToken = page.metadata?._continue || undefined;
      resourceVersion = page.metadata?.resourceVersion;
    } while (continueToken !== undefined);
    // A paged list is one consistent snapshot (the server pins the first page's resourceVersion), so a watch can start from it.
    return { items, resourceVersion };
  }

  /**
   * Server-side apply: `manifest` is the whole intent of `fieldManager` for this object.
   * `force` takes over fields another manager owns instead of failing with a conflict.
   * `dryRun`: the server runs the whole apply (defaulting, validation, admission) and answers
   * with the object it would have stored, persisting nothing (`dryRun=All`).
   */
  apply<T extends KubeObject = KubeObject>(manifest: KubeObject, { fieldManager, force, dryRun = false }: { fieldManager: string; force: boolean; dryRun?: boolean }): Promise<T> {
    return this.call(
      'PATCH',
      objectPath(manifest),
      () => this.objects.patch<T>(manifest as T, undefined, dryRun ? 'All' : undefined, fieldManager, force, PatchStrategy.ServerSideApply),
      isRetryableWrite,
    );
  }

  /**
   * A patch of `ref` by `body` (which also names the object, as the official client sends the
   * object it is given). Retried in place like an apply, so `body` must be safe to send twice:
   * fixed values, or a resourceVersion precondition; a JSON patch only when refused.
   */
  patch<T extends KubeObject = KubeObject>(ref: ObjectRef, body: Record<string, unknown>, { type, fieldManager }: { type: PatchType; fieldManager: string }): Promise<T> {
    const spec = { ...body, apiVersion: ref.apiVersion, kind: ref.kind, metadata: { ...(body.metadata as object | undefined), name: ref.metadata.name, namespace: ref.metadata.namespace } };
    return this.call(
      'PATCH',
      objectPath(ref),
      () => this.objects.patch<T>(spec as unknown as T, undefined, undefined, fieldManager, undefined, PATCH_STRATEGIES[type]),
      // A JSON patch (an array append, say) may not be one a replay leaves as it was.
      type === 'json' ? isRefused : isRetryableWrite,
    );
  }

  /** Deletes the object; false when it was already gone. */
  async delete(ref: ObjectRef, { propagationPolicy }: { propagationPolicy?: 'Foreground' | 'Background' | 'Orphan' } = {}): Promise<boolean> {
    try {
      // Only when refused: a replay of a delete carried out would answer 404 and report the object as already gone.
      await this.call('DELETE', objectPath(ref), () => this.objects.delete(ref, undefined, undefined, undefined, undefined, propagationPolicy), isRefused);
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  /**
   * Streams the changes to a collection from `resourceVersion` on, calling `onEvent` for each,
   * until `onEvent` returns true (resolves), the server ends the watch (resolves: the caller
   * re-lists and watches again), or it fails (rejects, classified like any call; a 410 Gone
   * arrives as an ERROR event or a rejected KubeApiError with status 410).
   */
  watch<T extends KubeObject>(
    collection: { apiVersion: string; kind: string; namespace?: string },
    query: { resourceVersion?: string; fieldSelector?: string; labelSelector?: string; timeoutSeconds?: number },
    onEvent: (event: WatchEvent<T>) => boolean,
  ): Promise<void> {
    const path = collectionPath(collection.apiVersion, collection.kind, collection.namespace);
    const cancelled = abortSignal();
    return new Promise<void>((resolve, reject) => {
      let controller: AbortController | undefined;
      let settled = false;
      const finish = (error?: unknown) => {
        if (settled) return;
        settled = true;
        cancelled?.removeEventListener('abort', onCancel);
        if (controller) {
          this.watches.delete(controller);
          controller.abort();
        }
        if (error === undefined) resolve();
        else reject(error instanceof Error ? error : new Error(`watch failed: ${JSON.stringify(error)}`));
      };
      const onCancel = () => finish(cancelled?.reason ?? new Error('cancelled'));
      cancelled?.addEventListener('abort', onCancel);
      this.watcher
        .watch(
          path,
          { ...query, allowWatchBookmarks: true },
          (type: string, object: T) => {
            if (settled) return;
            try {
              if (onEvent({ type: type as WatchEvent<T>['type'], object })) finish();
            } catch (error) {
              finish(error);
            }
          },
          (error: unknown) => finish(error === null || error === undefined ? undefined : this.translate('WATCH', path, error)),
        )
        .then(
          (started) => {
            controller = started;
            if (settled) started.abort();
            else this.watches.add(started);
          },
          (error: unknown) => finish(this.translate('WATCH', path, error)),
        );
    });
  }

  /** Ends open watches; the client holds no connections between calls (the official client opens one per request). */
  close(): void {
    for (const controller of this.watches) controller.abort();
    this.watches.clear();
  }

  /** One call, sent again in place (CALL_RETRY) while it fails in a way `retryable` accepts. */
  private async call<T>(method: string, path: string, send: () => Promise<T>, retryable?: (error: unknown) => error is KubeApiError | KubeConnectionError): Promise<T> {
    const context = activityContext();
    const retries =
      retryable &&
      inPlaceRetries({
        limits: this.retry,
        retryable,
        noun: 'call',
        context,
        // The activity's heartbeat says so while a call waits to be sent again (the Temporal UI shows it as its details).
        note: (retrying) => {
          if (retrying !== undefined) context?.heartbeat({ retrying });
        },
        giveUp: (error, why) => {
          error.gaveUp = why;
          return error;
        },
      });
    for (;;) {
      try {
        return await send();
      } catch (error) {
        const translated = this.translate(method, path, error);
        if (!retries) throw translated;
        await retries.pause(translated, method);
      }
    }
  }

  /** The official client's errors as the project's: an answer with a status, or no answer at all. */
  private translate(method: string, path: string, error: unknown): unknown {
    if (error instanceof ApiException) {
      const status = statusOf(error.body);
      return new KubeApiError(method, path, error.code, status.reason, status.message, retryAfterMs(error.headers, status.retryAfterSeconds));
    }
    const statusCode = (error as { statusCode?: unknown } | null)?.statusCode;
    if (typeof statusCode === 'number') return new KubeApiError(method, path, statusCode, undefined, (error as Error).message);
    // Cancellation by Temporal passes through untouched, so the SDK sees the activity was cancelled.
    if (abortSignal()?.aborted) return error;
    if (error instanceof Error) return new KubeConnectionError(method, `${this.server}${path}`, error);
    return error;
  }
}

/** The API server answers errors with a `Status` object; anything else (a proxy's HTML page) is quoted as text. */
export function statusOf(body: unknown): { reason?: string; message: string; retryAfterSeconds?: number } {
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      const trimmed = body.trim();
      return { message: trimmed.length > 300 ? `${trimmed.slice(0, 297)}...` : trimmed || '(empty answer)' };
    }
  }
  const status = parsed as { kind?: string; reason?: string; message?: string; details?: { retryAfterSeconds?: unknown } } | null;
  if (status?.kind === 'Status') {
    const retryAfterSeconds = status.details?.retryAfterSeconds;
    return {
      reason: status.reason || undefined,
      message: status.message ?? JSON.stringify(status),
      ...(typeof retryAfterSeconds === 'number' && Number.isFinite(retryAfterSeconds) && retryAfterSeconds >= 0 ? { retryAfterSeconds } : {}),
    };
  }
  return { message: JSON.stringify(parsed) ?? '(empty answer)' };
}

/**
 * The wait an answer asks for: its `Retry-After` header (seconds, or an HTTP date), else the
 * Status's `details.retryAfterSeconds` (the API server sends both with a 429); undefined when
 * neither says. `headers` as the official client hands them over, names in lower case.
 */
export function retryAfterMs(headers: Record<string, string> | undefined, retryAfterSeconds?: number, now: number = Date.now()): number | undefined {
  const header = headers?.['retry-after']?.trim();
  if (header) {
    if (/^\d+$/.test(header)) return Number(header) * 1000;
    const at = Date.parse(header);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  return retryAfterSeconds === undefined ? undefined : retryAfterSeconds * 1000;
}
