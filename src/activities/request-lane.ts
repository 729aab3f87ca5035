import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Which lane an AWS request waits in for its account's request budget (aws/rate-limit.ts):
 * `poll` for the repeated reads of a wait (a stack, a snapshot, DNS validation, a rollout,
 * verification), `quick` for everything else. The lane follows the call through async code, so
 * the SDK clients need no extra argument.
 */
export type RequestLane = 'quick' | 'poll';

const lane = new AsyncLocalStorage<RequestLane>();

/** Runs a waiting activity's read in the poll lane. */
export function inPollLane<T>(read: () => Promise<T>): Promise<T> {
  return lane.run('poll', read);
}

export function currentLane(): RequestLane {
  return lane.getStore() ?? 'quick';
}
