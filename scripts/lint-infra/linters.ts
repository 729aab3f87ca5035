import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chartValuesLayers } from '../../src/activities/kube-chart/from-config';
import { findHelm } from '../../src/activities/kube-chart/helm';
import { ChartRenderError, TenantChart, tenantValues } from '../../src/activities/kube-chart/tenant-chart';
import type { Finding, Linter } from './baseline';
import { sandboxFleet, workloadFor, type InfraFiles, type StagedFile } from './stage';
import { toolsDir } from '../../test/sandbox/tools';

export interface LintContext {
  root: string;
  files: InfraFiles;
  /** Where checkov reads its staged copy (see stageForCheckov) and writes its report. */
  stageDir: string;
  reportDir: string;
  staged: Map<string, StagedFile>;
}

/** A linter's own failure (not a finding): missing, crashed, or printed something unreadable. */
export class LinterError extends Error {}

const TIMEOUT_MS = 180_000;

/** Runs a linter; resolves with its output whatever its exit code (linters exit non-zero on findings). */
function run(command: string, args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONWARNINGS: 'ignore' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new LinterError(`cannot run ${command}: ${error.message}`, { cause: error }));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The linters installed into this checkout's .tools/, whichever folder they lint. */
function tool(relativePath: string, name: string): string {
  const path = join(toolsDir, relativePath);
  if (!existsSync(path)) throw new LinterError(`${name} not found at .tools/${relativePath}: run \`npm run setup\` (scripts/setup-lint.sh installs it)`);
  return path;
}

function onPath(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  throw new LinterError(`${name} not found on PATH: run \`npm run setup\` (scripts/setup-lint.sh installs it)`);
}

function parseJson<T>(text: string, name: string, stderr: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    const tail = stderr.trim().split('\n').slice(-3).join(' | ');
    throw new LinterError(`${name} printed no readable report${tail ? `: ${tail}` : ''}`);
  }
}

interface CfnLintMatch {
  Rule: { Id: string };
  Filename: string;
  Level: string;
  Message: string;
  Location: { Start: { LineNumber: number }; Path?: (string | number)[] | null };
}

async function cfnLint({ root, files }: LintContext): Promise<Finding[]> {
  if (files.cloudFormation.length === 0) return [];
  const { stdout, stderr } = await run(tool('venv/bin/cfn-lint', 'cfn-lint'), ['--format', 'json', ...files.cloudFormation], root);
  return parseJson<CfnLintMatch[]>(stdout, 'cfn-lint', stderr).map((m) => ({
    tool: 'cfn-lint',
    rule: m.Rule.Id,
    file: m.Filename,
    ...(m.Location.Path?.[0] === 'Resources' && m.Location.Path[1] !== undefined ? { resource: String(m.Location.Path[1]) } : {}),
    line: m.Location.Start.LineNumber,
    message: `${m.Level}: ${m.Message}`,
  }));
}

interface CheckovReport {
  check_type?: string;
  results?: { failed_checks?: { check_id: string; check_name: string; file_path: string; resource: string; file_line_range?: number[] }[] };
}

const CHECKOV_FRAMEWORKS = ['cloudformation', 'kubernetes', 'dockerfile', 'github_actions'];

