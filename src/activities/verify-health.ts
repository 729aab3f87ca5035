import { DescribeAlarmsCommand, GetMetricStatisticsCommand, type CompositeAlarm, type Datapoint, type MetricAlarm } from '@aws-sdk/client-cloudwatch';
import { ErrorType, permanentFailure } from '../shared/errors';

type Alarm = MetricAlarm | CompositeAlarm;
import type { AwsTarget } from '../shared/tenant-spec';
import type { AwsClients } from './aws/clients';
import { abortSignal, activityContext, heartbeat } from './poll';
import { inPollLane } from './request-lane';

export interface VerifyInput {
  tenantId: string;
  target: AwsTarget;
  /** Alarms that must not be in ALARM at any check during the window. */
  alarmNames: string[];
  /** Polled during the window; it must answer 2xx, and this many failures in a row fail the tenant. */
  healthCheckUrl?: string;
  windowMs: number;
  intervalMs?: number;
  /**
   * Also read each metric alarm's metric over the window and judge it against the alarm's threshold
   * (the plan's `verification: metrics`). Without it, a window shorter than an alarm's evaluation
   * time (period × evaluation periods) is refused: the alarm could not fire within it.
   */
  readMetrics?: boolean;
  /**
   * The tenant's target group on its load balancer (the traffic stack's outputs, in the load
   * balancer's account): its alarms are watched like the others, and the requests users sent it
   * during the window are counted from the load balancer's own metrics.
   */
  loadBalancer?: { target: AwsTarget; alarmNames: string[]; loadBalancerFullName: string; targetGroupFullName: string };
  /**
   * Epoch ms the metrics are read from instead of the activity's start: a blue/green step bakes
   * with a durable timer first, then verifies what its colour's group counted since the step began.
   */
  sinceMs?: number;
}

export interface VerifyResult {
  healthy: boolean;
  reason?: string;
  checks: number;
  /** Requests the load balancer sent the tenant's targets in the window, and how many failed (5xx). */
  requests?: number;
  failedRequests?: number;
}

const HTTP_FAILURES_IN_A_ROW = 3;
const HTTP_TIMEOUT_MS = 5_000;

/**
 * The verify step after a deploy: for the whole window, the tenant's alarms stay out of ALARM
 * and its health endpoint answers. An unhealthy tenant is a result (the workflow rolls back),
 * not an error; only failures to ask (AWS unreachable) throw and are retried. Running it
 * twice simply watches twice.
 */
