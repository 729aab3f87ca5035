import { ApplicationFailure } from '@temporalio/common';
import { ErrorType, permanentFailure } from '../../shared/errors';

/** How a failed API call should be treated; decided once here so every caller agrees. */
export type KubeErrorKind = 'NotFound' | 'Conflict' | 'Invalid' | 'Forbidden' | 'Unavailable' | 'Other';

/** A non-2xx answer from the API server, with the server's own Status message and reason. */
export class KubeApiError extends Error {
  readonly kind: KubeErrorKind;
  /** Set when KubeClient retried the call in place and gave up: how many tries failed and why it stopped. */
  gaveUp?: string;

  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    /** The Status object's `reason` (NotFound, AlreadyExists, Conflict, Invalid, ...), when it sent one. */
    readonly reason: string | undefined,
    readonly serverMessage: string,
    /**
     * How long the server asked the client to wait before trying again (its `Retry-After`, or
     * the Status's `details.retryAfterSeconds`): API Priority and Fairness sends one with a 429.
     */
    readonly retryAfterMs?: number,
  ) {
    super(`${method} ${path}: HTTP ${status}${reason ? ` ${reason}` : ''}: ${serverMessage}${retryAfterMs === undefined ? '' : ` (retry after ${retryAfterMs / 1000} s)`}`);
    this.name = 'KubeApiError';
    this.kind = kindOf(status);
  }
}

/** The request never got an answer: refused, reset, timed out, TLS failure. */
export class KubeConnectionError extends Error {
  /** As KubeApiError's. */
  gaveUp?: string;

  constructor(
    readonly method: string,
    readonly url: string,
    cause: Error,
  ) {
    super(`${method} ${url}: ${cause.message}`, { cause });
    this.name = 'KubeConnectionError';
  }
}

export const isNotFound = (error: unknown): boolean => error instanceof KubeApiError && error.kind === 'NotFound';

/**
 * Whether a read may simply be sent again: the server throttled it, failed, or never answered.
 * Only for reads (a GET, a list, a watch): a write that met a 5xx or a lost connection may have
 * been carried out.
 */
export const isTransientRead = (error: unknown): error is KubeApiError | KubeConnectionError =>
  (error instanceof KubeApiError && error.kind === 'Unavailable') || error instanceof KubeConnectionError;

/**
 * Whether the server turned a call away before acting on it: throttled (429, API Priority and
 * Fairness) or unavailable (503). Safe to send again, a write too.
 */
export const isRefused = (error: unknown): error is KubeApiError => error instanceof KubeApiError && (error.status === 429 || error.status === 503);

/** Connection failures after which a replayed write is harmless (see isRetryableWrite); a timeout is not one of them. */
const RESET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE']);

/**
 * Whether a write may be sent again in place: refused (isRefused), or its connection was refused
 * or reset. A reset write may have been carried out, so this is only for writes whose replay
 * changes nothing more: server-side apply, and the patches KubeClient sends (fixed values, or a
 * resourceVersion precondition that answers a replay with 409).
 */
export const isRetryableWrite = (error: unknown): error is KubeApiError | KubeConnectionError =>
  isRefused(error) || (error instanceof KubeConnectionError && RESET_CODES.has(String((error.cause as { code?: unknown } | undefined)?.code)));

function kindOf(status: number): KubeErrorKind {
  if (status === 404 || status === 410) return 'NotFound';
  if (status === 409) return 'Conflict';
  if (status === 400 || status === 422 || status === 415) return 'Invalid';
  if (status === 401 || status === 403) return 'Forbidden';
  if (status === 429 || status >= 500) return 'Unavailable';
  return 'Other';
}

/**
 * Thrown for answers a later attempt may not get (conflict, throttling, server error, lost
 * connection). Transient errors are left to the activity's retry policy (only permanent ones
 * carry a type from src/shared/errors.ts), so this is a plain error (Temporal records its name
 * as the failure type) rather than one of the enum's types.
 */
export class KubeTransientError extends Error {
  constructor(message: string, cause?: Error) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'KubeTransientError';
  }
}

/**
 * Turns whatever a Kubernetes call threw into what the activity should throw, with `doing`
 * (what we were doing, naming the resource) in front and the original as the cause. A refused
 * manifest, missing permissions or a missing resource become non-retryable ApplicationFailures,
 * because a second attempt would meet the same answer.
 */
export function toKubeFailure(error: unknown, doing: string): unknown {
  if (error instanceof ApplicationFailure) return error;
  if (error instanceof KubeApiError) {
    const message = `${doing}: ${error.message}${error.gaveUp === undefined ? '' : ` (${error.gaveUp})`}`;
    const details = [{ status: error.status, reason: error.reason ?? null }];
    switch (error.kind) {
      case 'NotFound':
        return permanentFailure(ErrorType.ResourceNotFound, message, { cause: error, details });
      case 'Forbidden':
        return permanentFailure(ErrorType.AccessDenied, `${message} (check the worker's RBAC in this cluster)`, { cause: error, details });
      case 'Conflict':
      case 'Unavailable':
        return new KubeTransientError(message, error);
      default:
        // A refused manifest, or an answer this client does not expect (405, a redirect): a retry gets the same.
        return permanentFailure(ErrorType.InvalidInput, message, { cause: error, details });
    }
  }
  if (error instanceof KubeConnectionError) return new KubeTransientError(`${doing}: ${error.message}${error.gaveUp === undefined ? '' : ` (${error.gaveUp})`}`, error);
  // Cancellation and our own programming errors pass through untouched.
  return error;
}

/** Runs `fn` and rethrows any failure as `toKubeFailure(error, doing)`. */
export async function kubeStep<T>(doing: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw toKubeFailure(error, doing);
  }
}
