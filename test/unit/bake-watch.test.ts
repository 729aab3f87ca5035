/* eslint-disable @typescript-eslint/unbound-method -- the activity factories return plain closures that never use `this`. */
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand, type MetricAlarm } from '@aws-sdk/client-cloudwatch';
import { quietActivityEnvironment } from '../support/mock-activity';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsClients } from '../../src/activities/aws/clients';
import { createBakeWatchActivities, type BakeWatchInput, type BakeWatchResult } from '../../src/activities/bake-watch';
import { addWatch, emptyWatchSet, type WatchSet } from '../../src/shared/release/bake-watch';
import type { AwsTarget } from '../../src/shared/tenant-spec';

/*
 * The active bake's watch against stubbed CloudWatch: the call pattern at scale (one DescribeAlarms
 * per 100 names of an account, one GetMetricData per 500 target groups) and what counts as a regression.
 */
const tenantAccount: AwsTarget = { accountId: '111111111111', region: 'eu-west-1', roleArn: 'arn:aws:iam::111111111111:role/TenantFleetAccess', externalId: 'ext' };
const lbAccount: AwsTarget = { accountId: '222222222222', region: 'eu-west-1', roleArn: 'arn:aws:iam::222222222222:role/TenantFleetAccess', externalId: 'ext' };

const cloudWatch = mockClient(CloudWatchClient);
let clients: AwsClients;
/** The alarms CloudWatch knows, by name; each answers OK unless set. */
let alarms: Map<string, MetricAlarm>;
let failed: Record<string, number>;

const fleet = (ids: string[]): WatchSet => {
  const set = emptyWatchSet();
  for (const id of ids) {
    addWatch(set, id, { target: tenantAccount, alarmNames: [`tenant-${id}-5xx`], loadBalancer: { target: lbAccount, alarmNames: [`tenant-${id}-target-5xx`, `tenant-${id}-unhealthy-hosts`] } });
    alarms.set(`tenant-${id}-5xx`, { AlarmName: `tenant-${id}-5xx`, StateValue: 'OK', Namespace: 'TenantFleet/App', MetricName: 'HTTPCode_5XX' });
    const dimensions = [
      { Name: 'LoadBalancer', Value: 'app/tenant-fleet-lb/0123456789abcdef' },
      { Name: 'TargetGroup', Value: `targetgroup/tenant-${id}/0123456789abcdef` },
    ];
    alarms.set(`tenant-${id}-target-5xx`, { AlarmName: `tenant-${id}-target-5xx`, StateValue: 'OK', Namespace: 'AWS/ApplicationELB', MetricName: 'HTTPCode_Target_5XX_Count', Dimensions: dimensions });
    alarms.set(`tenant-${id}-unhealthy-hosts`, { AlarmName: `tenant-${id}-unhealthy-hosts`, StateValue: 'OK', Namespace: 'AWS/ApplicationELB', MetricName: 'UnHealthyHostCount', Dimensions: dimensions });
  }
  return set;
};

const watch = (input: Partial<BakeWatchInput> & { tenants: WatchSet }) =>
  quietActivityEnvironment().run<[BakeWatchInput], BakeWatchResult, (input: BakeWatchInput) => Promise<BakeWatchResult>>(createBakeWatchActivities({ aws: clients }).watchBake, {
    releaseId: 'r1',
    wave: 'rest',
    since: Date.now() - 60_000,
    until: Date.now() + 100,
    intervalMs: 50,
    ...input,
  });

beforeEach(() => {
  cloudWatch.reset();
  // The per-account budget (8 CloudWatch requests/s) would make the 2,000-tenant check take 8 s here; its own tests cover it.
  clients = new AwsClients({ baseCredentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' }, rates: { cloudwatch: 10_000 } });
  alarms = new Map();
  failed = {};
  cloudWatch.on(DescribeAlarmsCommand).callsFake((input: { AlarmNames: string[] }) => ({ MetricAlarms: input.AlarmNames.map((n) => alarms.get(n)).filter((a) => a !== undefined) }));
  cloudWatch.on(GetMetricDataCommand).callsFake((input: { MetricDataQueries: { Id: string; MetricStat: { Metric: { Dimensions: { Name: string; Value: string }[] } } }[] }) => ({
    MetricDataResults: input.MetricDataQueries.map((q) => {
      const tg = q.MetricStat.Metric.Dimensions.find((d) => d.Name === 'TargetGroup')!.Value;
      return { Id: q.Id, Values: failed[tg] ? [failed[tg]] : [] };
    }),
  }));
});
afterEach(() => clients.destroy());

describe('watchBake', () => {
  it('reads 2,000 tenants in batches per account: 20 + 40 DescribeAlarms and 4 GetMetricData a check, and comes back clean at the bake end', async () => {
    const ids = Array.from({ length: 2_000 }, (_, i) => `t${i}`);
    const result = await watch({ tenants: fleet(ids), until: Date.now() - 1 });
    expect(result).toEqual({ regressions: [], checks: 1, watched: 2_000 });
    expect(cloudWatch.commandCalls(DescribeAlarmsCommand)).toHaveLength(20 + 40);
    expect(cloudWatch.commandCalls(GetMetricDataCommand)).toHaveLength(4);
    // One failed-request query per target group, not one per alarm on it.
    expect(cloudWatch.commandCalls(GetMetricDataCommand).reduce((n, c) => n + c.args[0].input.MetricDataQueries!.length, 0)).toBe(2_000);
  });

  it('checks until the bake ends when nothing regresses', async () => {
    const until = Date.now() + 1_000;
    const result = await watch({ tenants: fleet(['acme', 'globex']), until, intervalMs: 200 });
    expect(Date.now()).toBeGreaterThanOrEqual(until);
    expect(result.regressions).toEqual([]);
    expect(result.checks).toBeGreaterThan(2);
  });

  it('comes back at once with the tenants whose alarm is in ALARM, whose target group answered 5xx, or whose alarm is gone', async () => {
    const set = fleet(['acme', 'globex', 'initech', 'hooli']);
    alarms.set('tenant-acme-5xx', { ...alarms.get('tenant-acme-5xx')!, StateValue: 'ALARM', StateReason: 'Threshold Crossed' });
    failed['targetgroup/tenant-globex/0123456789abcdef'] = 3;
    alarms.delete('tenant-initech-unhealthy-hosts');
    const result = await watch({ tenants: set, until: Date.now() + 60_000 });
    expect(result.checks).toBe(1);
    expect(result.regressions).toEqual([
      { tenantId: 'acme', reason: 'tenant-acme-5xx is in ALARM (Threshold Crossed)' },
      { tenantId: 'initech', reason: 'expected existing CloudWatch alarm tenant-initech-unhealthy-hosts in account 222222222222 eu-west-1, found none' },
      { tenantId: 'globex', reason: '3 requests to target group targetgroup/tenant-globex/0123456789abcdef failed with a 5xx during the bake (AWS/ApplicationELB HTTPCode_Target_5XX_Count)' },
    ]);
  });
});
