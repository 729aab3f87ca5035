import { AwsRateLimiter, POLL_FLOOR, type Clock } from '../../src/activities/aws/rate-limit';
import { pollWithHeartbeat } from '../../src/activities/poll';
import { currentLane, inPollLane } from '../../src/activities/request-lane';

/**
 * A clock that moves only when someone sleeps: pending sleeps end one per macrotask in the order
 * they fall due, so the schedule can be read exactly and no real time passes.
 */
function fakeClock(): Clock & { slept: number[] } {
  let now = 1_000_000;
  const slept: number[] = [];
  const timers: { at: number; resolve: () => void }[] = [];
  let ticking = false;
  const tick = () => {
    if (ticking) return;
    ticking = true;
    setImmediate(() => {
      ticking = false;
      timers.sort((a, b) => a.at - b.at);
      const due = timers.shift();
      if (!due) return;
      now = Math.max(now, due.at);
      due.resolve();
      if (timers.length > 0) tick();
    });
  };
  return {
    slept,
    now: () => now,
    sleep: (ms) =>
      new Promise<void>((resolve) => {
        slept.push(ms);
        timers.push({ at: now + ms, resolve });
        tick();
      }),
  };
}

const ACCOUNT = '123456789012';

describe('AwsRateLimiter', () => {
  it('lets a second’s worth through at once, then spaces requests 1/rate apart', async () => {
    const clock = fakeClock();
    const limiter = new AwsRateLimiter({ rds: 4 }, clock);
    const started = clock.now();
    for (let i = 0; i < 12; i++) await limiter.take('rds', ACCOUNT, 'eu-west-1');
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
    for (let i = 0; i < 100; i++) await limiter.take('rds', ACCOUNT, 'eu-west-1');
    expect(clock.slept).toEqual([]);
  });

  describe('quick calls before pollers', () => {
    /** Starts the calls in the order given and records the order and time their slots came. */
    async function grants(limiter: AwsRateLimiter, clock: Clock, lanes: ('quick' | 'poll')[]) {
      const order: { lane: string; at: number }[] = [];
      const started = clock.now();
      await Promise.all(
        lanes.map((lane) => {
          const take = () => limiter.take('ecs', ACCOUNT, 'eu-west-1');
          return (lane === 'poll' ? inPollLane(take) : take()).then(() => order.push({ lane, at: clock.now() - started }));
        }),
      );
      return order;
    }

    it('gives a free slot to a quick call that queued after the pollers, at the same per-account rate', async () => {
      const clock = fakeClock();
      const limiter = new AwsRateLimiter({ ecs: 4 }, clock);
      // 12 polls fill three seconds of the budget; then 2 one-shot calls arrive.
      const order = await grants(limiter, clock, [...Array<'poll'>(12).fill('poll'), 'quick', 'quick']);
      // The first second's worth went at once, to the polls that were first; the quick calls take the next two slots.
      expect(order.slice(0, 4).map((g) => g.lane)).toEqual(['poll', 'poll', 'poll', 'poll']);
      expect(order.slice(4, 6)).toEqual([
        { lane: 'quick', at: 250 },
        { lane: 'quick', at: 500 },
      ]);
      expect(order.slice(6).every((g) => g.lane === 'poll')).toBe(true);
      // Still 4 per second: 14 requests end at (14 - 4) / 4 s.
      expect(order.at(-1)!.at).toBe(2_500);
      expect(order.map((g) => g.at)).toEqual([0, 0, 0, 0, 250, 500, 750, 1_000, 1_250, 1_500, 1_750, 2_000, 2_250, 2_500]);
    });

    it('keeps a floor for the pollers while quick calls keep coming', async () => {
      const clock = fakeClock();
      const limiter = new AwsRateLimiter({ ecs: 4 }, clock);
      // Burst used up by 4 quick calls; then 40 quick calls and 10 polls wait together.
      const order = await grants(limiter, clock, [...Array<'quick'>(4).fill('quick'), ...Array<'poll'>(10).fill('poll'), ...Array<'quick'>(40).fill('quick')]);
      const contended = order.slice(4, 44);
      const polls = contended.filter((g) => g.lane === 'poll').length;
      // A quarter of the contended slots (POLL_FLOOR), and never more than three quick slots in a row while a poll waits.
      expect(POLL_FLOOR).toBe(0.25);
      expect(polls).toBe(10);
      const run = contended.map((g) => (g.lane === 'poll' ? '|' : 'q')).join('');
      expect(run.split('|').slice(0, -1).every((quicks) => quicks.length <= 3)).toBe(true);
      expect(order).toHaveLength(54);
      expect(order.at(-1)!.at).toBe(((54 - 4) / 4) * 1_000);
    });
  });

  it('puts the reads of a wait in the poll lane, and every other call in the quick one', async () => {
    const lanes: string[] = [];
    await pollWithHeartbeat({ what: 'a stack', read: () => Promise.resolve(lanes.push(currentLane())), done: () => true, onTimeout: () => new Error('timeout') });
    lanes.push(currentLane());
    expect(lanes).toEqual(['poll', 'quick']);
  });
});
