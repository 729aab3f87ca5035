import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseOrThrow } from '../../src/shared/validation';

export const LINTERS = ['cfn-lint', 'checkov', 'actionlint', 'shellcheck', 'helm', 'promtool'] as const;
export type Linter = (typeof LINTERS)[number];

/** One finding of one linter, with the file named as it is in the repository. */
export interface Finding {
  tool: Linter;
  /** The linter's rule or check ID: E3012, CKV_AWS_111, SC2086, an actionlint kind such as `expression`, helm's ERROR or `render`. */
  rule: string;
  file: string;
  /** What the finding is about inside the file, where the linter names one (a template resource, a Kubernetes object). */
  resource?: string;
  line?: number;
  message: string;
}

const entrySchema = z.strictObject({
  tool: z.enum(LINTERS),
  rule: z.string().min(1, 'expected the rule or check ID'),
  file: z.string().min(1, 'expected a repository path'),
  resource: z.string().min(1).optional(),
  reason: z
    .string()
    .trim()
    .min(10, 'expected a one-line reason why this finding is accepted')
    .refine((reason) => !reason.includes('\n'), 'expected one line'),
});
export type BaselineEntry = z.infer<typeof entrySchema>;

const baselineSchema = z.strictObject({ accepted: z.array(entrySchema) });

export function parseBaseline(text: string, source: string): BaselineEntry[] {
  let data: unknown;
  try {
    data = parseYaml(text) ?? { accepted: [] };
  } catch (cause) {
    throw new Error(`${source}: not valid YAML: ${(cause as Error).message}`, { cause });
  }
  return parseOrThrow(baselineSchema, data, `lint baseline ${source}`).accepted;
}

export const loadBaseline = (path: string): BaselineEntry[] => parseBaseline(readFileSync(path, 'utf8'), path);

/** An entry without `resource` accepts the rule for every resource of the file. */
export const matches = (entry: BaselineEntry, finding: Finding): boolean =>
  entry.tool === finding.tool &&
  entry.rule === finding.rule &&
  entry.file === finding.file &&
  (entry.resource === undefined || entry.resource === finding.resource);

export interface Comparison {
  accepted: Finding[];
  /** Findings no entry accepts: they fail the run. */
  fresh: Finding[];
  /**
   * Entries that accept nothing any more (the finding was fixed): reported, to be deleted, but
   * not a failure, so that whoever fixes a finding does not break the run for everyone else.
   */
  stale: BaselineEntry[];
}

export function compareWithBaseline(findings: Finding[], baseline: BaselineEntry[]): Comparison {
  const used = new Set<BaselineEntry>();
  const accepted: Finding[] = [];
  const fresh: Finding[] = [];
  for (const finding of findings) {
    const entry = baseline.find((e) => matches(e, finding));
    if (entry) {
      used.add(entry);
      accepted.push(finding);
    } else {
      fresh.push(finding);
    }
  }
  return { accepted, fresh, stale: baseline.filter((e) => !used.has(e)) };
}

export const describeFinding = (f: Finding): string =>
  `${f.tool} ${f.rule} ${f.file}${f.line === undefined ? '' : `:${f.line}`}${f.resource ? ` (${f.resource})` : ''}: ${f.message}`;

/** The entry that would accept a finding, for the operator to paste with a real reason. */
export const baselineEntryFor = (f: Finding): string =>
  [`  - tool: ${f.tool}`, `    rule: ${f.rule}`, `    file: ${f.file}`, ...(f.resource ? [`    resource: ${JSON.stringify(f.resource)}`] : []), '    reason: <why this is accepted>'].join('\n');
