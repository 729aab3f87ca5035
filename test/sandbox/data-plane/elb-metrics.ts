import { PutMetricDataCommand, type MetricDatum } from '@aws-sdk/client-cloudwatch';
import type { SandboxAdminClients } from '../admin-clients';
import { adminTarget } from './elb-config';

/**
 * The load balancer's own CloudWatch metrics (namespace AWS/ApplicationELB,
 * https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html),
 * counted per load balancer and per (load balancer, target group) and put into moto's CloudWatch,
 * in the load balancer's account, once per period.
 */

type Counter =
  | 'RequestCount'
  | 'HTTPCode_Target_2XX_Count'
  | 'HTTPCode_Target_3XX_Count'
  | 'HTTPCode_Target_4XX_Count'
  | 'HTTPCode_Target_5XX_Count'
  | 'HTTPCode_ELB_3XX_Count'
  | 'HTTPCode_ELB_4XX_Count'
  | 'HTTPCode_ELB_5XX_Count';

interface Bucket {
  counts: Map<Counter, number>;
  responseTimes: number[];
}

/** `app/<name>/<id>` and `targetgroup/<name>/<id>`: the dimension values AWS uses. */
export const loadBalancerDimension = (arn: string) => arn.slice(arn.indexOf(':loadbalancer/') + ':loadbalancer/'.length);
export const targetGroupDimension = (arn: string) => arn.slice(arn.lastIndexOf(':') + 1);

export class ElbMetrics {
  private buckets = new Map<string, Bucket>();

  private bucket(lbArn: string, tgArn?: string): Bucket {
    const key = `${lbArn}|${tgArn ?? ''}`;
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, (bucket = { counts: new Map(), responseTimes: [] }));
    return bucket;
  }

  private add(lbArn: string, tgArn: string | undefined, counter: Counter): void {
    for (const bucket of tgArn ? [this.bucket(lbArn), this.bucket(lbArn, tgArn)] : [this.bucket(lbArn)]) {
      bucket.counts.set(counter, (bucket.counts.get(counter) ?? 0) + 1);
    }
  }

  request(lbArn: string, tgArn?: string): void {
    this.add(lbArn, tgArn, 'RequestCount');
  }

  targetResponse(lbArn: string, tgArn: string, status: number, seconds: number): void {
    const klass = Math.floor(status / 100);
    if (klass >= 2 && klass <= 5) this.add(lbArn, tgArn, `HTTPCode_Target_${klass}XX_Count` as Counter);
    this.bucket(lbArn).responseTimes.push(seconds);
    this.bucket(lbArn, tgArn).responseTimes.push(seconds);
  }

  /** A response the load balancer made itself (fixed response, redirect, 502/503/504). */
  elbResponse(lbArn: string, status: number): void {
    const klass = Math.floor(status / 100);
    if (klass >= 3 && klass <= 5) this.add(lbArn, undefined, `HTTPCode_ELB_${klass}XX_Count` as Counter);
  }

  /**
   * Everything counted since the last call, plus the host counts per (load balancer, target group),
   * as MetricData per account.
   */
  drain(hostCounts: { lbArn: string; tgArn: string; healthy: number; unhealthy: number }[], accountOf: (arn: string) => string, now = new Date()): Map<string, MetricDatum[]> {
    const byAccount = new Map<string, MetricDatum[]>();
    const push = (arn: string, datum: MetricDatum) => {
      const account = accountOf(arn);
      byAccount.set(account, [...(byAccount.get(account) ?? []), { ...datum, Timestamp: now }]);
    };
    const dimensions = (lbArn: string, tgArn: string | undefined) => [
      { Name: 'LoadBalancer', Value: loadBalancerDimension(lbArn) },
      ...(tgArn ? [{ Name: 'TargetGroup', Value: targetGroupDimension(tgArn) }] : []),
    ];
    for (const [key, bucket] of this.buckets) {
      const [lbArn, tgArn] = key.split('|') as [string, string];
      const dims = dimensions(lbArn, tgArn || undefined);
      for (const [name, value] of bucket.counts) push(lbArn, { MetricName: name, Dimensions: dims, Unit: 'Count', Value: value });
      if (bucket.responseTimes.length > 0) {
        const times = bucket.responseTimes;
        push(lbArn, {
          MetricName: 'TargetResponseTime',
          Dimensions: dims,
          Unit: 'Seconds',
          StatisticValues: { SampleCount: times.length, Sum: times.reduce((a, b) => a + b, 0), Minimum: times.reduce((a, b) => Math.min(a, b)), Maximum: times.reduce((a, b) => Math.max(a, b)) },
        });
      }
    }
    this.buckets.clear();
    for (const { lbArn, tgArn, healthy, unhealthy } of hostCounts) {
      push(lbArn, { MetricName: 'HealthyHostCount', Dimensions: dimensions(lbArn, tgArn), Unit: 'Count', Value: healthy });
      push(lbArn, { MetricName: 'UnHealthyHostCount', Dimensions: dimensions(lbArn, tgArn), Unit: 'Count', Value: unhealthy });
    }
    return byAccount;
  }
}

export async function putMetrics(clients: SandboxAdminClients, region: string, byAccount: Map<string, MetricDatum[]>): Promise<void> {
  await Promise.all(
    [...byAccount].map(async ([account, data]) => {
      const cloudWatch = clients.cloudWatch(adminTarget(account, region));
      for (let i = 0; i < data.length; i += 500) {
        await cloudWatch.send(new PutMetricDataCommand({ Namespace: 'AWS/ApplicationELB', MetricData: data.slice(i, i + 500) }));
      }
    }),
  );
}
