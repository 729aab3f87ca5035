import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RELEASE_METRIC_NAMES } from '../../src/shared/release-metrics';

/** The dashboard and the metrics module must not drift apart: a renamed metric leaves a panel silently empty. */
describe('infra/grafana/tenant-fleet.json', () => {
  const dashboard = JSON.parse(readFileSync(join(__dirname, '..', '..', 'infra', 'grafana', 'tenant-fleet.json'), 'utf8')) as {
    uid: string;
    panels: { id: number; type: string; title: string; targets?: { expr: string }[] }[];
  };
  const expressions = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  const projectMetrics = new Set(expressions.flatMap((e) => e.match(/\btenant_fleet_[a-z_]+/g) ?? []));

  it('queries only metrics the project emits, in their exported form', () => {
    // Counters are exported with `_total`, histograms as `_bucket`, `_sum` and `_count`.
    const exported = new Set(
      Object.values(RELEASE_METRIC_NAMES).flatMap((name) =>
        name === RELEASE_METRIC_NAMES.stepDuration ? ['_bucket', '_sum', '_count'].map((s) => name + s) : [`${name}_total`],
      ),
    );
    expect([...projectMetrics].filter((m) => !exported.has(m))).toEqual([]);
  });

  it('shows every project metric', () => {
    const shown = [...projectMetrics].join(' ');
    expect(Object.values(RELEASE_METRIC_NAMES).filter((name) => !shown.includes(name))).toEqual([]);
  });

  it('has unique panel IDs and a stable uid for links', () => {
    expect(dashboard.uid).toBe('tenant-fleet');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
