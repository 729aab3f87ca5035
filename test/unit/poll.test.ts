import { quietActivityEnvironment } from '../support/mock-activity';
import { pollDelay, pollWithHeartbeat, POLL_DEFAULTS } from '../../src/activities/poll';

describe('pollDelay', () => {
  it('grows from the first interval up to the cap', () => {
    const top = () => 1;
    const delays = Array.from({ length: 12 }, (_, attempt) => pollDelay(attempt, 2_000, 30_000, top));
    expect(delays[0]).toBe(2_000);
    expect(delays[1]).toBe(3_000);
    for (let i = 1; i < delays.length; i++) expect(delays[i]).toBeGreaterThanOrEqual(delays[i - 1]!);
    expect(delays.at(-1)).toBe(30_000);
  });

  it('is jittered between half and all of its ceiling, so pollers that started together drift apart', () => {
    expect(pollDelay(20, 2_000, 30_000, () => 0)).toBe(15_000);
    expect(pollDelay(20, 2_000, 30_000, () => 0.5)).toBe(22_500);
    const spread = new Set(Array.from({ length: 50 }, () => pollDelay(20)));
    expect(spread.size).toBeGreaterThan(10);
  });

  it('asks a 15-minute stack about a few dozen times, not 450', () => {
    let elapsed = 0;
    let reads = 0;
    for (let attempt = 0; elapsed < 15 * 60_000; attempt++) {
      reads++;
      elapsed += pollDelay(attempt, POLL_DEFAULTS.intervalMs, POLL_DEFAULTS.maxIntervalMs, () => 0.5);
    }
    expect(reads).toBeLessThan(50);
  });
});

describe('pollWithHeartbeat', () => {
  it('heartbeats during a pause longer than the heartbeat timeout allows between reads', async () => {
    const env = quietActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (details: unknown) => beats.push(details));
    let reads = 0;
    const started = Date.now();
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] });
    try {
      const polling = env.run(() =>
        pollWithHeartbeat({
          what: 'something slow',
          read: () => Promise.resolve(++reads),
          done: (n) => n >= 2,
          intervalMs: 25_000,
          maxIntervalMs: 25_000,
          onTimeout: () => new Error('timed out'),
        }),
      );
      for (let i = 0; i < 10; i++) await jest.advanceTimersByTimeAsync(5_000);
      await expect(polling).resolves.toBe(2);
    } finally {
      jest.useRealTimers();
    }
    // One read-time heartbeat, then at least one while sleeping 12.5-25 s in slices of 10 s.
    expect(beats.length).toBeGreaterThanOrEqual(2);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('gives up at its deadline after one last look', async () => {
    let reads = 0;
    const failure = await pollWithHeartbeat({
      what: 'never',
      read: () => Promise.resolve(++reads),
      done: () => false,
      intervalMs: 20,
      maxIntervalMs: 40,
      timeoutMs: 150,
      onTimeout: (last) => new Error(`still ${last}`),
    }).catch((e: unknown) => e);
    expect((failure as Error).message).toBe(`still ${reads}`);
    expect(reads).toBeGreaterThanOrEqual(3);
  });
});
