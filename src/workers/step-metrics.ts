import { CancelledFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { releaseMetrics } from '../shared/release-metrics';

/**
 * Records every activity attempt's duration as `tenant_fleet_step_duration_seconds{step=<activity
 * type>, outcome}`: a step of provisioning or a release is an activity, so the dashboard gets
 * step durations without each activity timing itself.
 */
export const stepMetricsInterceptor: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      const metrics = releaseMetrics(ctx.metricMeter);
      const step = ctx.info.activityType;
      const startedAt = performance.now();
      try {
        const result = await next(input);
        metrics.stepDuration(step, (performance.now() - startedAt) / 1000, 'succeeded');
        return result;
      } catch (error) {
        metrics.stepDuration(step, (performance.now() - startedAt) / 1000, error instanceof CancelledFailure ? 'cancelled' : 'failed');
        throw error;
      }
    },
  },
});
