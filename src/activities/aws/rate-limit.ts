import { heartbeat } from '../poll';
import { currentLane, type RequestLane } from '../request-lane';

/**
 * Requests per second one worker process sends to a service in one account and region, kept
 * under AWS's per-account API rate limits so that a release with thousands of tenants in flight
 * slows down instead of being throttled (docs/operators.md, "AWS call rate"). A worker's pollers
 * share these; with several AWS worker replicas, each has its own budget.
 */
export const DEFAULT_AWS_RATES: Readonly<Record<string, number>> = {
  cloudformation: 8,
  rds: 8,
  ecs: 15,
  // Route 53 allows five requests per second per account, whatever the region.
  route53: 4,
  acm: 8,
  elasticloadbalancing: 8,
  cloudwatch: 8,
  // GetLogEvents: 10 per second per account and region (a migration's output, read once per run).
  logs: 8,
  ssm: 20,
};
const ACCOUNT_WIDE = new Set(['route53']);
/** A waiting caller heartbeats this often, so a long queue is not taken for a dead worker. */
const HEARTBEAT_EVERY_MS = 5_000;

/**
 * When quick calls and pollers both wait for one budget, at least this share of its slots goes to
 * the pollers, so a stream of quick calls never stops every wait from seeing its resource.
 */
export const POLL_FLOOR = 0.25;

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}
const realClock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };

interface Budget {
  /** The earliest time the next slot can be used. */
  next: number;
  waiting: Record<RequestLane, (() => void)[]>;
  /** Slots owed to the pollers while quick calls were served first (POLL_FLOOR). */
  pollCredit: number;
  handingOut: boolean;
}

/**
 * One budget per (service, account, region): slots spaced 1/rate apart, with up to a second's
 * worth let through at once. The reads of waits (the `poll` lane, request-lane.ts) and one-shot
 * calls (create a change set, register a task definition, tag) share it, but a free slot goes to
 * a waiting one-shot call first: at thousands of tenants in flight the polls alone fill the budget,
 * and a one-shot call queued behind them would outlive its start-to-close timeout. Pollers get
 * the rest, and never less than POLL_FLOOR of the slots. The rate per account stays the same.
 */
export class AwsRateLimiter {
  private readonly budgets = new Map<string, Budget>();

  constructor(
    private readonly rates: Readonly<Record<string, number>> = DEFAULT_AWS_RATES,
    private readonly clock: Clock = realClock,
  ) {}

  async take(service: string, accountId: string, region: string, lane: RequestLane = currentLane()): Promise<void> {
    const rate = this.rates[service];
    if (!rate || rate <= 0) return;
    const key = ACCOUNT_WIDE.has(service) ? `${service}|${accountId}` : `${service}|${accountId}|${region}`;
    let budget = this.budgets.get(key);
    if (!budget) {
      budget = { next: 0, waiting: { quick: [], poll: [] }, pollCredit: 0, handingOut: false };
      this.budgets.set(key, budget);
    }
    const spacing = 1_000 / rate;
    const now = this.clock.now();
    const slot = Math.max(now - 1_000 + spacing, budget.next);
    if (slot <= now && !budget.handingOut) {
      budget.next = slot + spacing;
      return;
    }
    const granted = new Promise<void>((resolve) => budget.waiting[lane].push(resolve));
    if (!budget.handingOut) void this.handOut(budget, spacing);
    // A long queue must not be taken for a dead worker.
    const ticking = setInterval(() => heartbeat({ waitingFor: `a ${service} request slot in account ${accountId}` }), HEARTBEAT_EVERY_MS);
    ticking.unref?.();
    try {
      await granted;
    } finally {
      clearInterval(ticking);
    }
  }

  /** Gives each slot, as it comes due, to the next waiter: quick calls first, the pollers' floor kept. */
  private async handOut(budget: Budget, spacing: number): Promise<void> {
    budget.handingOut = true;
    try {
      for (;;) {
        const { quick, poll } = budget.waiting;
        if (quick.length === 0 && poll.length === 0) return;
        const now = this.clock.now();
        const slot = Math.max(now - 1_000 + spacing, budget.next);
        if (slot > now) {
          await this.clock.sleep(slot - now);
          continue;
        }
        budget.next = slot + spacing;
        this.pick(budget)();
      }
    } finally {
      budget.handingOut = false;
    }
  }

  private pick(budget: Budget): () => void {
    const { quick, poll } = budget.waiting;
    if (quick.length > 0 && poll.length > 0) {
      budget.pollCredit += POLL_FLOOR;
      if (budget.pollCredit >= 1) {
        budget.pollCredit -= 1;
        return poll.shift()!;
      }
      return quick.shift()!;
    }
    budget.pollCredit = 0;
    return (quick.shift() ?? poll.shift())!;
  }
}
