import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LINTERS, compareWithBaseline, loadBaseline, type Comparison, type Finding, type Linter } from './baseline';
import { LinterError, linters } from './linters';
import { findInfraFiles, stageForCheckov, type StagedFile } from './stage';

export const BASELINE_FILE = join('infra', 'lint-baseline.yaml');

export interface LintOptions {
  root: string;
  /** Repository path of the baseline; infra/lint-baseline.yaml unless a test names another. */
  baseline?: string;
  only?: readonly Linter[];
}

export interface LintResult extends Comparison {
  counts: Record<Linter, number>;
  /** Linters that could not run: the run fails, naming them. */
  errors: { tool: Linter; message: string }[];
  ok: boolean;
}

/** Runs the linters at once (checkov dominates the time), then compares with the baseline. */
export async function lintInfra({ root, baseline = BASELINE_FILE, only = LINTERS }: LintOptions): Promise<LintResult> {
  const accepted = loadBaseline(join(root, baseline)).filter((entry) => only.includes(entry.tool));
  const files = findInfraFiles(root);
  const stageDir = mkdtempSync(join(tmpdir(), 'lint-infra-'));
  try {
    const staged = only.includes('checkov') ? stageForCheckov(root, files, join(stageDir, 'repo')) : new Map<string, StagedFile>();
    const context = { root, files, stageDir: join(stageDir, 'repo'), reportDir: join(stageDir, 'report'), staged };
    const outcomes = await Promise.all(
      only.map(async (tool) => {
        try {
          return { tool, findings: await linters[tool](context) };
        } catch (error) {
          if (error instanceof LinterError) return { tool, findings: [] as Finding[], error: error.message };
          throw error;
        }
      }),
    );
    const findings = outcomes.flatMap((o) => o.findings);
    const counts = Object.fromEntries(LINTERS.map((tool) => [tool, findings.filter((f) => f.tool === tool).length])) as Record<Linter, number>;
    const errors = outcomes.flatMap((o) => (o.error ? [{ tool: o.tool, message: o.error }] : []));
    // A linter that could not run leaves its baseline entries unmatched: that is its error, not stale entries.
    const comparison = compareWithBaseline(findings, accepted);
    const stale = comparison.stale.filter((entry) => !errors.some((e) => e.tool === entry.tool));
    return { ...comparison, stale, counts, errors, ok: comparison.fresh.length === 0 && errors.length === 0 };
  } finally {
    rmSync(stageDir, { recursive: true, force: true });
  }
}
