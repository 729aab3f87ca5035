import type { BenchContext } from '../context';
import { promisePool, sequentialLoop, type BaselineResult } from '../baselines';
import { SIMULATED_STEPS_PER_TENANT } from '../sim/activities';
import type { WorkerTuning } from '../sim/worker-config';
import { releaseHistory, type ReleaseHistory } from './history';
import { idealCriticalPathMs, releaseInput, tenantIds, type BenchPlan } from './plan';
import { expectSucceeded, startBenchRelease } from './start';
import { sampleMemory } from '../memory';

export interface ReleaseOverhead {
  tenants: number;
  plan: BenchPlan;
  idealMs: number;
  wallMs: number;
  ratio: number;
  tenantsPerSecond: number;
  /** Left out of the realistic run: with 5 s steps they would take as long as the release. */
  sequential?: BaselineResult;
  pool?: BaselineResult;
  history: Omit<ReleaseHistory, 'children'>;
  peakWorkerRssMiB: number;
}

/**
 * One release over N simulated tenants on a fresh worker process (so its peak memory is this
 * release's), then the two baselines while the tenants' lock workflows wind down, then the
 * history count.
 */
export async function measureReleaseOverhead(
  ctx: BenchContext,
  options: { tenants: number; stepMs: number; maxInFlight: number; bakeMs: number; sequentialBudgetMs: number; tuning: WorkerTuning; log: (line: string) => void; baselines?: boolean },
): Promise<ReleaseOverhead> {
  const plan: BenchPlan = { tenants: options.tenants, maxInFlight: options.maxInFlight, stepMs: options.stepMs, stepsPerTenant: SIMULATED_STEPS_PER_TENANT, bakeMs: options.bakeMs };
  const tag = Date.now().toString(36);
  const prefix = `o${tag}`;
  const input = releaseInput(`bench-overhead-${options.tenants}-${tag}`, prefix, plan);
  const idealMs = idealCriticalPathMs(input, plan);
  const worker = await ctx.startWorker(`overhead-${options.tenants}`, { stepMs: options.stepMs, tuning: options.tuning });
  const memory = sampleMemory(worker);
  let wallMs: number;
  try {
    options.log(`release over ${options.tenants} tenants (ideal ${(idealMs / 1000).toFixed(1)} s)`);
    const started = performance.now();
    const handle = await startBenchRelease(ctx.client, input);
    await expectSucceeded(handle);
    wallMs = performance.now() - started;
  } finally {
    memory.stop();
  }
  const baselines = options.baselines ?? true;
  options.log(`  ${(wallMs / 1000).toFixed(1)} s (${(wallMs / idealMs).toFixed(2)}× ideal)${baselines ? '; baselines while the lock workflows wind down' : ''}`);
  const ids = tenantIds(`b${tag}`, options.tenants);
  const pool = baselines ? await promisePool(ids, options.stepMs, options.maxInFlight) : undefined;
  const sequential = baselines ? await sequentialLoop(ids, options.stepMs, options.sequentialBudgetMs) : undefined;
  // The worker keeps running: the lock workflows still have their idle timers to finish.
  const { children: _children, ...history } = await releaseHistory(ctx.client, input.releaseId, prefix, options.tenants);
  await worker.stop();
  return {
    tenants: options.tenants,
    plan,
    idealMs,
    wallMs,
    ratio: wallMs / idealMs,
    tenantsPerSecond: options.tenants / (wallMs / 1000),
    sequential,
    pool,
    history,
    peakWorkerRssMiB: memory.peakMiB(),
  };
}
