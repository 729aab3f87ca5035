/**
 * The chaos run: `npm run test:chaos` (long form, 24 worker kill points) or
 * `npm run test:chaos -- --short`, `--seed <n>` to replay a run's choices. Starts its own
 * sandbox under .sandbox/chaos (fault proxy in front of AWS and Kubernetes), prints a table of
 * faults, runs and invariant violations, and exits 1 when any invariant was violated.
 */
import './quiet-aws-sdk';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runChaos } from '../test/chaos/runner';
import { interruptOnSignals } from '../test/sandbox/interrupt';
import { repoRoot } from '../test/sandbox/tools';

// Ctrl-C or a CI runner's SIGTERM stops the run and its sandbox, at any point (test/sandbox/interrupt.ts).
const interrupt = interruptOnSignals({ label: 'chaos' });

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
