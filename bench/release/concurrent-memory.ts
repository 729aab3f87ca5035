import { releaseProgress } from '../../src/client/releases';
import type { BenchContext } from '../context';
import { sampleMemory } from '../memory';
import { SIMULATED_STEPS_PER_TENANT } from '../sim/activities';
import type { WorkerTuning } from '../sim/worker-config';
import { releaseInput } from './plan';
import { expectSucceeded, startBenchRelease } from './start';

export interface ConcurrentMemory {
  tenants: number;
  /** The most tenant workflows the release had open at once (its progress query). */
  peakInFlight: number;
  peakWorkerRssMiB: number;
  wallMs: number;
}

/**
 * One wave of N tenants all in flight at once, with steps long enough that every tenant workflow
 * (and its lock workflow) is open together: the worker's peak memory at that concurrency.
 */
export async function measureConcurrentMemory(ctx: BenchContext, options: { tenants: number; stepMs: number; tuning: WorkerTuning }): Promise<ConcurrentMemory> {
  const tag = Date.now().toString(36);
  const input = releaseInput(`bench-memory-${tag}`, `m${tag}`, {
    tenants: options.tenants,
    maxInFlight: options.tenants,
    stepMs: options.stepMs,
    stepsPerTenant: SIMULATED_STEPS_PER_TENANT,
    bakeMs: 0,
    singleWave: true,
  });
  const worker = await ctx.startWorker('memory', { stepMs: options.stepMs, tuning: options.tuning });
  const memory = sampleMemory(worker);
  let peakInFlight = 0;
  let polling = true;
  try {
    const started = performance.now();
    const handle = await startBenchRelease(ctx.client, input);
    const poll = (async () => {
      while (polling) {
        const progress = await releaseProgress(ctx.client, input.releaseId).catch(() => undefined);
        peakInFlight = Math.max(peakInFlight, progress?.inFlight.length ?? 0);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    })();
    await expectSucceeded(handle);
    polling = false;
    await poll;
    return { tenants: options.tenants, peakInFlight, peakWorkerRssMiB: memory.peakMiB(), wallMs: performance.now() - started };
  } finally {
    polling = false;
    memory.stop();
    await worker.stop();
  }
}
