import { checkSelectors, labelValues, parseExposition, substitute } from '../support/scrape-check';

/** The checks test/integration/metrics.test.ts runs the dashboard through, on a scrape small enough to read. */
const scrape = parseExposition(`# HELP tenant_fleet_tenant_deploys Tenant deploys
# TYPE tenant_fleet_tenant_deploys counter
tenant_fleet_tenant_deploys_total{environment="dev",outcome="succeeded",plan="gated"} 2
tenant_fleet_releases_started_total{plan="gated"} 1
temporal_workflow_completed_total{namespace="default",workflow_type="releaseWave"} 1
`);

describe('dashboard queries against a scrape', () => {
  it('reads samples with their labels, plus the labels a scrape adds', () => {
    expect(scrape[0]).toEqual({ name: 'tenant_fleet_tenant_deploys_total', labels: { environment: 'dev', outcome: 'succeeded', plan: 'gated', job: 'tenant-fleet-workers', instance: 'worker-0:9464' }, value: 2 });
  });

  it('finds a filter reading a label the metric does not carry (the Environment filter this check was made for)', () => {
    expect(labelValues('label_values(tenant_fleet_releases_started_total, environment)', scrape)).toEqual([]);
    const { problems } = checkSelectors(substitute('sum(increase(tenant_fleet_releases_started_total{environment=~"$environment"}[1h]))', { environment: '.*' }), scrape);
    expect(problems).toEqual(['tenant_fleet_releases_started_total: no series has the label "environment" (it has instance, job, plan)']);
  });

  it('finds a grouping label no metric of the query has', () => {
    expect(checkSelectors('sum by (pod) (temporal_workflow_completed_total)', scrape).problems).toEqual(['by (pod): none of temporal_workflow_completed_total has this label']);
  });

  it('accepts a selector that matches nothing only where an `or` stands in for it', () => {
    const failed = 'tenant_fleet_tenant_deploys_total{outcome="failed"}';
    expect(checkSelectors(`sum(${failed})`, scrape).problems).toEqual([`tenant_fleet_tenant_deploys_total{outcome="failed"}: no series matches`]);
    const guarded = checkSelectors(`(sum(${failed}) or 0 * sum(tenant_fleet_tenant_deploys_total)) / sum(tenant_fleet_tenant_deploys_total)`, scrape);
    expect(guarded).toEqual({ problems: [], unexercised: [failed] });
    // An `or` inside a parenthesis the selector is not in does not stand in for it.
    expect(checkSelectors(`sum(${failed}) / (sum(temporal_workflow_completed_total) or vector(1))`, scrape).problems).toHaveLength(1);
    expect(checkSelectors('sum(temporal_workflow_failed_total) or 0 * sum(temporal_workflow_completed_total)', scrape)).toEqual({ problems: [], unexercised: ['temporal_workflow_failed_total'] });
  });
});
