import { SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { approveRelease, releaseOutcome, releaseProgress, startRelease } from '../../src/client/releases';
import { provisionTenant } from '../../src/client/tenants';
import { freeLoopbackPort } from '../sandbox/ports';
import { repoRoot, toolsDir } from '../sandbox/tools';
import { checkSelectors, labelValues, parseExposition, evaluateQueries, substitute, type Series } from '../support/scrape-check';
import { startHarness, type Harness } from './harness';
import { startWorkerProcess, type EntryPointProcess } from './node-process';
import { TEST_SANDBOX_DIR } from './sandbox-env';
import { until } from './until';

/**
 * The dashboard (infra/grafana/tenant-fleet.json) and the alert rules (infra/prometheus/)
 * against what a real worker exports: a worker process (src/workers/main.ts, the only worker
 * polling) runs a small release through an approval gate, with one tenant failing its
 * verification and rolled back; then its /metrics is scraped, each filter's label must exist
 * with values, and each panel's query, run by promtool over the scrape, must return series.
 */
interface Dashboard {
  templating: { list: { name: string; type: string; query?: string }[] };
  panels: { title: string; targets?: { expr: string }[] }[];
}

const TENANTS = ['acme', 'hooli', 'globex'];
const VERSION = '1.1.0-metrics';

let h: Harness;
let worker: EntryPointProcess;
let scrape: Series[];
let scrapeText: string;

async function setAlarm(tenantId: string, state: 'ALARM' | 'OK'): Promise<void> {
  await h.admin.cloudWatch(h.tenant(tenantId).aws).send(new SetAlarmStateCommand({ AlarmName: `tenant-${tenantId}-5xx`, StateValue: state, StateReason: `jest: ${state}` }));
}

beforeAll(async () => {
  h = await startHarness({ workers: false });
  const port = await freeLoopbackPort();
  worker = await startWorkerProcess({
    name: 'metrics-worker',
    sandboxEnv: h.env,
    logDir: join(TEST_SANDBOX_DIR, 'metrics-test'),
    roles: 'workflows,aws',
    env: { TENANT_FLEET_METRICS_PORT: String(port) },
  });
  await Promise.all(TENANTS.map((id) => provisionTenant(h.client, { tenant: h.tenant(id), initialVersion: '1.0.0', requestedBy: 'jest' })));

  // plan `gated`: a canary, an approval gate, then the rest, of which one fails its verification (50% allowed).
  const { handle, input } = await startRelease(h.client, h.config, { releaseId: `jest-metrics-${Date.now()}`, plan: 'gated', tenants: TENANTS, version: VERSION, requestedBy: 'jest' });
  const failing = input.waves[1]!.tenants[0]!;
  await setAlarm(failing, 'ALARM');
  try {
    await until('the approval gate', () => releaseProgress(h.client, input.releaseId), (p) => p.phase === 'wave-2/awaiting-approval');
    await approveRelease(h.client, input.releaseId, { by: 'jest' });
    const summary = await releaseOutcome(handle);
    expect(summary.status).toBe('completed-with-failures');
    expect(summary.tenants.map((t) => [t.tenantId, t.status])).toEqual([[failing, 'rolled-back']]);
  } finally {
    await setAlarm(failing, 'OK');
  }

  // The workflow meter reaches the exporter after its workflow task: wait for the release's end to show.
  const url = `http://127.0.0.1:${port}/metrics`;
  scrapeText = await until('the release in the scrape', async () => (await fetch(url)).text(), (t) => /^tenant_fleet_release_lead_time_seconds_count\{/m.test(t), 30_000);
  scrape = parseExposition(scrapeText);
  // Kept with the run's sandbox (git-ignored) for a look at what the worker exported.
  writeFileSync(join(TEST_SANDBOX_DIR, 'metrics-test', 'scrape.txt'), scrapeText);
}, 600_000);

afterAll(async () => {
  await worker?.kill();
  await h?.stop();
});

describe('delivery metrics from a real release, as the worker exports them', () => {
  const sample = (name: string, labels: Record<string, string>) =>
    scrape.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);

  it('counts each tenant deploy once, by environment, plan and outcome, and times the rollback', () => {
    const deploys = (outcome: string) => sample('tenant_fleet_tenant_deploys_total', { plan: 'gated', outcome });
    expect([deploys('succeeded'), deploys('failed')]).toEqual([2, 1]);
    expect(new Set(scrape.filter((s) => s.name === 'tenant_fleet_tenant_deploys_total').map((s) => s.labels.environment))).toEqual(new Set(['dev', 'staging']));
    expect(sample('tenant_fleet_time_to_restore_seconds_count', { plan: 'gated' })).toBe(1);
    expect(sample('tenant_fleet_time_to_restore_seconds_sum', { plan: 'gated' })).toBeGreaterThan(0);
  });

  it('records the release’s duration and lead time, and the approval gate’s wait, once per environment', () => {
    for (const environment of ['dev', 'staging']) {
      expect(sample('tenant_fleet_releases_started_total', { environment, plan: 'gated' })).toBe(1);
      expect(sample('tenant_fleet_release_duration_seconds_count', { environment, plan: 'gated', outcome: 'completed-with-failures' })).toBe(1);
      expect(sample('tenant_fleet_release_lead_time_seconds_count', { environment, plan: 'gated' })).toBe(1);
      expect(sample('tenant_fleet_approval_gates_opened_total', { environment, plan: 'gated' })).toBe(1);
      expect(sample('tenant_fleet_approval_wait_seconds_count', { environment, plan: 'gated', outcome: 'approved' })).toBe(1);
    }
    const duration = sample('tenant_fleet_release_duration_seconds_sum', { environment: 'dev' });
    const leadTime = sample('tenant_fleet_release_lead_time_seconds_sum', { environment: 'dev' });
    expect(leadTime).toBeGreaterThan(0);
    expect(leadTime).toBeLessThanOrEqual(duration);
  });
});

describe('infra/grafana/tenant-fleet.json against the scrape', () => {
  const dashboard = JSON.parse(readFileSync(join(repoRoot, 'infra', 'grafana', 'tenant-fleet.json'), 'utf8')) as Dashboard;
  const variables = dashboard.templating.list.filter((v) => v.type === 'query');
  const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
  /** Each filter set to one value the scrape really has (the first), the way a person picks one. */
  const chosen = () => {
    const values: Record<string, string> = { __range: '1h', __rate_interval: '5m', __interval: '1m' };
    for (const v of variables) values[v.name] = labelValues(substitute(v.query!, values), scrape)[0] ?? '<none>';
    return values;
  };

  it('offers in each filter the values of a label the workers really set', () => {
    expect(variables.map((v) => v.name)).toEqual(['environment', 'plan', 'namespace']);
    const offered = Object.fromEntries(variables.map((v) => [v.name, labelValues(substitute(v.query!, chosen()), scrape)]));
    expect(offered).toEqual({ environment: ['dev', 'staging'], plan: ['gated'], namespace: [h.env.TEMPORAL_NAMESPACE ?? 'default'] });
  });

  it('queries metrics and labels that exist, with a series for every selector (failure counters aside: zeros stand in for them)', () => {
    const values = chosen();
    const checks = queries.map(({ panel, expr }) => ({ panel, ...checkSelectors(substitute(expr, values), scrape) }));
    expect(checks.flatMap((c) => c.problems.map((p) => `${c.panel}: ${p}`))).toEqual([]);
    // This release failed no activity, workflow or request: those counters do not exist yet, and `or 0 * …` shows zeros.
    const namespace = `{namespace=~"${values.namespace}"}`;
    expect([...new Set(checks.flatMap((c) => c.unexercised))].sort()).toEqual([
      `temporal_activity_execution_failed_total${namespace}`,
      `temporal_request_failure_total${namespace}`,
      `temporal_workflow_failed_total${namespace}`,
      'tenant_fleet_step_duration_seconds_count{outcome="failed"}',
    ]);
  });

  const promtool = join(toolsDir, 'bin', 'promtool');
  // promtool is built into .tools/bin by scripts/setup-promtool.sh, which setup runs: a missing one fails here.
  it('returns series for every panel query, evaluated by promtool over the scrape', () => {
    const values = chosen();
    const results = evaluateQueries(promtool, queries.map((q) => substitute(q.expr, values)), scrape);
    const rendered = queries.map((q, i) => ({ ...q, expr: substitute(q.expr, values), result: results[i]! }));
    // The README's dashboard table comes from here (kept with the run's sandbox, git-ignored).
    writeFileSync(join(TEST_SANDBOX_DIR, 'metrics-test', 'dashboard.md'), rendered.map((r) => `| ${r.panel} | \`${r.expr}\` | ${r.result} |`).join('\n') + '\n');
    expect(rendered.filter((r) => r.result === 'nil').map((r) => `${r.panel}: ${r.expr}`)).toEqual([]);
  });
});

describe('infra/prometheus/tenant-fleet.rules.yaml against the scrape', () => {
  it('alerts on metrics and labels the workers export (the certificates workflow, not run here, aside)', () => {
    const rules = parseYaml(readFileSync(join(repoRoot, 'infra', 'prometheus', 'tenant-fleet.rules.yaml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
    const problems = rules.groups
      .flatMap((g) => g.rules)
      .flatMap((r) => checkSelectors(r.expr, scrape, { labelsOnly: true }).problems.map((p) => `${r.alert}: ${p}`))
      .filter((p) => !/tenant_fleet_certificate/.test(p));
    expect(problems).toEqual([]);
  });
});
