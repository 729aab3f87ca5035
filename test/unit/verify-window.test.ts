/* eslint-disable @typescript-eslint/unbound-method -- the activity factories return plain closures that never use `this`. */
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricStatisticsCommand, type MetricAlarm } from '@aws-sdk/client-cloudwatch';
import { quietActivityEnvironment } from '../support/mock-activity';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsClients } from '../../src/activities/aws/clients';
import { createHealthActivities, type VerifyInput } from '../../src/activities/verify-health';
import { ErrorType } from '../../src/shared/errors';
import type { AwsTarget } from '../../src/shared/tenant-spec';

/*
 * An alarm cannot fire sooner than period × evaluation periods: a verify window that only
 * watches alarm states must last at least that long, unless it reads the metrics itself.
 */
const target: AwsTarget = { accountId: '123456789012', region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/TenantFleetAccess', externalId: 'ext' };
const alarm: MetricAlarm = {
  AlarmName: 'tenant-acme-5xx',
  StateValue: 'OK',
  Namespace: 'TenantFleet/App',
  MetricName: 'HTTPCode_5XX',
  Dimensions: [{ Name: 'TenantId', Value: 'acme' }],
  Statistic: 'Sum',
  Period: 60,
  EvaluationPeriods: 3,
  Threshold: 10,
  ComparisonOperator: 'GreaterThanThreshold',
};

const cloudWatch = mockClient(CloudWatchClient);
let clients: AwsClients;
const verify = (input: Partial<VerifyInput>) =>
  quietActivityEnvironment()
    .run(createHealthActivities({ aws: clients }).verifyTenantHealth, { tenantId: 'acme', target, alarmNames: ['tenant-acme-5xx'], windowMs: 30, intervalMs: 10, ...input })
    .catch((e: unknown) => e);

beforeEach(() => {
  cloudWatch.reset();
  clients = new AwsClients({ baseCredentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' } });
  cloudWatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [alarm] });
  cloudWatch.on(GetMetricStatisticsCommand).resolves({ Datapoints: [{ Timestamp: new Date(), Sum: 3 }] });
});
afterEach(() => clients.destroy());

describe('verifyTenantHealth and the alarms’ evaluation time', () => {
  it('refuses a window shorter than an alarm’s evaluation time, naming both', async () => {
    const failure = await verify({});
    expect(failure).toMatchObject({ type: ErrorType.InvalidInput, nonRetryable: true });
    expect((failure as Error).message).toMatch(/verify window 0\.03 s is shorter than the evaluation time of alarm tenant-acme-5xx, 180 s \(period 60 s × 3 evaluation periods\)/);
  });

  it('accepts a window as long as the evaluation time', async () => {
    cloudWatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [{ ...alarm, Period: 1, EvaluationPeriods: 1 }] });
    await expect(verify({ windowMs: 1_000, intervalMs: 500 })).resolves.toMatchObject({ healthy: true });
  });

  it('reading the metrics itself, a short window passes while the metric stays under the threshold', async () => {
    await expect(verify({ readMetrics: true })).resolves.toMatchObject({ healthy: true });
    expect(cloudWatch.commandCalls(GetMetricStatisticsCommand)[0]?.args[0].input).toMatchObject({ Namespace: 'TenantFleet/App', MetricName: 'HTTPCode_5XX', Statistics: ['Sum'], Period: 60 });
    // CloudWatch refuses an end that is not after the start, even within the first second of a period.
    const { StartTime, EndTime } = cloudWatch.commandCalls(GetMetricStatisticsCommand)[0]!.args[0].input;
    expect(EndTime!.getTime() - StartTime!.getTime()).toBeGreaterThanOrEqual(60_000);
    expect(StartTime!.getTime() % 60_000).toBe(0);
  });

  it('reading the metrics itself, a breach fails the tenant before the alarm could fire', async () => {
    cloudWatch.on(GetMetricStatisticsCommand).resolves({ Datapoints: [{ Timestamp: new Date('2026-12-01T16:00:00Z'), Sum: 42 }] });
    await expect(verify({ readMetrics: true })).resolves.toMatchObject({
      healthy: false,
      reason: "TenantFleet/App/HTTPCode_5XX (Sum) was 42 at 2026-12-01T16:00:00.000Z, breaching alarm tenant-acme-5xx's threshold (GreaterThanThreshold 10)",
    });
  });
});
