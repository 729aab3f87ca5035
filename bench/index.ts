// `npm run bench`: what a release, its controls, a crash and provisioning cost on this machine,
// against a real Temporal dev server (and, for provisioning, the moto sandbox). See docs/benchmarks.md.
import { cpus } from 'node:os';
import { join } from 'node:path';
import { InputValidationError } from '../src/shared/validation';
import { repoRoot } from '../test/sandbox/tools';
import { startBenchContext } from './context';
import { parseBenchOptions, USAGE } from './options';
import { measureProvisioning } from './provisioning';
import { measureRawThroughput } from './raw-throughput';
import { measureConcurrentMemory } from './release/concurrent-memory';
import { measureControlLatency } from './release/control';
import { measureCrashRecovery } from './release/crash';
import { measureReleaseOverhead } from './release/overhead';
import { SIMULATED_STEPS_PER_TENANT } from './sim/activities';
import { measureSwitchBack } from './switch-back';
import { renderTable, writeResults, type BenchResults, type ServerResults } from './report';

const IN_FLIGHT = 50;
const BAKE_MS = 1_000;
/** Beyond this the sequential baseline runs a prefix and scales (it is linear by construction). */
const SEQUENTIAL_BUDGET_MS = 20_000;
/** Long enough steps that 1,000 tenants (and their locks) are all open at once. */
const MEMORY_STEP_MS = 5_000;

async function main(): Promise<number> {
  const options = parseBenchOptions(process.argv.slice(2));
  if (options === 'help') {
    console.log(USAGE);
    return 0;
  }
  const log = (line: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);
  const want = new Set(options.sections);
  const results: BenchResults = {
    startedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version, platform: `${process.platform}-${process.arch}` },
    options,
    servers: [],
  };
  const { tuning, stepMs } = options;

  // One server after the other, never at once: on 2 cores they would measure each other.
  for (const target of options.temporal) {
    const ctx = await startBenchContext(log, target);
    const server: ServerResults = { server: target, label: ctx.serverLabel, releases: [] };
    results.servers.push(server);
    try {
      if (want.has('raw')) {
        log('raw Temporal throughput');
        server.raw = await measureRawThroughput(ctx, { workflows: options.rawWorkflows, activitiesPerWorkflow: SIMULATED_STEPS_PER_TENANT + 1, concurrency: IN_FLIGHT, tuning });
      }
      if (want.has('release')) {
        for (const tenants of options.tenants) {
          server.releases.push(await measureReleaseOverhead(ctx, { tenants, stepMs, maxInFlight: IN_FLIGHT, bakeMs: BAKE_MS, sequentialBudgetMs: SEQUENTIAL_BUDGET_MS, tuning, log }));
        }
      }
      if (want.has('realistic')) {
        // Steps of seconds, as an operator's are: what orchestration adds when it is not all there is to measure.
        server.realistic = await measureReleaseOverhead(ctx, {
          tenants: options.realisticTenants,
          stepMs: options.realisticStepMs,
          maxInFlight: IN_FLIGHT,
          bakeMs: BAKE_MS,
          sequentialBudgetMs: 0,
          tuning,
          log,
          baselines: false,
        });
      }
      if (want.has('control')) {
        log('approval and abort latency');
        server.control = await measureControlLatency(ctx, { tenants: 200, stepMs, maxInFlight: IN_FLIGHT, tuning });
      }
      if (want.has('crash')) {
        log('crash recovery');
        server.crash = await measureCrashRecovery(ctx, { tenants: 200, stepMs, maxInFlight: IN_FLIGHT, tuning });
      }
      if (want.has('memory')) {
        log(`worker memory at ${options.memoryTenants.toLocaleString('en-US')} concurrent tenant workflows`);
        server.memory = await measureConcurrentMemory(ctx, { tenants: options.memoryTenants, stepMs: MEMORY_STEP_MS, tuning });
      }
    } finally {
      await ctx.stop();
    }
    if (want.has('provisioning')) {
      // A server someone else runs has no sandbox of ours around it: provisioning then measures the dev server's sandbox, as before.
      server.provisioning = await measureProvisioning({ single: 3, parallel: options.provisioningTenants, bundlePath: ctx.bundlePath, temporal: target === 'cluster' ? 'cluster' : 'dev', log });
    }
    if (want.has('switch-back')) {
      server.switchBack = await measureSwitchBack({ samples: options.switchBackSamples, strategies: ['rolling', 'blueGreen'], bundlePath: ctx.bundlePath, temporal: target === 'cluster' ? 'cluster' : 'dev', log });
    }
  }

  const table = renderTable(results);
  console.log(table);
  const path = writeResults(join(repoRoot, 'bench-results'), results, table);
  log(`results written to ${path}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    // Bad options are the user's to fix: their message, not a stack.
    const badOptions = error instanceof InputValidationError || String((error as { code?: unknown })?.code).startsWith('ERR_PARSE_ARGS');
    console.error(badOptions ? (error as Error).message : error);
    process.exit(1);
  },
);
