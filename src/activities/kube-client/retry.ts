import type { Context } from '@temporalio/activity';
import { pollDelay } from '../poll';
import { KubeApiError, type KubeConnectionError } from './errors';

/**
 * How far a call to a throttled or failing API server is retried in place before the activity
 * attempt fails: a follow's list and watch (follow.ts FOLLOW_RETRY) and the client's one-shot
 * calls (client.ts CALL_RETRY) share the back-off below.
 */
export interface RetryLimits {
  /** Failures in a row after which the activity's retry takes over. */
  maxConsecutive: number;
  /** The pause without a Retry-After: the first one, and the cap of its growth (jittered, poll.ts pollDelay). */
  intervalMs: number;
  maxIntervalMs: number;
  /** A longer Retry-After is cut to this. */
  maxRetryAfterMs: number;
  /** No try is started within this of the activity attempt's deadline (a timeout would report nothing of why). */
  deadlineMarginMs: number;
}

/** Heartbeats go out at least this often while a retry waits (the heartbeat timeouts are 30 s). */
const HEARTBEAT_EVERY_MS = 10_000;

export interface InPlaceRetryOptions {
  limits: RetryLimits;
  /** Which failures may be sent again; any other is rethrown as it is. */
  retryable: (error: unknown) => error is KubeApiError | KubeConnectionError;
  /** A deadline of the caller's own (a follow's wait), beside the activity attempt's. */
  deadline?: number;
  /** What the pause is called for in messages: "read" gives "3 reads in a row failed". */
  noun: string;
  context: Context | undefined;
  /** Told what to heartbeat while retrying (again at least every 10 s of a pause), and `undefined` once a call succeeded. */
  note: (retrying: string | undefined) => void;
  /** What to throw on giving up: `why` says how many failed and what stopped the retries. */
  giveUp: (error: KubeApiError | KubeConnectionError, why: string, label: string) => Error;
}

/**
 * The in-place retries of one series of calls. `pause` rethrows an error that `retryable` does
 * not accept as it is, and throws `giveUp`'s error once the limits are reached; otherwise it waits,
 * after the server's Retry-After when it gave one (as client-go does), else a jittered back-off.
 * Failing the activity attempt at once would cost Temporal's back-off (doubling up to a minute)
 * and a fresh start of the activity for one throttled request.
 */
export function inPlaceRetries(options: InPlaceRetryOptions) {
  const { limits, context } = options;
  let failures = 0;
  let since = 0;
  return {
    /** How many calls in a row have failed so far. */
    get failures() {
      return failures;
    },
    succeeded() {
      if (failures === 0) return;
      failures = 0;
      options.note(undefined);
    },
    async pause(error: unknown, label: string): Promise<void> {
      if (!options.retryable(error)) throw error;
      if (failures === 0) since = Date.now();
      failures += 1;
      const serverAsked = error instanceof KubeApiError ? error.retryAfterMs : undefined;
      const delay =
        serverAsked === undefined
          ? pollDelay(failures - 1, limits.intervalMs, limits.maxIntervalMs)
          : // A little jitter on top, so callers the server throttled together do not come back together.
            Math.round(Math.min(serverAsked, limits.maxRetryAfterMs) * (1 + 0.2 * Math.random()));
      const activityDeadline = attemptDeadline(context) - limits.deadlineMarginMs;
      const resumeAt = Date.now() + delay;
      const inARow = `${failures} ${failures === 1 ? options.noun : `${options.noun}s in a row`} failed${failures > 1 ? ` over ${Math.round((Date.now() - since) / 1000)} s` : ''}`;
      let givingUp: string | undefined;
      if (failures >= limits.maxConsecutive) givingUp = `${inARow}, the most retried in place (the activity's retry takes over)`;
      else if (resumeAt > (options.deadline ?? Infinity)) givingUp = `${inARow} and the wait's deadline comes before the next try (in ${delay} ms)`;
      else if (resumeAt > activityDeadline) givingUp = `${inARow} and the activity attempt's deadline is too close for another try (in ${delay} ms)`;
      if (givingUp !== undefined) throw options.giveUp(error, givingUp, label);
      const retrying = `${label} failed (${failures} in a row): ${error.message}; trying again in ${delay} ms`;
      for (let left = delay; left > 0; left -= HEARTBEAT_EVERY_MS) {
        options.note(retrying);
        const slice = Math.min(left, HEARTBEAT_EVERY_MS);
        if (context) await context.sleep(slice);
        else await new Promise((resolve) => setTimeout(resolve, slice));
      }
    },
  };
}

/** When the current attempt must have finished: the earlier of its start-to-close and the activity's schedule-to-close. */
export function attemptDeadline(context: Context | undefined): number {
  if (!context) return Infinity;
  const { info } = context;
  let deadline = Infinity;
  // Measured from when the attempt was scheduled (it started later): errs towards giving up early.
  if (info.startToCloseTimeoutMs > 0) deadline = Math.min(deadline, info.currentAttemptScheduledTimestampMs + info.startToCloseTimeoutMs);
  if (info.scheduleToCloseTimeoutMs > 0) deadline = Math.min(deadline, info.scheduledTimestampMs + info.scheduleToCloseTimeoutMs);
  return deadline;
}
