import { AwsRateLimiter, type Clock } from '../../src/activities/aws/rate-limit';

/** A clock that only moves when someone sleeps, so the schedule can be read exactly. */
function fakeClock(): Clock & { slept: number[] } {
  let now = 1_000_000;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: (ms) => {
      slept.push(ms);
      now += ms;
      return Promise.resolve();
    },
  };
}

describe('AwsRateLimiter', () => {
  it('lets a second’s worth through at once, then spaces requests 1/rate apart', async () => {
    const clock = fakeClock();
    const limiter = new AwsRateLimiter({ rds: 4 }, clock);
    const started = clock.now();
    for (let i = 0; i < 12; i++) await limiter.take('rds', '123456789012', 'eu-west-1');
    // 4 at once, then 8 more at 4 per second.
    expect(clock.now() - started).toBe(2_000);
  });

  it('keeps one budget per service, account and region, and one per account for Route 53', async () => {
    const clock = fakeClock();
    const limiter = new AwsRateLimiter({ rds: 1, route53: 1 }, clock);
    await limiter.take('rds', '111111111111', 'eu-west-1');
    await limiter.take('rds', '111111111111', 'us-east-1');
    await limiter.take('rds', '222222222222', 'eu-west-1');
    expect(clock.slept).toEqual([]);
    await limiter.take('route53', '111111111111', 'eu-west-1');
    await limiter.take('route53', '111111111111', 'us-east-1');
    expect(clock.slept).toEqual([1_000]);
  });

  it('does not limit a service without a rate', async () => {
    const clock = fakeClock();
    const limiter = new AwsRateLimiter({}, clock);
    for (let i = 0; i < 100; i++) await limiter.take('rds', '123456789012', 'eu-west-1');
    expect(clock.slept).toEqual([]);
  });
});
