import type { Context } from '@temporalio/activity';
import { activityContext } from '../poll';
import type { KubeClient, KubeObject } from './client';
import { KubeApiError, KubeTransientError, isTransientRead } from './errors';
import { describe, type ObjectRef } from './resources';
import { inPlaceRetries, type RetryLimits } from './retry';

export interface FollowOptions<T extends KubeObject, S> {
  /** The one object to follow. */
  ref: ObjectRef;
  /** What the activity is waiting for, for heartbeats and errors. */
  what: string;
  /** Reads the object's state; `undefined` means it does not exist (not yet, or any more). */
  judge: (object: T | undefined) => S;
  /** True once the state is final (success or failure alike). */
  done: (state: S) => boolean;
  timeoutMs: number;
  onTimeout: (last: S) => Error;
  /** How long one watch request stays open before it is renewed from the last resourceVersion. Default 5 minutes. */
  watchSeconds?: number;
  /** Overrides of FOLLOW_RETRY. */
  retry?: Partial<typeof FOLLOW_RETRY>;
}

/** Heartbeats go out at least this often while a watch is quiet (the heartbeat timeouts are 30 s). */
const HEARTBEAT_EVERY_MS = 10_000;

/**
 * How a follow rides out a throttled or failing API server. Its list and watch are reads, so one
 * that meets a 429, a 5xx or a lost connection is sent again in place, after the server's
 * Retry-After when it gives one, as client-go does. Failing the activity attempt instead would
 * cost Temporal's back-off (doubling up to a minute) and a fresh start of the activity for one
 * throttled request. A server that keeps failing still fails the attempt, with the last error as
 * the cause: after `maxConsecutive` failures in a row (about a minute of back-off), or when the
 * next pause would end past the follow's own deadline or within `deadlineMarginMs` of the
 * activity attempt's (a timeout would report nothing of why).
 */
export const FOLLOW_RETRY: RetryLimits = {
  maxConsecutive: 10,
  /** The pause without a Retry-After: the first one, and the cap of its growth (jittered, poll.ts pollDelay). */
  intervalMs: 1_000,
  maxIntervalMs: 15_000,
  /** A longer Retry-After is cut to this. */
  maxRetryAfterMs: 30_000,
  deadlineMarginMs: 30_000,
};

/**
 * Follows one object until `done`: a list (one item, by field selector) gives its state and the
 * resourceVersion to watch from; the watch reports each change as it happens, instead of a read
 * every second. A watch the server ends is renewed from the last resourceVersion it reported
 * (bookmarks included); one whose resourceVersion is too old (410 Gone, "Expired") is replaced
 * by a fresh list, as client-go's reflector does. Heartbeats carry the last state, so a retry
 * after a worker crash starts over with a list.
 */
export async function followObject<T extends KubeObject, S>(kube: KubeClient, options: FollowOptions<T, S>): Promise<S> {
  const { ref, judge, done } = options;
  const { apiVersion, kind } = ref;
  const { name, namespace } = ref.metadata;
  const fieldSelector = `metadata.name=${name}`;
  const deadline = Date.now() + options.timeoutMs;
  const context = activityContext();
  let last: S;
  // While reads are being retried, the heartbeat says so (the Temporal UI shows it as the activity's details).
  let retrying: string | undefined;
  const beat = () => context?.heartbeat({ waitingFor: options.what, state: last, ...(retrying === undefined ? {} : { retrying }) });
  const transient = transientReads(options, deadline, context, (note) => {
    retrying = note;
    if (note !== undefined) beat();
  });

  const timer = setInterval(beat, HEARTBEAT_EVERY_MS);
  try {
    for (;;) {
      let listed: { items: T[]; resourceVersion?: string };
      try {
        // The client's own in-place retry is off: this loop retries the list with the watch, under one count.
        listed = await kube.list<T>(apiVersion, kind, namespace, { fieldSelector, retry: false });
      } catch (error) {
        await transient.pause(error, 'list');
        continue;
      }
      transient.succeeded();
      last = judge(listed.items[0]);
      beat();
      if (done(last)) return last;
      let resourceVersion = listed.resourceVersion;
      // Watch (and renew the watch) until the state is final, the deadline passes, or the resourceVersion expires.
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0) throw options.onTimeout(last);
        let expired = false;
        let finished = false;
        try {
          await kube.watch<T>(
            { apiVersion, kind, namespace },
            { resourceVersion, fieldSelector, timeoutSeconds: Math.max(1, Math.min(options.watchSeconds ?? 300, Math.ceil(left / 1000))) },
            (event) => {
              if (event.type === 'ERROR') {
                const status = event.object as unknown as { code?: number; reason?: string; message?: string };
                if (status.code === 410) {
                  expired = true;
                  return true;
                }
                throw new KubeApiError('WATCH', `${describe(ref)}`, status.code ?? 500, status.reason, status.message ?? JSON.stringify(status));
              }
              transient.succeeded();
              resourceVersion = event.object.metadata?.resourceVersion ?? resourceVersion;
              if (event.type === 'BOOKMARK') return false;
              last = judge(event.type === 'DELETED' ? undefined : event.object);
              beat();
              finished = done(last);
              return finished;
            },
          );
          if (!expired) transient.succeeded();
        } catch (error) {
          if (error instanceof KubeApiError && error.status === 410) {
            expired = true;
          } else {
            // Watched from the same resourceVersion again; should it have expired meanwhile, the 410 re-lists.
            await transient.pause(error, 'watch');
            continue;
          }
        }
        if (finished) return last;
        if (expired) break;
      }
    }
  } finally {
    clearInterval(timer);
  }
}

/** The in-place retries of one follow (FOLLOW_RETRY): a KubeTransientError, the last error as its cause, once they give up. */
function transientReads(options: { what: string; retry?: Partial<typeof FOLLOW_RETRY> }, followDeadline: number, context: Context | undefined, note: (retrying: string | undefined) => void) {
  return inPlaceRetries({
    limits: { ...FOLLOW_RETRY, ...options.retry },
    retryable: isTransientRead,
    deadline: followDeadline,
    noun: 'read',
    context,
    note,
    giveUp: (error, why, read) => new KubeTransientError(`following ${options.what}: ${why}; the last ${read}: ${error.message}`, error),
  });
}
