import { activityContext } from '../poll';
import type { KubeClient, KubeObject } from './client';
import { KubeApiError } from './errors';
import { describe, type ObjectRef } from './resources';

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
}

/** Heartbeats go out at least this often while a watch is quiet (the heartbeat timeouts are 30 s). */
const HEARTBEAT_EVERY_MS = 10_000;

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
  const beat = () => context?.heartbeat({ waitingFor: options.what, state: last });

  const timer = setInterval(beat, HEARTBEAT_EVERY_MS);
  try {
    for (;;) {
      const listed = await kube.list<T>(apiVersion, kind, namespace, { fieldSelector });
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
              resourceVersion = event.object.metadata?.resourceVersion ?? resourceVersion;
              if (event.type === 'BOOKMARK') return false;
              last = judge(event.type === 'DELETED' ? undefined : event.object);
              beat();
              finished = done(last);
              return finished;
            },
          );
        } catch (error) {
          if (!(error instanceof KubeApiError && error.status === 410)) throw error;
          expired = true;
        }
        if (finished) return last;
        if (expired) break;
      }
    }
  } finally {
    clearInterval(timer);
  }
}
