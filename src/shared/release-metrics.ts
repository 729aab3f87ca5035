import type { MetricMeter, MetricTags } from '@temporalio/common';

/**
 * The project's own metrics, next to the SDK's. Pass the meter of the calling context:
 * `metricMeter` from `@temporalio/workflow` in workflow code (it does not double-count on
 * replay), `Context.current().metricMeter` in an activity. In Prometheus they appear as named
 * here (the runtime's `temporal_` prefix is for the SDK's own), counters with `_total`:
 * `tenant_fleet_releases_started_total`, `tenant_fleet_step_duration_seconds_bucket`.
 *
 * Tags stay low-cardinality (environment, runtime, step, outcome): a tag per tenant would make
 * one time series per tenant; tenant and release IDs belong in logs and search attributes.
 */
export const RELEASE_METRIC_NAMES = {
  releasesStarted: 'tenant_fleet_releases_started',
  tenantsDeployed: 'tenant_fleet_tenants_deployed',
  tenantsRolledBack: 'tenant_fleet_tenants_rolled_back',
  tenantsFailed: 'tenant_fleet_tenants_failed',
  stepDuration: 'tenant_fleet_step_duration_seconds',
} as const;

export type StepOutcome = 'succeeded' | 'failed' | 'cancelled';

export interface ReleaseMetrics {
  releaseStarted(tags?: MetricTags): void;
  tenantDeployed(tags?: MetricTags): void;
  tenantRolledBack(tags?: MetricTags): void;
  tenantFailed(tags?: MetricTags): void;
  /** Duration of one step (activity or workflow phase) in seconds, as Prometheus convention has it. */
  stepDuration(step: string, seconds: number, outcome: StepOutcome, tags?: MetricTags): void;
}

export function releaseMetrics(meter: MetricMeter): ReleaseMetrics {
  const started = meter.createCounter(RELEASE_METRIC_NAMES.releasesStarted, '1', 'Release workflows started');
  const deployed = meter.createCounter(RELEASE_METRIC_NAMES.tenantsDeployed, '1', 'Tenants that reached the new release and passed verification');
  const rolledBack = meter.createCounter(RELEASE_METRIC_NAMES.tenantsRolledBack, '1', 'Tenants returned to their previous release');
  const failed = meter.createCounter(RELEASE_METRIC_NAMES.tenantsFailed, '1', 'Tenants whose release failed (rolled back or not)');
  const duration = meter.createHistogram(RELEASE_METRIC_NAMES.stepDuration, 'float', 's', 'Duration of a release or provisioning step');
  return {
    releaseStarted: (tags = {}) => started.add(1, tags),
    tenantDeployed: (tags = {}) => deployed.add(1, tags),
    tenantRolledBack: (tags = {}) => rolledBack.add(1, tags),
    tenantFailed: (tags = {}) => failed.add(1, tags),
    stepDuration: (step, seconds, outcome, tags = {}) => duration.record(Math.max(0, seconds), { ...tags, step, outcome }),
  };
}