async function checkov({ stageDir, reportDir, staged }: LintContext): Promise<Finding[]> {
  const args = ['--quiet', '--compact', '--skip-download', '--framework', ...CHECKOV_FRAMEWORKS, '-o', 'json', '--output-file-path', reportDir, '-d', stageDir];
  const { stderr } = await run(tool('lint-venv/bin/checkov', 'checkov'), args, stageDir);
  const reportFile = join(reportDir, 'results_json.json');
  if (!existsSync(reportFile)) throw new LinterError(`checkov wrote no report${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
  const parsed = parseJson<CheckovReport | CheckovReport[]>(readFileSync(reportFile, 'utf8'), 'checkov', stderr);
  const reports = Array.isArray(parsed) ? parsed : [parsed];
  return reports.flatMap((report) =>
    (report.results?.failed_checks ?? []).map((check) => {
      const stagedPath = check.file_path.replace(/^\/+/, '');
      // Dockerfile checks name the file itself as the resource ("/Dockerfile."): nothing to add.
      const resource = check.resource.startsWith(`/${stagedPath}`) ? undefined : check.resource;
      const file = staged.get(stagedPath);
      return {
        tool: 'checkov' as const,
        rule: check.check_id,
        file: file?.repoPath ?? stagedPath,
        ...(resource ? { resource } : {}),
        // A rendered file's lines are not the committed file's: the resource names the place.
        ...(check.file_line_range?.[0] && !file?.rendered ? { line: check.file_line_range[0] } : {}),
        message: check.check_name,
      };
    }),
  );
}

interface ActionlintError {
  message: string;
  filepath: string;
  line: number;
  kind: string;
}

async function actionlint({ root, files }: LintContext): Promise<Finding[]> {
  if (files.ciWorkflows.length === 0) return [];
  // actionlint also runs shellcheck on every `run:` script when given one.
  const args = ['-format', '{{json .}}', `-shellcheck=${onPath('shellcheck')}`, ...files.ciWorkflows];
  const { stdout, stderr } = await run(tool('bin/actionlint', 'actionlint'), args, root);
  return parseJson<ActionlintError[]>(stdout, 'actionlint', stderr).map((e) => ({
    tool: 'actionlint',
    rule: e.kind,
    file: e.filepath,
    line: e.line,
    message: e.message,
  }));
}

interface ShellcheckReport {
  comments: { file: string; line: number; level: string; code: number; message: string }[];
}

async function shellcheck({ root, files }: LintContext): Promise<Finding[]> {
  if (files.shellScripts.length === 0) return [];
  const { stdout, stderr } = await run(onPath('shellcheck'), ['-f', 'json1', '-x', ...files.shellScripts], root);
  return parseJson<ShellcheckReport>(stdout, 'shellcheck', stderr).comments.map((c) => ({
    tool: 'shellcheck',
    rule: `SC${c.code}`,
    file: c.file,
    line: c.line,
    message: `${c.level}: ${c.message}`,
  }));
}

const TENANT_CHART = 'infra/helm/tenant';

/**
 * The tenant chart: `helm lint --strict` (with the sandbox values), then `helm template` for
 * every Kubernetes tenant of the sandbox fleet with the values the workers would give it, so a
 * chart or values change that breaks one tenant fails here, not at its next apply.
 */
async function helmChart({ root, stageDir }: LintContext): Promise<Finding[]> {
  if (!existsSync(join(root, TENANT_CHART, 'Chart.yaml'))) return [];
  let helm: string;
  try {
    helm = findHelm();
  } catch (error) {
    throw new LinterError((error as Error).message);
  }
  const fleet = sandboxFleet(root);
  const kubeTenants = fleet.tenants.filter((t) => t.runtime === 'kubernetes');
  const sandboxValues = join(root, TENANT_CHART, 'values-sandbox.yaml');
  // lint needs the values the fleet sets per tenant (the chart requires them).
  const lintValues = join(stageDir, '..', 'helm-lint-values.json');
  writeFileSync(lintValues, JSON.stringify({ tenant: tenantValues(workloadFor(kubeTenants[0] ?? { id: 'lint' })) }));
  const { code, stdout, stderr } = await run(helm, ['lint', TENANT_CHART, '--strict', '--values', sandboxValues, '--values', lintValues], root);
  const findings: Finding[] = [];
  for (const line of `${stdout}\n${stderr}`.split('\n')) {
    const match = /^\[(ERROR|WARNING)\] (?:([^:\s]+): )?(.*)$/.exec(line.trim());
    if (match) findings.push({ tool: 'helm', rule: match[1]!, file: match[2] ? join(TENANT_CHART, match[2].replace(/^tenant\//, '')) : TENANT_CHART, message: match[3]! });
  }
  if (code !== 0 && findings.length === 0) throw new LinterError(`helm lint failed without a finding: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  for (const tenant of kubeTenants) {
    const layers = chartValuesLayers(fleet, tenant.id, sandboxValues) ?? [];
    const chart = new TenantChart({ helm, chart: { path: join(root, TENANT_CHART) }, valuesFor: () => layers });
    try {
      await chart.render(workloadFor(tenant));
    } catch (error) {
      if (!(error instanceof ChartRenderError)) throw error;
      findings.push({ tool: 'helm', rule: 'render', file: TENANT_CHART, resource: `tenant ${tenant.id}`, message: error.message });
    }
  }
  return findings;
}

/**
 * `promtool check rules` on the alert rules and `promtool test rules` on their unit tests
 * (infra/prometheus/). A failed check or test is a finding of the file it names.
 */
async function promtool({ root, files }: LintContext): Promise<Finding[]> {
  if (files.prometheusRules.length === 0 && files.prometheusRuleTests.length === 0) return [];
  const bin = tool('bin/promtool', 'promtool');
  const findings: Finding[] = [];
  if (files.prometheusRules.length > 0) {
    const { code, stdout, stderr } = await run(bin, ['check', 'rules', '--lint=all', '--lint-fatal', ...files.prometheusRules], root);
    if (code !== 0) findings.push(...promtoolFailures('check', files.prometheusRules, `${stdout}\n${stderr}`));
  }
  for (const file of files.prometheusRuleTests) {
    const { code, stdout, stderr } = await run(bin, ['test', 'rules', file], root);
    if (code !== 0) findings.push(...promtoolFailures('test', [file], `${stdout}\n${stderr}`));
  }
  return findings;
}

/** promtool's report of a failed run, one finding per file it checked: it prints `FAILED` and the reasons under the file's name. */
function promtoolFailures(rule: 'check' | 'test', files: string[], output: string): Finding[] {
  const lines = output.split('\n').map((l) => l.trimEnd()).filter((l) => l.trim() !== '');
  const failing = files.filter((file) => lines.some((l) => l.includes(file) && /FAILED|error/i.test(l)) || files.length === 1);
  const message = lines.filter((l) => !/^(Checking|Unit Testing:)/.test(l) && !/^\s*SUCCESS/.test(l)).join(' | ') || 'promtool failed without a message';
  if (failing.length === 0) throw new LinterError(`promtool ${rule} rules failed without naming a file: ${message}`);
  return failing.map((file) => ({ tool: 'promtool' as const, rule, file, message }));
}

export const linters: Record<Linter, (context: LintContext) => Promise<Finding[]>> = {
  'cfn-lint': cfnLint,
  checkov,
  actionlint,
  shellcheck,
  helm: helmChart,
  promtool,
};
