/**
 * `npm run lint:infra`: cfn-lint, checkov, actionlint, shellcheck, helm and promtool over the
 * infrastructure (CloudFormation templates, the worker manifests and the tenant templates rendered
 * for a sandbox tenant, the Dockerfiles, the CI example, the shell scripts, the tenant chart, the
 * Prometheus alert rules and their unit tests). Findings accepted in
 * infra/lint-baseline.yaml (each with its reason) pass; a new finding fails the run. A baseline
 * entry that matches nothing any more is reported as STALE, to be deleted.
 * `--only checkov,shellcheck` runs some of the linters.
 */
import { parseArgs } from 'node:util';
import { LINTERS, baselineEntryFor, describeFinding, type Linter } from './lint-infra/baseline';
import { BASELINE_FILE, lintInfra } from './lint-infra/run';
import { repoRoot } from '../test/sandbox/tools';

const log = (line: string) => console.log(`[lint:infra] ${line}`);

function selectedLinters(value: string | undefined): readonly Linter[] {
  if (value === undefined) return LINTERS;
  const names = value.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !(LINTERS as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`--only: unknown linter ${unknown.map((n) => `"${n}"`).join(', ')}; expected some of ${LINTERS.join(', ')}`);
  return names as Linter[];
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { only: { type: 'string' } } });
  const started = Date.now();
  const result = await lintInfra({ root: repoRoot, only: selectedLinters(values.only) });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  log(`${Object.entries(result.counts).map(([tool, n]) => `${tool} ${n}`).join(', ')} finding(s); ${result.accepted.length} accepted by ${BASELINE_FILE} (${seconds}s)`);
  for (const error of result.errors) log(`${error.tool} could not run: ${error.message}`);
  for (const finding of result.fresh) log(`NEW ${describeFinding(finding)}`);
  for (const entry of result.stale) {
    log(`STALE ${BASELINE_FILE}: ${entry.tool} ${entry.rule} ${entry.file}${entry.resource ? ` (${entry.resource})` : ''} matches nothing any more; delete the entry`);
  }
  if (result.fresh.length > 0) {
    log(`fix the ${result.fresh.length} new finding(s), or accept one by adding it to ${BASELINE_FILE} with a one-line reason:`);
    console.log(result.fresh.map(baselineEntryFor).join('\n'));
  }
  if (result.ok) log('ok');
  return result.ok ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    log(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  },
);
