import { Runtime } from '@temporalio/worker';
import { z } from 'zod';
import { DELIVERY_HISTOGRAM_BUCKETS } from '../shared/delivery-metrics';
import { parseOrThrow } from '../shared/validation';
import { JsonLogger } from './logging';

const telemetryEnvSchema = z.object({
  TENANT_FLEET_LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
  /** Unset: no Prometheus endpoint (tests, laptops). Set in images and manifests. */
  TENANT_FLEET_METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  /** Loopback unless a scraper outside the pod or container must reach it (then 0.0.0.0). */
  TENANT_FLEET_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
});

export interface Telemetry {
  logger: JsonLogger;
  /** `host:port` of the Prometheus endpoint (`/metrics`), if one was asked for. */
  metricsAddress?: string;
}

/**
 * Installs the SDK runtime once per process, before any connection exists: JSON logs
 * (SDK, workflow and activity loggers, and Core's native logs forwarded to the same logger)
 * and, when `TENANT_FLEET_METRICS_PORT` is set, the runtime's Prometheus exporter, which also
 * serves the project's own metrics (src/shared/release-metrics.ts).
 *
 * Signals are left to the process (main.ts): the runtime's own SIGTERM handler would start
 * the same drain, and one owner keeps the exit code and order of shutdown obvious.
 */
export function installTelemetry(env: NodeJS.ProcessEnv = process.env, base: Record<string, unknown> = {}): Telemetry {
  const settings = parseOrThrow(telemetryEnvSchema, env, 'worker telemetry settings (environment)');
  const logger = new JsonLogger(settings.TENANT_FLEET_LOG_LEVEL, undefined, base);
  const metricsAddress = settings.TENANT_FLEET_METRICS_PORT ? `${settings.TENANT_FLEET_METRICS_HOST}:${settings.TENANT_FLEET_METRICS_PORT}` : undefined;
  Runtime.install({
    logger,
    shutdownSignals: [],
    telemetryOptions: {
      logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} },
      ...(metricsAddress
        ? {
            metrics: {
              prometheus: {
                bindAddress: metricsAddress,
                // Durations in seconds and `_total` counters are what Prometheus conventions and the dashboard expect.
                countersTotalSuffix: true,
                useSecondsForDurations: true,
                histogramBucketOverrides: { tenant_fleet_step_duration_seconds: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800], ...DELIVERY_HISTOGRAM_BUCKETS },
              },
            },
          }
        : {}),
    },
  });
  return { logger, metricsAddress };
}
