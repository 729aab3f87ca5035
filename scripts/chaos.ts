/**
 * The chaos run: `npm run test:chaos` (long form, 24 worker kill points) or
 * `npm run test:chaos -- --short`, `--seed <n>` to replay a run's choices. Starts its own
 * sandbox under .sandbox/chaos (fault proxy in front of AWS and Kubernetes), prints a table of
 * faults, runs and invariant violations, and exits 1 when any invariant was violated.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runChaos } from '../test/chaos/runner';
import { repoRoot } from '../test/sandbox/tools';

/** 128 + the signal's number, as a shell reports a process the signal ended. */
const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
/** How long stopping the sandbox may take before the process exits anyway (its exit hooks then SIGKILL what is left). */
const STOP_DEADLINE_MS = 60_000;

/**
 * Ctrl-C or a CI runner's SIGTERM: the sandbox's servers run in process groups of their own, so
 * without this they would survive the run (Temporal, moto and the Kubernetes components) until
 * the next run of the same folder cleaned them up. The first signal stops the run and its
 * sandbox; later ones (a terminal and tsx may each deliver one) only say that it is stopping.
 */
function interruptOnSignals(): { signal: AbortSignal; exitCode: () => number | undefined } {
  const controller = new AbortController();
  let exitCode: number | undefined;
  for (const name of Object.keys(SIGNAL_EXIT_CODES) as (keyof typeof SIGNAL_EXIT_CODES)[]) {
    process.on(name, () => {
      if (exitCode !== undefined) {
        console.error(`[chaos] ${name}: already stopping the sandbox`);
        return;
      }
      exitCode = SIGNAL_EXIT_CODES[name];
      console.error(`[chaos] ${name}: stopping the sandbox, then exiting ${exitCode}`);
      // The abandoned scenario's calls fail as the sandbox goes away, some from timers (the Temporal
      // client's gRPC retry throws "Channel has been shut down" once the connection is closed).
      // Those are expected now and must not end the process before the sandbox is stopped, nor
      // replace the signal's exit code with 1.
      process.on('uncaughtException', (error) => console.error(`[chaos] while stopping, the abandoned scenario failed: ${error.message}`));
      setTimeout(() => {
        console.error(`[chaos] the sandbox did not stop within ${STOP_DEADLINE_MS / 1000} s; killing what is left`);
        process.exit(exitCode);
      }, STOP_DEADLINE_MS).unref();
      controller.abort(name);
    });
  }
  return { signal: controller.signal, exitCode: () => exitCode };
}

const interrupt = interruptOnSignals();

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { short: { type: 'boolean' }, seed: { type: 'string' }, 'state-dir': { type: 'string' } }, strict: true });
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) {
    console.error(`--seed: expected a whole number (got ${JSON.stringify(values.seed)})`);
    return 2;
  }
  const started = Date.now();
  const report = await runChaos({
    form: values.short ? 'short' : 'long',
    seed,
    stateDir: values['state-dir'] ?? join(repoRoot, '.sandbox', 'chaos'),
    log: (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}`),
    signal: interrupt.signal,
  });
  console.log(`\nchaos ${report.form} form, seed ${report.seed}, ${Math.round((Date.now() - started) / 1000)} s\n`);
  console.log(report.table);
  for (const row of report.rows) for (const v of row.violations) console.log(`  ${row.fault}: ${v}`);
  console.log(report.violations === 0 ? '\nno invariant violations' : `\n${report.violations} invariant violation(s)`);
  return report.violations === 0 ? 0 : 1;
}

// An interrupted run exits with the signal's code however runChaos ended (a sandbox start that
// the signal broke fails with an ordinary error), once its sandbox is stopped.
main().then(
  (code) => process.exit(interrupt.exitCode() ?? code),
  (error: unknown) => {
    const code = interrupt.exitCode();
    if (code !== undefined) {
      console.error(`[chaos] ${(error as Error)?.message ?? String(error)}`);
      process.exit(code);
    }
    console.error(error);
    process.exit(1);
  },
);
