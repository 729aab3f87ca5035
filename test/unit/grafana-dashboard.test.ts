import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DELIVERY_METRIC_NAMES } from '../../src/shared/delivery-metrics';
import { RELEASE_METRIC_NAMES } from '../../src/shared/release-metrics';

/**
 * The dashboard, the alert rules and the metrics modules must not drift apart: a renamed metric
 * leaves a panel silently empty. Whether the labels they filter on really exist is checked
 * against a real worker's scrape in test/integration/metrics.test.ts.
 */
const root = join(__dirname, '..', '..');
const dashboard = JSON.parse(readFileSync(join(root, 'infra', 'grafana', 'tenant-fleet.json'), 'utf8')) as {
  uid: string;
  panels: { id: number; type: string; title: string; targets?: { expr: string }[] }[];
};
const rules = readFileSync(join(root, 'infra', 'prometheus', 'tenant-fleet.rules.yaml'), 'utf8');

const HISTOGRAMS = new Set<string>([RELEASE_METRIC_NAMES.stepDuration, DELIVERY_METRIC_NAMES.releaseDuration, DELIVERY_METRIC_NAMES.leadTime, DELIVERY_METRIC_NAMES.timeToRestore, DELIVERY_METRIC_NAMES.approvalWait]);
const GAUGES = new Set<string>([DELIVERY_METRIC_NAMES.certificateExpiry, DELIVERY_METRIC_NAMES.certificatesStuck]);
const ALL = [...Object.values(RELEASE_METRIC_NAMES), ...Object.values(DELIVERY_METRIC_NAMES)];
/** Counters are exported with `_total`, histograms as `_bucket`, `_sum` and `_count`, gauges as named. */
const exported = new Set(ALL.flatMap((name) => (HISTOGRAMS.has(name) ? ['_bucket', '_sum', '_count'].map((s) => name + s) : GAUGES.has(name) ? [name] : [`${name}_total`])));
const projectMetricsIn = (text: string) => new Set(text.match(/\btenant_fleet_[a-z_]+/g) ?? []);

describe('infra/grafana/tenant-fleet.json', () => {
  const expressions = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  const shown = projectMetricsIn(expressions.join('\n'));

  it('queries only metrics the project emits, in their exported form', () => {
    expect([...shown].filter((m) => !exported.has(m))).toEqual([]);
  });

  it('shows every project metric but the certificate gauges, which the alert rules watch', () => {
    const text = [...shown].join(' ');
    expect(ALL.filter((name) => !GAUGES.has(name) && !text.includes(name))).toEqual([]);
  });

  it('has unique panel IDs and a stable uid for links', () => {
    expect(dashboard.uid).toBe('tenant-fleet');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('infra/prometheus/tenant-fleet.rules.yaml', () => {
  it('alerts only on metrics the project emits, in their exported form', () => {
    expect([...projectMetricsIn(rules)].filter((m) => !exported.has(m))).toEqual([]);
  });
});