export function createHealthActivities({ aws, fetchImpl = fetch }: { aws: AwsClients; fetchImpl?: typeof fetch }) {
  /** Alarms in ALARM, and names that match no alarm (a typo must not make verification pass for ever). */
  const readAlarms = async (target: AwsTarget, names: string[]): Promise<{ found: Alarm[]; alarming: Alarm[]; missing: string[] }> => {
    const found: Alarm[] = [];
    for (let i = 0; i < names.length; i += 100) {
      const { MetricAlarms = [], CompositeAlarms = [] } = await aws
        .cloudWatch(target)
        .send(new DescribeAlarmsCommand({ AlarmNames: names.slice(i, i + 100), AlarmTypes: ['MetricAlarm', 'CompositeAlarm'] }));
      found.push(...MetricAlarms, ...CompositeAlarms);
    }
    const seen = new Set(found.map((a) => a.AlarmName));
    return { found, alarming: found.filter((a) => a.StateValue === 'ALARM'), missing: names.filter((n) => !seen.has(n)) };
  };

  /** The first datapoint since `since` that breaches the alarm's threshold, described; undefined when none does. */
  const breachOf = async (target: AwsTarget, alarm: MetricAlarm, since: number): Promise<string | undefined> => {
    const breaches = BREACHES[alarm.ComparisonOperator ?? ''];
    if (!alarm.MetricName || !alarm.Namespace || alarm.Threshold === undefined || !breaches) return undefined;
    const statistic = alarm.Statistic;
    const extended = alarm.ExtendedStatistic;
    if (!statistic && !extended) return undefined;
    const periodS = Math.max(60, alarm.Period ?? 60);
    const start = Math.floor(since / (periodS * 1000)) * periodS * 1000;
    const { Datapoints = [] } = await aws.cloudWatch(target).send(
      new GetMetricStatisticsCommand({
        Namespace: alarm.Namespace,
        MetricName: alarm.MetricName,
        Dimensions: alarm.Dimensions,
        // From the start of the period the window began in, so a burst just before the deploy settles is seen too,
        // to the end of the current period: CloudWatch refuses an end that is not after the start.
        StartTime: new Date(start),
        EndTime: new Date(start + Math.max(1, Math.ceil((Date.now() - start) / (periodS * 1000))) * periodS * 1000),
        Period: periodS,
        ...(statistic ? { Statistics: [statistic] } : { ExtendedStatistics: [extended!] }),
      }),
    );
    const valueOf = (d: Datapoint) => (statistic ? (d[statistic as keyof Datapoint] as number | undefined) : d.ExtendedStatistics?.[extended!]);
    const bad = Datapoints.find((d) => {
      const value = valueOf(d);
      return value !== undefined && breaches(value, alarm.Threshold!);
    });
    return bad ? `${alarm.Namespace}/${alarm.MetricName} (${statistic ?? extended}) was ${valueOf(bad)} at ${bad.Timestamp?.toISOString()}, breaching alarm ${alarm.AlarmName}'s threshold (${alarm.ComparisonOperator} ${alarm.Threshold})` : undefined;
  };

  /**
   * Sums of the target group's request metrics since the window began (CloudWatch rounds the start
   * down to its one-minute storage; an earlier release's failures in that minute are not this one's,
   * so the start is not rounded here).
   */
  const requestCounts = async (lb: NonNullable<VerifyInput['loadBalancer']>, since: number): Promise<{ requests: number; failed: number }> => {
    const start = since;
    const sum = async (metric: string) => {
      const { Datapoints = [] } = await aws.cloudWatch(lb.target).send(
        new GetMetricStatisticsCommand({
          Namespace: 'AWS/ApplicationELB',
          MetricName: metric,
          Dimensions: [
            { Name: 'LoadBalancer', Value: lb.loadBalancerFullName },
            { Name: 'TargetGroup', Value: lb.targetGroupFullName },
          ],
          StartTime: new Date(start),
          EndTime: new Date(start + Math.max(1, Math.ceil((Date.now() - start) / 60_000)) * 60_000),
          Period: 60,
          Statistics: ['Sum'],
        }),
      );
      return Datapoints.reduce((total, d) => total + (d.Sum ?? 0), 0);
    };
    const [requests, failed] = await Promise.all([sum('RequestCount'), sum('HTTPCode_Target_5XX_Count')]);
    return { requests, failed };
  };

  const probe = async (url: string): Promise<string | undefined> => {
    const timeout = AbortSignal.timeout(HTTP_TIMEOUT_MS);
    const cancelled = abortSignal();
    try {
      const response = await fetchImpl(url, { signal: cancelled ? AbortSignal.any([timeout, cancelled]) : timeout, redirect: 'manual' });
      await response.body?.cancel();
      return response.status >= 200 && response.status < 300 ? undefined : `HTTP ${response.status}`;
    } catch (error) {
      if (cancelled?.aborted) throw error;
      return (error as Error).message;
    }
  };

  return {
    async verifyTenantHealth(input: VerifyInput): Promise<VerifyResult> {
      // The whole window is a wait: its reads give way to one-shot calls in the request budget.
      return inPollLane(async () => {
        // Alarms change state at most once a period (a minute, usually): a long window needs no 2-second checks.
        const interval = input.intervalMs ?? Math.min(30_000, Math.max(2_000, Math.round(input.windowMs / 10)));
        const started = input.sinceMs ?? Date.now();
        const deadline = Date.now() + input.windowMs;
        let httpFailures = 0;
        let lastHttpProblem: string | undefined;
        const lb = input.loadBalancer;
        const watched: { target: AwsTarget; names: string[] }[] = [
          { target: input.target, names: input.alarmNames },
          ...(lb ? [{ target: lb.target, names: lb.alarmNames }] : []),
        ];
        for (let checks = 1; ; checks++) {
          for (const { target, names } of watched) {
            const { found, alarming, missing } = await readAlarms(target, names);
            if (missing.length > 0) {
              const where = `account ${target.accountId} ${target.region}`;
              return { healthy: false, reason: `expected existing CloudWatch alarms, found none named ${missing.join(', ')} in ${where}`, checks };
            }
            const metricAlarms = found.filter((a): a is MetricAlarm => 'EvaluationPeriods' in a || 'MetricName' in a);
            if (checks === 1 && !input.readMetrics) refuseShortWindow(input.windowMs, metricAlarms);
            if (input.readMetrics) {
              for (const alarm of metricAlarms) {
                const breach = await breachOf(target, alarm, started);
                if (breach) return { healthy: false, reason: breach, checks };
              }
            }
            if (alarming.length > 0) {
              const reasons = alarming.map((a) => `${a.AlarmName} is in ALARM (${a.StateReason ?? 'no reason given'})`);
              return { healthy: false, reason: reasons.join('; '), checks };
            }
          }
          // Users' requests that failed since the deploy: a bug the health check does not see still shows here.
          const counted = lb ? await requestCounts(lb, started) : undefined;
          if (counted && counted.failed > 0) {
            return {
              healthy: false,
              reason: `${counted.failed} of ${counted.requests} requests to target group ${lb!.targetGroupFullName} failed with a 5xx since the deploy (AWS/ApplicationELB HTTPCode_Target_5XX_Count)`,
              checks,
              requests: counted.requests,
              failedRequests: counted.failed,
            };
          }
          if (input.healthCheckUrl) {
            lastHttpProblem = await probe(input.healthCheckUrl);
            httpFailures = lastHttpProblem === undefined ? 0 : httpFailures + 1;
            if (httpFailures >= HTTP_FAILURES_IN_A_ROW) {
              return { healthy: false, reason: `${shown(input.healthCheckUrl)} failed ${httpFailures} checks in a row: ${lastHttpProblem}`, checks };
            }
          }
          heartbeat({ tenantId: input.tenantId, checks, httpFailures });
          if (Date.now() + interval > deadline) {
            // A window that ends on a failed probe has not shown the tenant healthy.
            const counts = counted ? { requests: counted.requests, failedRequests: counted.failed } : {};
            if (lastHttpProblem !== undefined) return { healthy: false, reason: `${shown(input.healthCheckUrl!)}: ${lastHttpProblem} at the end of the verify window`, checks, ...counts };
            return { healthy: true, checks, ...counts };
          }
          const context = activityContext();
          if (context) await context.sleep(interval);
          else await new Promise((resolve) => setTimeout(resolve, interval));
        }
      });
    },
  };
}

