import type { BenchContext } from '../context';
import { SIMULATED_STEPS_PER_TENANT } from '../sim/activities';
import type { WorkerTuning } from '../sim/worker-config';
import { waitForProgress } from './control';
import { releaseHistory } from './history';
import { releaseInput } from './plan';
import { expectSucceeded, startBenchRelease } from './start';

export interface CrashRecovery {
  tenants: number;
  inFlightAtKill: number;
  /** SIGKILL → the replacement worker polls (process start, bundle load, connect). */
  restartMs: number;
  /** SIGKILL → the first tenant completes again (server clock). */
  progressAgainMs: number;
  /** SIGKILL → the release is done, every tenant succeeded. */
  releaseDoneMs: number;
}

/** A worker SIGKILLed in the middle of the 50 % wave and replaced at once, as a Deployment would. */
export async function measureCrashRecovery(ctx: BenchContext, options: { tenants: number; stepMs: number; maxInFlight: number; tuning: WorkerTuning }): Promise<CrashRecovery> {
  const tag = Date.now().toString(36);
  const prefix = `k${tag}`;
  const input = releaseInput(`bench-crash-${tag}`, prefix, { tenants: options.tenants, maxInFlight: options.maxInFlight, stepMs: options.stepMs, stepsPerTenant: SIMULATED_STEPS_PER_TENANT, bakeMs: 0 });
  const first = await ctx.startWorker('crash-1', { stepMs: options.stepMs, tuning: options.tuning });
  let second: Awaited<ReturnType<BenchContext['startWorker']>> | undefined;
  try {
    const handle = await startBenchRelease(ctx.client, input);
    const before = await waitForProgress(ctx.client, input.releaseId, (p) => (p.waves[2]?.counts.succeeded ?? 0) >= options.maxInFlight && p.inFlight.length >= options.maxInFlight / 2);
    const killedAt = Date.now();
    await first.kill();
    second = await ctx.startWorker('crash-2', { stepMs: options.stepMs, tuning: options.tuning });
    const restartMs = Date.now() - killedAt;
    await expectSucceeded(handle);
    const releaseDoneMs = Date.now() - killedAt;
    const { children } = await releaseHistory(ctx.client, input.releaseId, prefix, options.tenants, { locks: false });
    const firstCloseAfter = Math.min(...children.map((c) => c.close ?? Infinity).filter((close) => close > killedAt));
    return { tenants: options.tenants, inFlightAtKill: before.inFlight.length, restartMs, progressAgainMs: firstCloseAfter - killedAt, releaseDoneMs };
  } finally {
    await first.kill().catch(() => undefined);
    await second?.stop();
  }
}
