import { Context } from '@temporalio/activity';

export interface PollOptions<T> {
  /** What the activity is waiting for, for heartbeat details and timeout messages. */
  what: string;
  read: () => Promise<T>;
  /** True once the observed state is final (success or failure alike); the caller judges it. */
  done: (state: T) => boolean;
  intervalMs?: number;
  /** Upper bound independent of the activity's own timeout, so a wait cannot outlive its purpose. */
  timeoutMs?: number;
  onTimeout: (last: T | undefined) => Error;
}

/**
 * Waits inside the activity, heartbeating the last observed state, so a worker crash is
 * noticed within the heartbeat timeout and the retry resumes the wait (never the workflow).
 * Cancellation of the activity interrupts the sleep.
 */
export async function pollWithHeartbeat<T>(options: PollOptions<T>): Promise<T> {
  const context = activityContext();
  const interval = options.intervalMs ?? 2_000;
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await options.read();
    if (options.done(last)) return last;
    context?.heartbeat({ waitingFor: options.what, state: summarise(last) });
    if (Date.now() + interval > deadline) throw options.onTimeout(last);
    if (context) await context.sleep(interval);
    else await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** The current activity context, or undefined when called outside an activity (tests, scripts). */
export function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

export function heartbeat(details?: unknown): void {
  activityContext()?.heartbeat(details);
}

/** Lets SDK calls be aborted when Temporal cancels the activity. */
export function abortSignal(): AbortSignal | undefined {
  return activityContext()?.cancellationSignal;
}

function summarise(state: unknown): unknown {
  const text = JSON.stringify(state);
  return text !== undefined && text.length > 500 ? `${text.slice(0, 497)}...` : state;
}