export type HealthActivities = ReturnType<typeof createHealthActivities>;

/** Reasons end up in workflow history: origin and path only, never user info or a query that may carry a token. */
function shown(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '(the health check URL)';
  }
}

const BREACHES: Record<string, (value: number, threshold: number) => boolean> = {
  GreaterThanThreshold: (v, t) => v > t,
  GreaterThanOrEqualToThreshold: (v, t) => v >= t,
  LessThanThreshold: (v, t) => v < t,
  LessThanOrEqualToThreshold: (v, t) => v <= t,
};

/** An alarm cannot fire sooner than its evaluation time: a shorter window that only watches its state proves nothing. */
function refuseShortWindow(windowMs: number, alarms: MetricAlarm[]): void {
  const slow = alarms
    .map((a) => ({ alarm: a, ms: (a.Period ?? 0) * (a.EvaluationPeriods ?? 1) * 1000 }))
    .filter(({ ms }) => ms > windowMs)
    .sort((a, b) => b.ms - a.ms)[0];
  if (!slow) return;
  throw permanentFailure(
    ErrorType.InvalidInput,
    `verify window ${windowMs / 1000} s is shorter than the evaluation time of alarm ${slow.alarm.AlarmName}, ${slow.ms / 1000} s (period ${slow.alarm.Period} s × ${slow.alarm.EvaluationPeriods} evaluation periods): it could not fire within the window. Lengthen the release plan's verifyWindow, or set its verification: metrics`,
  );
}
