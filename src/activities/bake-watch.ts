import { DescribeAlarmsCommand, GetMetricDataCommand, type CompositeAlarm, type Dimension, type MetricAlarm, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import { bakeCheckIntervalMs, watchOf, type BakeRegression, type WatchSet } from '../shared/release/bake-watch';
import type { AwsTarget } from '../shared/tenant-spec';
import type { AwsClients } from './aws/clients';
import { activityContext, heartbeat } from './poll';
import { inPollLane } from './request-lane';

export interface BakeWatchInput {
  releaseId: string;
  wave: string;
  /** Epoch ms the bake began: failed requests are counted from here. */
  since: number;
  /** Epoch ms the bake ends: the last check is made then. */
  until: number;
  tenants: WatchSet;
  intervalMs?: number;
}

export interface BakeWatchResult {
  /** The tenants that regressed at the check that found them (at most `REGRESSIONS_MAX`); none once the bake is over. */
  regressions: BakeRegression[];
  checks: number;
  watched: number;
}

/** DescribeAlarms takes 100 names a call, GetMetricData 500 queries. */
const ALARMS_PER_CALL = 100;
const QUERIES_PER_CALL = 500;
/** A result names this many regressions at most (the payload stays small); the rest are found by the next watch at once. */
export const REGRESSIONS_MAX = 100;
const REASON_MAX = 500;
const HEARTBEAT_EVERY_MS = 10_000;

type Alarm = MetricAlarm | CompositeAlarm;

/** One account and region (and the role the fleet uses there): its alarms are read together. */
interface Group {
  target: AwsTarget;
  /** Alarm name → the tenants that watch it (a shared alarm may belong to several). */
  owners: Map<string, string[]>;
  /** The target-group alarms among them: name → tenant, to count that target group's failed requests. */
  targetGroups: Map<string, string>;
}

/**
 * The active bake's checks (docs/releases.md, "Active bake"): every interval, all of a wave's
 * watched tenants at once, grouped by account and region, so 2,000 tenants in one account cost
 * about 60 DescribeAlarms and 4 GetMetricData calls a check, not thousands. A tenant regresses
 * when one of its alarms is in ALARM (or has gone), or when users' requests to its target group
 * failed with a 5xx since the bake began. It returns as soon as a check finds a regression (the
 * release rolls those tenants back and sends the watch out again for the others), or with none
 * after its last check at the bake's end. It only reads: running it twice watches twice.
 */
export function createBakeWatchActivities({ aws }: { aws: AwsClients }) {
  const readAlarms = async (target: AwsTarget, names: string[]): Promise<Map<string, Alarm>> => {
    const found = new Map<string, Alarm>();
    for (let i = 0; i < names.length; i += ALARMS_PER_CALL) {
      const { MetricAlarms = [], CompositeAlarms = [] } = await aws
        .cloudWatch(target)
        .send(new DescribeAlarmsCommand({ AlarmNames: names.slice(i, i + ALARMS_PER_CALL), AlarmTypes: ['MetricAlarm', 'CompositeAlarm'] }));
      for (const alarm of [...MetricAlarms, ...CompositeAlarms]) if (alarm.AlarmName) found.set(alarm.AlarmName, alarm);
    }
    return found;
  };

  /** Sums of HTTPCode_Target_5XX_Count since `since`, per query, in one account and region. */
  const failedRequests = async (target: AwsTarget, queries: { tenantId: string; dimensions: Dimension[] }[], since: number): Promise<number[]> => {
    const sums: number[] = [];
    const end = new Date(since + Math.max(1, Math.ceil((Date.now() - since) / 60_000)) * 60_000);
    for (let i = 0; i < queries.length; i += QUERIES_PER_CALL) {
      const slice = queries.slice(i, i + QUERIES_PER_CALL);
      const metricQueries: MetricDataQuery[] = slice.map((q, j) => ({
        Id: `q${j}`,
        MetricStat: { Metric: { Namespace: 'AWS/ApplicationELB', MetricName: 'HTTPCode_Target_5XX_Count', Dimensions: q.dimensions }, Period: 60, Stat: 'Sum' },
        ReturnData: true,
      }));
      const found = new Map<string, number>();
      let token: string | undefined;
      do {
        const page = await aws.cloudWatch(target).send(new GetMetricDataCommand({ MetricDataQueries: metricQueries, StartTime: new Date(since), EndTime: end, NextToken: token }));
        for (const result of page.MetricDataResults ?? []) {
          if (result.Id) found.set(result.Id, (found.get(result.Id) ?? 0) + (result.Values ?? []).reduce((a, b) => a + b, 0));
        }
        token = page.NextToken;
      } while (token);
      slice.forEach((_, j) => sums.push(found.get(`q${j}`) ?? 0));
    }
    return sums;
  };

  /** One check of every group: the regressions it found, by tenant (the first reason each). */
  const check = async (groups: Group[], since: number): Promise<Map<string, string>> => {
    const regressions = new Map<string, string>();
    const regress = (tenantId: string, reason: string) => {
      if (!regressions.has(tenantId)) regressions.set(tenantId, reason.length > REASON_MAX ? `${reason.slice(0, REASON_MAX - 1)}…` : reason);
    };
    for (const group of groups) {
      const found = await readAlarms(group.target, [...group.owners.keys()]);
      const queries: { tenantId: string; targetGroup: string; dimensions: Dimension[] }[] = [];
      const counted = new Set<string>();
      for (const [name, tenants] of group.owners) {
        const alarm = found.get(name);
        for (const tenantId of tenants) {
          // A deleted alarm must not make the bake pass for ever.
          if (!alarm) regress(tenantId, `expected existing CloudWatch alarm ${name} in account ${group.target.accountId} ${group.target.region}, found none`);
          else if (alarm.StateValue === 'ALARM') regress(tenantId, `${name} is in ALARM (${alarm.StateReason ?? 'no reason given'})`);
        }
        // The target group's alarms name its metrics' dimensions: the traffic stack's outputs need not be read again.
        const owner = group.targetGroups.get(name);
        const metric = alarm !== undefined && 'Namespace' in alarm ? alarm : undefined;
        const dimensions = metric?.Namespace === 'AWS/ApplicationELB' ? targetGroupDimensions(metric.Dimensions) : undefined;
        const key = dimensions && `${owner}|${dimensions[0]!.Value}|${dimensions[1]!.Value}`;
        if (owner && dimensions && !counted.has(key!)) {
          counted.add(key!);
          queries.push({ tenantId: owner, targetGroup: dimensions[1]!.Value!, dimensions });
        }
      }
      // Users' requests that failed during the bake: a bug the alarms have not caught yet still shows here.
      const sums = queries.length > 0 ? await failedRequests(group.target, queries, since) : [];
      queries.forEach((q, i) => {
        if (sums[i]! > 0) regress(q.tenantId, `${sums[i]} requests to target group ${q.targetGroup} failed with a 5xx during the bake (AWS/ApplicationELB HTTPCode_Target_5XX_Count)`);
      });
    }
    return regressions;
  };

  return {
    async watchBake(input: BakeWatchInput): Promise<BakeWatchResult> {
      const groups = groupsOf(input.tenants);
      const watched = Object.keys(input.tenants.of).length;
      const interval = input.intervalMs ?? bakeCheckIntervalMs(input.until - input.since);
      for (let checks = 1; ; checks++) {
        // A check is a wait's read: one-shot calls go first in the account's request budget (aws/rate-limit.ts).
        const regressions = await inPollLane(() => check(groups, input.since));
        heartbeat({ wave: input.wave, checks, watched, regressions: regressions.size });
        if (regressions.size > 0) {
          const list = [...regressions].slice(0, REGRESSIONS_MAX).map(([tenantId, reason]) => ({ tenantId, reason }));
          return { regressions: list, checks, watched };
        }
        const left = input.until - Date.now();
        if (left <= 0) return { regressions: [], checks, watched };
        // The last pause ends at the bake's end, for a last look then.
        await sleepHeartbeating(Math.min(interval, left), { wave: input.wave, checks, watched });
      }
    },
  };
}

export type BakeWatchActivities = ReturnType<typeof createBakeWatchActivities>;

function groupsOf(set: WatchSet): Group[] {
  const groups = new Map<string, Group>();
  const groupOf = (target: AwsTarget) => {
    const key = `${target.accountId}|${target.region}|${target.roleArn}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { target, owners: new Map(), targetGroups: new Map() }));
    return group;
  };
  const own = (group: Group, name: string, tenantId: string) => {
    const owners = group.owners.get(name) ?? [];
    if (!owners.includes(tenantId)) owners.push(tenantId);
    group.owners.set(name, owners);
  };
  for (const tenantId of Object.keys(set.of)) {
    const spec = watchOf(set, tenantId)!;
    const own_ = groupOf(spec.target);
    for (const name of spec.alarmNames) own(own_, name, tenantId);
    if (spec.loadBalancer) {
      const lb = groupOf(spec.loadBalancer.target);
      for (const name of spec.loadBalancer.alarmNames) {
        own(lb, name, tenantId);
        lb.targetGroups.set(name, tenantId);
      }
    }
  }
  return [...groups.values()];
}

/** The LoadBalancer and TargetGroup dimensions of a target group's metric, in that order, or undefined without both. */
function targetGroupDimensions(dimensions: Dimension[] = []): Dimension[] | undefined {
  const lb = dimensions.find((d) => d.Name === 'LoadBalancer' && d.Value);
  const tg = dimensions.find((d) => d.Name === 'TargetGroup' && d.Value);
  return lb && tg ? [lb, tg] : undefined;
}

async function sleepHeartbeating(ms: number, details: unknown): Promise<void> {
  const context = activityContext();
  for (let left = ms; left > 0; left -= HEARTBEAT_EVERY_MS) {
    const slice = Math.min(left, HEARTBEAT_EVERY_MS);
    if (context) await context.sleep(slice);
    else await new Promise((resolve) => setTimeout(resolve, slice));
    if (left > slice) context?.heartbeat(details);
  }
}
