import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Checks dashboard and alert queries against what a real worker exported: the series of one
 * `/metrics` scrape, labelled as a Prometheus scrape labels them. Two checks: every selector's
 * metric and labels exist (with a series matching its matchers), and, with promtool, every
 * query evaluated over those series returns at least one series.
 */

export interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Labels every Prometheus scrape adds to a target's series, whatever the target exports. */
export const SCRAPE_LABELS = { job: 'tenant-fleet-workers', instance: 'worker-0:9464' } as const;

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/g;

/** The samples of a Prometheus text exposition (comments and blank lines skipped), with the scrape's labels added. */
export function parseExposition(text: string): Series[] {
  const series: Series[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line.trim());
    if (!match) throw new Error(`unreadable exposition line: ${line}`);
    const labels: Record<string, string> = { ...SCRAPE_LABELS };
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) labels[key!] = value!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    series.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return series;
}

/** Grafana's variables as a query sees them: `$name` or `${name}` replaced by the given text. */
export function substitute(expr: string, values: Record<string, string>): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare!;
    if (!(name in values)) throw new Error(`query uses $${name}, which the check has no value for: ${expr}`);
    return values[name]!;
  });
}

interface Matcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

const METRIC_SELECTOR = /\b((?:tenant_fleet|temporal)_[a-zA-Z0-9_]+)\b(?:\s*\{([^}]*)\})?/g;
const MATCHER = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g;

function matches(series: Series, matchers: Matcher[]): boolean {
  return matchers.every(({ label, op, value }) => {
    const actual = series.labels[label] ?? '';
    if (op === '=') return actual === value;
    if (op === '!=') return actual !== value;
    const regex = new RegExp(`^(?:${value})$`);
    return op === '=~' ? regex.test(actual) : !regex.test(actual);
  });
}

/** True when the selector at `position` is in the left operand of an `or`: the right one stands in when it matches nothing. */
function leftOfOr(expr: string, position: number): boolean {
  let depth = 0;
  let lowest = 0;
  for (let i = position; i < expr.length; i++) {
    const c = expr[i];
    if (c === '(') depth += 1;
    else if (c === ')') lowest = Math.min(lowest, (depth -= 1));
    else if (depth === lowest && /^\sor\s/.test(expr.slice(i, i + 4))) return true;
  }
  return false;
}

export interface SelectorCheck {
  problems: string[];
  /** Selectors that matched nothing where an `or` stands in (failure counters of a run without failures): their labels are unchecked. */
  unexercised: string[];
}

/**
 * Checks a query's selectors against the scrape. Problems: a metric no series has, a label the
 * metric's series never carry (matched or grouped by), a selector no series matches, unless an
 * `or` stands in for it. With `labelsOnly`, a selector whose labels exist but whose values match
 * nothing is fine (an alert on `outcome="halted"` after a release that did not halt).
 */
export function checkSelectors(expr: string, scrape: Series[], { labelsOnly = false } = {}): SelectorCheck {
  const problems: string[] = [];
  const unexercised: string[] = [];
  const metrics: string[] = [];
  for (const match of expr.matchAll(METRIC_SELECTOR)) {
    const [selector, name, body] = match;
    metrics.push(name!);
    const ofMetric = scrape.filter((s) => s.name === name);
    const matchers: Matcher[] = [...(body ?? '').matchAll(MATCHER)].map(([, label, op, value]) => ({ label: label!, op: op as Matcher['op'], value: value! }));
    const matching = ofMetric.some((s) => matches(s, matchers));
    if (!matching && leftOfOr(expr, match.index + selector.length)) {
      unexercised.push(selector.replace(/\s+/g, ''));
      if (ofMetric.length === 0) continue;
    } else if (ofMetric.length === 0) {
      problems.push(`${name}: no such series in the scrape`);
      continue;
    } else if (!labelsOnly && !matching) {
      problems.push(`${name}{${body}}: no series matches`);
    }
    for (const { label } of matchers) {
      if (!ofMetric.some((s) => label in s.labels)) problems.push(`${name}: no series has the label "${label}" (it has ${labelNames(ofMetric)})`);
    }
  }
  // `by (…)` groups on labels of the metrics inside; one none of them has makes a single unnamed group.
  for (const [, group] of expr.matchAll(/\bby\s*\(([^)]*)\)/g)) {
    for (const label of group!.split(',').map((l) => l.trim()).filter(Boolean)) {
      if (!metrics.some((name) => scrape.some((s) => s.name === name && label in s.labels))) problems.push(`by (${label}): none of ${[...new Set(metrics)].join(', ')} has this label`);
    }
  }
  return { problems, unexercised };
}

function labelNames(series: Series[]): string {
  return [...new Set(series.flatMap((s) => Object.keys(s.labels)))].sort().join(', ');
}

/** Values of `label_values(metric{…}, label)` in the scrape (what Grafana offers in the variable's list). */
export function labelValues(query: string, scrape: Series[]): string[] {
  const match = /^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{([^}]*)\})?\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/.exec(query.trim());
  if (!match) throw new Error(`not a label_values() query: ${query}`);
  const matchers: Matcher[] = [...(match[2] ?? '').matchAll(MATCHER)].map(([, label, op, value]) => ({ label: label!, op: op as Matcher['op'], value: value! }));
  const values = scrape.filter((s) => s.name === match[1] && matches(s, matchers)).map((s) => s.labels[match[3]!]);
  return [...new Set(values.filter((v): v is string => v !== undefined && v !== ''))].sort();
}

/**
 * Evaluates each query with promtool over the scrape's series: what each returns, as promtool
 * prints it (`{labels} value, …`, or `nil` for no series). The scrape becomes a rules unit
 * test's input: each series at 0 a minute before the scrape and at its scraped value at the
 * scrape (counters started at 0 there), evaluated at the scrape. promtool prints what a query
 * returned only when it differs from what the test expects, so each test expects a series no
 * query can return.
 */
export function evaluateQueries(promtool: string, queries: string[], scrape: Series[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'dashboard-queries-'));
  try {
    const series = scrape.map((s) => {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(',');
      const value = Number.isFinite(s.value) ? s.value : 0;
      return `      - series: ${JSON.stringify(`${s.name}{${labels}}`)}\n        values: '0 ${value}'`;
    });
    const tests = queries.map((q) => `      - expr: ${JSON.stringify(q)}\n        eval_time: 1m\n        exp_samples:\n          - labels: '{never="returned"}'\n            value: 0`);
    const file = join(dir, 'queries.test.yaml');
    writeFileSync(file, `tests:\n  - interval: 1m\n    input_series:\n${series.join('\n')}\n    promql_expr_test:\n${tests.join('\n')}\n`);
    const run = spawnSync(promtool, ['test', 'rules', file], { encoding: 'utf8' });
    const output = `${run.stdout}\n${run.stderr}`;
    const got = [...output.matchAll(/^\s*got: (.*)$/gm)].map((m) => m[1]!.trim());
    if (got.length !== queries.length) throw new Error(`promtool evaluated ${got.length} of ${queries.length} queries:\n${output.slice(0, 3000)}`);
    return got;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
