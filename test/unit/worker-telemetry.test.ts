import type { MetricMeter, MetricTags } from '@temporalio/common';
import { CancelledFailure } from '@temporalio/common';
import { RELEASE_METRIC_NAMES, releaseMetrics } from '../../src/shared/release-metrics';
import { idsFromWorkflowId, JsonLogger } from '../../src/workers/logging';
import { stepMetricsInterceptor } from '../../src/workers/step-metrics';

/** A meter that remembers what was recorded, standing in for the runtime's. */
function recordingMeter() {
  const records: { name: string; value: number; tags: MetricTags }[] = [];
  const metric = (name: string) => ({
    name,
    add: (value: number, tags: MetricTags = {}) => records.push({ name, value, tags }),
    record: (value: number, tags: MetricTags = {}) => records.push({ name, value, tags }),
    set: (value: number, tags: MetricTags = {}) => records.push({ name, value, tags }),
    withTags: () => metric(name),
  });
  const meter = {
    createCounter: metric,
    createHistogram: metric,
    createGauge: metric,
    withTags: () => meter,
  } as unknown as MetricMeter;
  return { meter, records };
}

describe('idsFromWorkflowId', () => {
  it.each([
    ['tenant/acme/provision', { tenantId: 'acme' }],
    ['release/2025-06-01.1', { releaseId: '2025-06-01.1' }],
    ['release/r7/tenant/globex', { releaseId: 'r7', tenantId: 'globex' }],
    ['certs/eu', {}],
    [undefined, {}],
  ])('%s', (workflowId, expected) => {
    expect(idsFromWorkflowId(workflowId)).toEqual(expected);
  });
});

describe('JsonLogger', () => {
  const capture = (level: ConstructorParameters<typeof JsonLogger>[0] = 'INFO') => {
    const lines: string[] = [];
    return { lines, logger: new JsonLogger(level, (_level, line) => lines.push(line), { service: 'test' }) };
  };

  it('writes one JSON object with the tenant and release taken from the workflow ID', () => {
    const { lines, logger } = capture();
    logger.info('Activity completed', { workflowId: 'release/r7/tenant/globex', activityType: 'deployEcsService', durationMs: 12 });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'info',
      msg: 'Activity completed',
      service: 'test',
      tenantId: 'globex',
      releaseId: 'r7',
      activityType: 'deployEcsService',
    });
  });

  it('never writes values of secret-looking keys', () => {
    const { lines, logger } = capture();
    logger.warn('calling', { apiKey: 'k-123', password: 'hunter2', authorization: 'Bearer abc', taskToken: new Uint8Array([1, 2]) });
    expect(lines[0]).not.toMatch(/k-123|hunter2|Bearer abc/);
    expect(JSON.parse(lines[0]!)).toMatchObject({ apiKey: '[redacted]', password: '[redacted]', authorization: '[redacted]' });
  });

  it('drops entries below its level and survives unserialisable metadata', () => {
    const { lines, logger } = capture('WARN');
    logger.info('quiet');
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    logger.error('loud', { circular, error: new Error('boom') });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'error', msg: 'loud' });
  });
});

describe('releaseMetrics', () => {
  it('counts and times under the documented names', () => {
    const { meter, records } = recordingMeter();
    const metrics = releaseMetrics(meter);
    metrics.releaseStarted({ environment: 'prod' });
    metrics.tenantDeployed();
    metrics.tenantRolledBack();
    metrics.tenantFailed();
    metrics.stepDuration('deploy', 1.5, 'succeeded', { runtime: 'ecs' });
    expect(records).toEqual([
      { name: RELEASE_METRIC_NAMES.releasesStarted, value: 1, tags: { environment: 'prod' } },
      { name: RELEASE_METRIC_NAMES.tenantsDeployed, value: 1, tags: {} },
      { name: RELEASE_METRIC_NAMES.tenantsRolledBack, value: 1, tags: {} },
      { name: RELEASE_METRIC_NAMES.tenantsFailed, value: 1, tags: {} },
      { name: RELEASE_METRIC_NAMES.stepDuration, value: 1.5, tags: { runtime: 'ecs', step: 'deploy', outcome: 'succeeded' } },
    ]);
  });
});

describe('stepMetricsInterceptor', () => {
  const run = async (outcome: () => Promise<unknown>) => {
    const { meter, records } = recordingMeter();
    const ctx = { metricMeter: meter, info: { activityType: 'waitForStack' } } as unknown as Parameters<typeof stepMetricsInterceptor>[0];
    const execute = stepMetricsInterceptor(ctx).inbound!.execute!;
    const result = await execute({ args: [], headers: {} }, outcome).then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    return { result, records };
  };

  it('records the duration of a successful step and passes its result through', async () => {
    const { result, records } = await run(() => new Promise((resolve) => setTimeout(() => resolve('done'), 20)));
    expect(result).toEqual({ value: 'done' });
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ name: 'tenant_fleet_step_duration_seconds', tags: { step: 'waitForStack', outcome: 'succeeded' } });
    expect(records[0]!.value).toBeGreaterThanOrEqual(0.015);
  });

  it('records failed and cancelled steps and rethrows the same error', async () => {
    const boom = new Error('stack failed');
    const failed = await run(() => Promise.reject(boom));
    expect(failed.result).toEqual({ error: boom });
    expect(failed.records[0]!.tags).toMatchObject({ outcome: 'failed' });
    const cancelled = await run(() => Promise.reject(new CancelledFailure('cancelled')));
    expect(cancelled.records[0]!.tags).toMatchObject({ outcome: 'cancelled' });
  });
});
