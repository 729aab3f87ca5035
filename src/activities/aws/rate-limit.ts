import { heartbeat } from '../poll';

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
  ssm: 20,
};
const ACCOUNT_WIDE = new Set(['route53']);
/** A waiting caller heartbeats this often, so a long queue is not taken for a dead worker. */
const HEARTBEAT_EVERY_MS = 5_000;

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}
const realClock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };

/**
 * One schedule per (service, account, region): each request takes the next free slot, spaced
 * 1/rate apart, with up to a second's worth of requests let through at once.
 */
export class AwsRateLimiter {
  private readonly next = new Map<string, number>();

  constructor(
    private readonly rates: Readonly<Record<string, number>> = DEFAULT_AWS_RATES,
    private readonly clock: Clock = realClock,
  ) {}

  async take(service: string, accountId: string, region: string): Promise<void> {
    const rate = this.rates[service];
    if (!rate || rate <= 0) return;
    const key = ACCOUNT_WIDE.has(service) ? `${service}|${accountId}` : `${service}|${accountId}|${region}`;
    const now = this.clock.now();
    const spacing = 1_000 / rate;
    const slot = Math.max(now - 1_000 + spacing, this.next.get(key) ?? 0);
    this.next.set(key, slot + spacing);
    for (let wait = slot - now; wait > 0; wait -= HEARTBEAT_EVERY_MS) {
      await this.clock.sleep(Math.min(wait, HEARTBEAT_EVERY_MS));
      if (wait > HEARTBEAT_EVERY_MS) heartbeat({ waitingFor: `a ${service} request slot in account ${accountId}` });
    }
  }
}
