import { Context } from '@temporalio/activity';
import { inPollLane } from './request-lane';

export interface PollOptions<T> {
  /** What the activity is waiting for, for heartbeat details and timeout messages. */
  what: string;
  read: () => Promise<T>;
  /** True once the observed state is final (success or failure alike); the caller judges it. */
  done: (state: T) => boolean;
  /** The first pause between reads; each later one is `BACKOFF` times longer, up to `maxIntervalMs`. */
  intervalMs?: number;
  maxIntervalMs?: number;
  /** Upper bound independent of the activity's own timeout, so a wait cannot outlive its purpose. */
  timeoutMs?: number;
  onTimeout: (last: T | undefined) => Error;
}

/**
 * Pollers slow down as a wait drags on (a stack that takes 15 minutes is asked about a few dozen
 * times, not 450), and their pauses are jittered so that tenants which started together do not ask
 * together. The call rate this gives at scale is worked out in docs/operators.md, "AWS call rate, timeouts and retries".
 */
export const POLL_DEFAULTS = { intervalMs: 2_000, maxIntervalMs: 30_000, backoff: 1.5 } as const;
/** Heartbeats go out at least this often, whatever the pause between reads (the heartbeat timeouts are 30 s). */
const HEARTBEAT_EVERY_MS = 10_000;

/**
 * The pause before read number `attempt + 1`: exponential up to the cap, with "equal jitter"
 * (half of it fixed, half random), so no poller asks sooner than half its interval.
 */
export function pollDelay(attempt: number, intervalMs: number = POLL_DEFAULTS.intervalMs, maxIntervalMs: number = POLL_DEFAULTS.maxIntervalMs, random: () => number = Math.random): number {
  const ceiling = Math.min(maxIntervalMs, intervalMs * POLL_DEFAULTS.backoff ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Waits inside the activity, heartbeating the last observed state, so a worker crash is
 * noticed within the heartbeat timeout and the retry resumes the wait (never the workflow).
 * Cancellation of the activity interrupts the sleep.
 */
export async function pollWithHeartbeat<T>(options: PollOptions<T>): Promise<T> {
  const context = activityContext();
  const interval = options.intervalMs ?? POLL_DEFAULTS.intervalMs;
  const maxInterval = Math.max(interval, options.maxIntervalMs ?? POLL_DEFAULTS.maxIntervalMs);
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  let last: T | undefined;
  for (let attempt = 0; ; attempt++) {
    // Reads of a wait give way to one-shot calls in the account's request budget (aws/rate-limit.ts).
    last = await inPollLane(options.read);
    if (options.done(last)) return last;
    const details = { waitingFor: options.what, state: summarise(last) };
    context?.heartbeat(details);
    const left = deadline - Date.now();
    if (left < interval / 2) throw options.onTimeout(last);
    // The last pause ends at the deadline, for one more look before giving up.
    await sleepHeartbeating(Math.min(pollDelay(attempt, interval, maxInterval), left), context, details);
  }
}

async function sleepHeartbeating(ms: number, context: Context | undefined, details: unknown): Promise<void> {
  for (let left = ms; left > 0; left -= HEARTBEAT_EVERY_MS) {
    const slice = Math.min(left, HEARTBEAT_EVERY_MS);
    if (context) await context.sleep(slice);
    else await new Promise((resolve) => setTimeout(resolve, slice));
    if (left > slice) context?.heartbeat(details);
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
