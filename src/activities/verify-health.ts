import { DescribeAlarmsCommand, type CompositeAlarm, type MetricAlarm } from '@aws-sdk/client-cloudwatch';

type Alarm = MetricAlarm | CompositeAlarm;
import type { AwsTarget } from '../shared/tenant-spec';
import type { AwsClients } from './aws/clients';
import { abortSignal, activityContext, heartbeat } from './poll';

export interface VerifyInput {
  tenantId: string;
  target: AwsTarget;
  /** Alarms that must not be in ALARM at any check during the window. */
  alarmNames: string[];
  /** Polled during the window; it must answer 2xx, and this many failures in a row fail the tenant. */
  healthCheckUrl?: string;
  windowMs: number;
  intervalMs?: number;
}

export interface VerifyResult {
  healthy: boolean;
  reason?: string;
  checks: number;
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
  const readAlarms = async (target: AwsTarget, names: string[]): Promise<{ alarming: Alarm[]; missing: string[] }> => {
    const found: Alarm[] = [];
    for (let i = 0; i < names.length; i += 100) {
      const { MetricAlarms = [], CompositeAlarms = [] } = await aws
        .cloudWatch(target)
        .send(new DescribeAlarmsCommand({ AlarmNames: names.slice(i, i + 100), AlarmTypes: ['MetricAlarm', 'CompositeAlarm'] }));
      found.push(...MetricAlarms, ...CompositeAlarms);
    }
    const seen = new Set(found.map((a) => a.AlarmName));
    return { alarming: found.filter((a) => a.StateValue === 'ALARM'), missing: names.filter((n) => !seen.has(n)) };
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
      // Alarms change state at most once a period (a minute, usually): a long window needs no 2-second checks.
      const interval = input.intervalMs ?? Math.min(30_000, Math.max(2_000, Math.round(input.windowMs / 10)));
      const deadline = Date.now() + input.windowMs;
      let httpFailures = 0;
      let lastHttpProblem: string | undefined;
      for (let checks = 1; ; checks++) {
        const { alarming, missing } = await readAlarms(input.target, input.alarmNames);
        if (missing.length > 0) {
          const where = `account ${input.target.accountId} ${input.target.region}`;
          return { healthy: false, reason: `expected existing CloudWatch alarms, found none named ${missing.join(', ')} in ${where}`, checks };
        }
        if (alarming.length > 0) {
          const reasons = alarming.map((a) => `${a.AlarmName} is in ALARM (${a.StateReason ?? 'no reason given'})`);
          return { healthy: false, reason: reasons.join('; '), checks };
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
          if (lastHttpProblem !== undefined) return { healthy: false, reason: `${shown(input.healthCheckUrl!)}: ${lastHttpProblem} at the end of the verify window`, checks };
          return { healthy: true, checks };
        }
        const context = activityContext();
        if (context) await context.sleep(interval);
        else await new Promise((resolve) => setTimeout(resolve, interval));
      }
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
