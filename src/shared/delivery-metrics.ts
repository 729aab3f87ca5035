import type { MetricMeter, MetricTags } from '@temporalio/common';

/**
 * Delivery metrics (DORA-style), next to src/shared/release-metrics.ts: how long releases take,
 * how often a tenant deploy fails, how long a failed tenant takes to be healthy again, and how
 * long approval gates wait. Emitted from workflow code through `metricMeter` of
 * `@temporalio/workflow`, which drops them while a worker replays a history, so a release
 * replayed after a restart or a cache eviction does not count again (docs/operators.md).
 *
 * Every series carries `environment` and `plan` (the release plan), the dashboard's filters.
 * Tags stay low-cardinality: no tenant or release IDs.
 */
export const DELIVERY_METRIC_NAMES = {
  releaseDuration: 'tenant_fleet_release_duration_seconds',
  leadTime: 'tenant_fleet_release_lead_time_seconds',
  tenantDeploys: 'tenant_fleet_tenant_deploys',
  timeToRestore: 'tenant_fleet_time_to_restore_seconds',
  approvalGatesOpened: 'tenant_fleet_approval_gates_opened',
  approvalWait: 'tenant_fleet_approval_wait_seconds',
  certificateExpiry: 'tenant_fleet_certificate_expiry_timestamp_seconds',
  certificatesStuck: 'tenant_fleet_certificates_stuck',
} as const;

/** Histogram buckets in seconds (the runtime's exporter takes them per metric: src/workers/telemetry.ts). */
export const DELIVERY_HISTOGRAM_BUCKETS: Record<string, number[]> = {
  [DELIVERY_METRIC_NAMES.releaseDuration]: [60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 604800],
  [DELIVERY_METRIC_NAMES.leadTime]: [60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 604800],
  [DELIVERY_METRIC_NAMES.timeToRestore]: [10, 30, 60, 120, 300, 600, 1800, 3600, 14400, 86400],
  [DELIVERY_METRIC_NAMES.approvalWait]: [0, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200],
};

export interface DeliveryTags extends MetricTags {
  environment: string;
  plan: string;
}

/** How a release ended (its summary's status) and how an approval gate closed. */
export type ReleaseOutcome = 'succeeded' | 'completed-with-failures' | 'halted' | 'aborted';
export type GateOutcome = 'approved' | 'timed-out' | 'release-ended';

export interface DeliveryMetrics {
  releaseEnded(tags: DeliveryTags, outcome: ReleaseOutcome, seconds: number): void;
  /** From the release's request (its workflow's start) until its last wave is done. */
  leadTime(tags: DeliveryTags, seconds: number): void;
  /** A tenant deploy that changed the workload: `failed` when it had to be rolled back (or could not be). */
  tenantDeploy(tags: DeliveryTags, outcome: 'succeeded' | 'failed'): void;
  /** From the failure's detection until the tenant runs its previous version again, healthy. */
  restored(tags: DeliveryTags, seconds: number): void;
  gateOpened(tags: DeliveryTags): void;
  gateClosed(tags: DeliveryTags, outcome: GateOutcome, seconds: number): void;
}

export function deliveryMetrics(meter: MetricMeter): DeliveryMetrics {
  const n = DELIVERY_METRIC_NAMES;
  const duration = meter.createHistogram(n.releaseDuration, 'float', 's', 'Release duration, from its request until it ended, by outcome');
  const leadTime = meter.createHistogram(n.leadTime, 'float', 's', 'Lead time: release requested until its last wave was done');
  const deploys = meter.createCounter(n.tenantDeploys, '1', 'Tenant deploys that changed the workload, by outcome (change failure rate: failed / all)');
  const restore = meter.createHistogram(n.timeToRestore, 'float', 's', 'Time to restore: failure detected until the tenant ran its previous version again');
  const opened = meter.createCounter(n.approvalGatesOpened, '1', 'Approval gates that started waiting');
  const wait = meter.createHistogram(n.approvalWait, 'float', 's', 'How long an approval gate waited, by how it closed');
  const seconds = (value: number) => Math.max(0, value);
  return {
    releaseEnded: (tags, outcome, s) => duration.record(seconds(s), { ...tags, outcome }),
    leadTime: (tags, s) => leadTime.record(seconds(s), tags),
    tenantDeploy: (tags, outcome) => deploys.add(1, { ...tags, outcome }),
    restored: (tags, s) => restore.record(seconds(s), tags),
    gateOpened: (tags) => opened.add(1, tags),
    gateClosed: (tags, outcome, s) => wait.record(seconds(s), { ...tags, outcome }),
  };
}

export interface CertificateMetrics {
  /** The earliest expiry of the group's issued certificates (epoch seconds), and how many are stuck in validation. */
  observe(group: string, earliestExpiry: number | undefined, stuck: number): void;
}

export function certificateMetrics(meter: MetricMeter): CertificateMetrics {
  const expiry = meter.createGauge(DELIVERY_METRIC_NAMES.certificateExpiry, 'float', 's', 'Earliest expiry (notAfter) of a certificate group’s issued certificates, Unix seconds');
  const stuck = meter.createGauge(DELIVERY_METRIC_NAMES.certificatesStuck, 'int', '1', 'Certificates of a group stuck in DNS validation');
  return {
    observe(group, earliestExpiry, count) {
      if (earliestExpiry !== undefined) expiry.set(earliestExpiry, { group });
      stuck.set(count, { group });
    },
  };
}
