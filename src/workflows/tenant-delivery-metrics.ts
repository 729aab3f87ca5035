import { metricMeter } from '@temporalio/workflow';
import type { ReleaseTenantResult } from '../shared/messages/release';
import { deliveryMetrics, type DeliveryTags } from '../shared/delivery-metrics';
import type { TenantSpec } from '../shared/tenant-spec';

/**
 * A tenant's part of the delivery metrics (src/shared/delivery-metrics.ts), from its release
 * child: the deploy's outcome (change failure rate) and, for a failed one, the time until the
 * tenant ran its previous version again (time to restore). Only metrics: no command is issued,
 * and `metricMeter` stays silent while a history replays.
 */
export function tenantDeliveryMetrics(plan: string | undefined) {
  const metrics = deliveryMetrics(metricMeter);
  // Releases started before the plan reached their children (patch release-delivery-metrics).
  const tags = (tenant: Pick<TenantSpec, 'environment'>): DeliveryTags => ({ environment: tenant.environment, plan: plan ?? 'unknown' });
  return {
    /** Runs the rollback of a failed deploy, timing it from the failure's detection (now) to the tenant's healthy return. */
    async restoring<R extends Pick<ReleaseTenantResult, 'status'>>(tenant: Pick<TenantSpec, 'environment'>, rollBack: () => Promise<R>): Promise<R> {
      const detectedAt = Date.now();
      const result = await rollBack();
      if (result.status === 'rolled-back') metrics.restored(tags(tenant), (Date.now() - detectedAt) / 1000);
      return result;
    },
    /** A deploy that changed the workload, unless an abort stopped it: that is the release's decision, not a failed change. */
    deployed(tenant: Pick<TenantSpec, 'environment'>, result: Pick<ReleaseTenantResult, 'status' | 'deployed'>): void {
      if (!result.deployed || result.status === 'skipped') return;
      metrics.tenantDeploy(tags(tenant), result.status === 'succeeded' ? 'succeeded' : 'failed');
    },
  };
}
