import { GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeSubnetsCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateRuleCommand,
  CreateTargetGroupCommand,
  DeregisterTargetsCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ModifyRuleCommand,
  ModifyTargetGroupAttributesCommand,
  ModifyTargetGroupCommand,
  RegisterTargetsCommand,
  type Action,
  type ElasticLoadBalancingV2Client,
  type LoadBalancer,
  type RuleCondition,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { ChangeResourceRecordSetsCommand, ListHostedZonesByNameCommand } from '@aws-sdk/client-route-53';
import { sandboxAdminClients, type SandboxAdminClients } from '../sandbox/admin-clients';
import { PLATFORM_ACCOUNT_ID, SANDBOX_REGION } from '../sandbox/aws-baseline';
import { adminTarget } from '../sandbox/data-plane/elb-config';
import { loadBalancerDimension, targetGroupDimension } from '../sandbox/data-plane/elb-metrics';
import { probeTable, startProber } from '../sandbox/data-plane/prober';
import { getThrough, readLoadBalancers, resolveTenantEndpoint } from '../sandbox/data-plane/resolve';
import { startTenantApp, type RunningTenantApp } from '../sandbox/data-plane/tenant-app';
import { sandboxEnv, TEST_SANDBOX_DIR } from './sandbox-env';
import { until as untilWithin } from './until';

/**
 * The sandbox's load balancer emulator on its own, against AWS's documented ALB behaviour: load
 * balancers, target groups, rules and targets are made in moto directly (no product code), and
 * what the tests see comes through the emulator's listeners and moto's DescribeTargetHealth.
 */

// Scaled durations: the emulator multiplies AWS's seconds by the sandbox time scale (floors: 500 ms interval, 5 s delay).
const SCALE = Number(process.env.TENANT_FLEET_SANDBOX_TIME_SCALE ?? 0.002);
const awsSeconds = (ms: number) => String(Math.min(3600, Math.max(0, Math.round(ms / 1000 / SCALE))));
const INTERVAL_FLOOR_MS = 500;

let clients: SandboxAdminClients;
let elb: ElasticLoadBalancingV2Client;
let lb: LoadBalancer;
let listenerArn: string;
let localUrl: string;
let vpcId: string;
const apps: RunningTenantApp[] = [];

async function app(version: string): Promise<RunningTenantApp> {
  const started = await startTenantApp({ tenantId: `t-${version}`, service: 'web', version, hostnames: [], healthPath: '/healthz' });
  apps.push(started);
  return started;
}

/** One request through the listener under test, as a user's with this Host. */
const get = (host: string, path = '/', headers: Record<string, string> = {}) => getThrough(localUrl, host, { path, headers });

/** The emulator reacts within seconds: polled every 100 ms, for 20 s at the most. */
const until = <T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 20_000) => untilWithin(what, read, ok, timeoutMs, 100);

/** Until the emulator has applied every ELBv2 write made so far (patches/elbv2_target_health.py's counter). */
async function emulatorCaughtUp(): Promise<void> {
  const counter = async () => (await (await fetch(`${sandboxEnv().AWS_ENDPOINT_URL}/_sandbox/elbv2/generation`)).json()) as { generation: number; pushed: number };
  const { generation } = await counter();
  await until('the emulator to catch up with moto', counter, (c) => c.pushed >= generation);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function targetGroup(name: string, options: { healthy?: number; unhealthy?: number; delayMs?: number } = {}): Promise<string> {
  const arn = (
    await elb.send(
      new CreateTargetGroupCommand({
        Name: name,
        Protocol: 'HTTP',
        Port: 80,
        VpcId: vpcId,
        TargetType: 'ip',
        HealthCheckPath: '/healthz',
        HealthCheckIntervalSeconds: 5,
        HealthCheckTimeoutSeconds: 2,
        HealthyThresholdCount: options.healthy ?? 3,
        UnhealthyThresholdCount: options.unhealthy ?? 2,
        Matcher: { HttpCode: '200' },
      }),
    )
  ).TargetGroups![0]!.TargetGroupArn!;
  await elb.send(new ModifyTargetGroupAttributesCommand({ TargetGroupArn: arn, Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: awsSeconds(options.delayMs ?? 2000) }] }));
  return arn;
}

async function rule(priority: number, conditions: RuleCondition[], action: Action): Promise<void> {
  await elb.send(new CreateRuleCommand({ ListenerArn: listenerArn, Priority: priority, Conditions: conditions, Actions: [action] }));
}
const host = (...values: string[]): RuleCondition => ({ Field: 'host-header', HostHeaderConfig: { Values: values } });
const forward = (arn: string): Action => ({ Type: 'forward', TargetGroupArn: arn });

async function register(tgArn: string, ...targets: RunningTenantApp[]): Promise<void> {
  await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tgArn, Targets: targets.map((t) => ({ Id: '127.0.0.1', Port: t.port })) }));
}

async function health(tgArn: string): Promise<Record<number, string>> {
  const { TargetHealthDescriptions } = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tgArn }));
  return Object.fromEntries((TargetHealthDescriptions ?? []).map((d) => [d.Target!.Port!, d.TargetHealth!.State!]));
}

const allHealthy = (tgArn: string, ...targets: RunningTenantApp[]) => until(`healthy targets in ${tgArn}`, () => health(tgArn), (h) => targets.every((t) => h[t.port] === 'healthy'));

async function versions(hostname: string, count: number, path = '/'): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    const answer = await get(hostname, path);
    const key = answer.version ?? String(answer.status);
    seen[key] = (seen[key] ?? 0) + 1;
  }
  return seen;
}

beforeAll(async () => {
  clients = sandboxAdminClients(sandboxEnv());
  const target = adminTarget(PLATFORM_ACCOUNT_ID, SANDBOX_REGION);
  elb = clients.elbv2(target);
  const ec2 = new EC2Client({ region: SANDBOX_REGION, endpoint: sandboxEnv().AWS_ENDPOINT_URL, credentials: clients.credentialsFor(target) });
  const subnets = ((await ec2.send(new DescribeSubnetsCommand({}))).Subnets ?? []).filter((s) => s.CidrBlock?.startsWith('10.0.'));
  ec2.destroy();
  vpcId = subnets[0]!.VpcId!;
  lb = (await elb.send(new CreateLoadBalancerCommand({ Name: 'lbtest', Subnets: subnets.map((s) => s.SubnetId!), Type: 'application' }))).LoadBalancers![0]!;
  listenerArn = (
    await elb.send(
      new CreateListenerCommand({
        LoadBalancerArn: lb.LoadBalancerArn,
        Protocol: 'HTTP',
        Port: 80,
        DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '404', ContentType: 'text/plain', MessageBody: 'no such tenant' } }],
      }),
    )
  ).Listeners![0]!.ListenerArn!;
  const served = await until(
    'the emulator to serve the new listener',
    () => Promise.resolve(readLoadBalancers(TEST_SANDBOX_DIR).find((entry) => entry.arn === lb.LoadBalancerArn)),
    (entry) => (entry?.listeners[0]?.localPort ?? 0) > 0,
  );
  localUrl = `http://127.0.0.1:${served!.listeners[0]!.localPort}`;
});

afterAll(async () => {
  await Promise.all(apps.map((a) => a.stop('SIGKILL')));
  clients?.destroy();
});

describe('the sandbox load balancer', () => {
  it('routes by rule priority (host, path, header), answers fixed responses and the default 404', async () => {
    const [a, b] = await Promise.all([app('a-1'), app('b-1')]);
    const tgA = await targetGroup('lbtest-a');
    const tgB = await targetGroup('lbtest-b');
    await register(tgA, a);
    await register(tgB, b);
    await rule(10, [host('a.lbtest.test', '*.wild.lbtest.test')], forward(tgA));
    await rule(5, [host('a.lbtest.test'), { Field: 'path-pattern', PathPatternConfig: { Values: ['/special/*'] } }], {
      Type: 'fixed-response',
      FixedResponseConfig: { StatusCode: '200', ContentType: 'text/plain', MessageBody: 'special' },
    });
    await rule(20, [{ Field: 'http-header', HttpHeaderConfig: { HttpHeaderName: 'X-Canary', Values: ['yes'] } }], forward(tgB));
    await allHealthy(tgA, a);
    await allHealthy(tgB, b);

    await expect(get('a.lbtest.test', '/')).resolves.toMatchObject({ status: 200, version: 'a-1' });
    await expect(get('x.wild.lbtest.test', '/')).resolves.toMatchObject({ status: 200, version: 'a-1' });
    await expect(get('a.lbtest.test', '/special/x')).resolves.toMatchObject({ status: 200, body: 'special' });
    await expect(get('a.lbtest.test', '/', { 'x-canary': 'yes' })).resolves.toMatchObject({ status: 200, version: 'a-1' });
    await expect(get('other.lbtest.test', '/', { 'x-canary': 'yes' })).resolves.toMatchObject({ status: 200, version: 'b-1' });
    await expect(get('other.lbtest.test', '/')).resolves.toMatchObject({ status: 404, body: 'no such tenant' });
    // The app sees the Host header the client sent.
    expect(JSON.parse((await get('a.lbtest.test', '/')).body)).toMatchObject({ host: 'a.lbtest.test' });
  });

  it('splits a weighted forward within tolerance', async () => {
    const [a, b] = await Promise.all([app('w-a'), app('w-b')]);
    const tgA = await targetGroup('lbtest-wa');
    const tgB = await targetGroup('lbtest-wb');
    await register(tgA, a);
    await register(tgB, b);
    await rule(30, [host('w.lbtest.test')], { Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: tgA, Weight: 80 }, { TargetGroupArn: tgB, Weight: 20 }] } });
    await allHealthy(tgA, a);
    await allHealthy(tgB, b);
    const seen = await versions('w.lbtest.test', 400);
    expect((seen['w-a'] ?? 0) + (seen['w-b'] ?? 0)).toBe(400);
    expect(Math.abs((seen['w-a'] ?? 0) / 400 - 0.8)).toBeLessThan(0.07);
  });

  it('sends nothing to initial or unhealthy targets while one is healthy, fails open when all are unhealthy, and needs the healthy threshold to come back', async () => {
    const good = await app('h-good');
    const dead = await app('h-dead-broken'); // exits at once: its port refuses connections
    await dead.exited;
    const tgH = await targetGroup('lbtest-h', { healthy: 3, unhealthy: 2 });
    await register(tgH, good, dead);
    await rule(40, [host('h.lbtest.test')], forward(tgH));
    // A new target is `initial` until its first check; one failing is `unhealthy` after the unhealthy threshold.
    await until('the dead target unhealthy, the good one healthy', () => health(tgH), (h) => h[good.port] === 'healthy' && h[dead.port] === 'unhealthy');
    expect(await versions('h.lbtest.test', 20)).toEqual({ 'h-good': 20 });

    // Only initial targets: no fail-open for them (the threshold of 10 keeps it initial for 10 checks).
    const tgI = await targetGroup('lbtest-i', { unhealthy: 10 });
    await register(tgI, dead);
    await rule(41, [host('i.lbtest.test')], forward(tgI));
    await until('the emulator to see the initial target', () => get('i.lbtest.test'), (answer) => answer.status === 503);
    expect((await health(tgI))[dead.port]).toBe('initial');

    // Every target unhealthy: ALB routes to all of them.
    await elb.send(new ModifyTargetGroupCommand({ TargetGroupArn: tgH, Matcher: { HttpCode: '201' } }));
    await until('both targets unhealthy', () => health(tgH), (h) => h[good.port] === 'unhealthy' && h[dead.port] === 'unhealthy');
    const failOpen = await versions('h.lbtest.test', 20);
    expect(failOpen['h-good']).toBeGreaterThan(0);
    expect(failOpen['502']).toBeGreaterThan(0);

    // Back to healthy only after HealthyThresholdCount (3) consecutive passes, an interval apart.
    const fixed = Date.now();
    await elb.send(new ModifyTargetGroupCommand({ TargetGroupArn: tgH, Matcher: { HttpCode: '200' } }));
    await allHealthy(tgH, good);
    expect(Date.now() - fixed).toBeGreaterThanOrEqual(2 * INTERVAL_FLOOR_MS - 100);
  });

  it('a draining target gets no new requests, finishes the ones in flight, and is gone as soon as none is left', async () => {
    const [d1, d2] = await Promise.all([app('d-1'), app('d-2')]);
    const tgD = await targetGroup('lbtest-d', { delayMs: 3000 });
    await register(tgD, d1, d2);
    await rule(50, [host('d.lbtest.test')], forward(tgD));
    await allHealthy(tgD, d1, d2);

    // Two slow requests: round robin puts one on each target.
    const slow = [get('d.lbtest.test', '/?delay=1500'), get('d.lbtest.test', '/?delay=1500')];
    await sleep(100);
    const deregistered = Date.now();
    await elb.send(new DeregisterTargetsCommand({ TargetGroupArn: tgD, Targets: [{ Id: '127.0.0.1', Port: d1.port }] }));
    expect((await health(tgD))[d1.port]).toBe('draining');
    await emulatorCaughtUp();
    expect(await versions('d.lbtest.test', 10)).toEqual({ 'd-2': 10 });
    const answers = await Promise.all(slow);
    expect(answers.map((a) => [a.status, a.version]).sort()).toEqual([
      [200, 'd-1'],
      [200, 'd-2'],
    ]);
    await until('the drained target gone', () => health(tgD), (h) => h[d1.port] === undefined);
    // Gone before the deregistration delay (3 s): nothing was left in flight.
    expect(Date.now() - deregistered).toBeLessThan(3000);
  });

  it('the deregistration delay cuts what is still in flight when it ends', async () => {
    const [e1, e2] = await Promise.all([app('e-1'), app('e-2')]);
    // 0.6 s once scaled, raised to the floor (5 s): requests are not scaled, so a shorter delay would cut what a busy machine is still answering.
    const tgE = await targetGroup('lbtest-e', { delayMs: 600 });
    await register(tgE, e1, e2);
    await rule(60, [host('e.lbtest.test')], forward(tgE));
    await allHealthy(tgE, e1, e2);
    const slow = [get('e.lbtest.test', '/?delay=8000'), get('e.lbtest.test', '/?delay=8000')];
    await sleep(100);
    await elb.send(new DeregisterTargetsCommand({ TargetGroupArn: tgE, Targets: [{ Id: '127.0.0.1', Port: e1.port }] }));
    const answers = await Promise.all(slow);
    const cut = answers.find((a) => a.status === 502);
    expect(cut?.ms).toBeGreaterThan(4500);
    expect(cut?.ms).toBeLessThan(7500);
    expect(answers.find((a) => a.status === 200)?.version).toBe('e-2');
  });

  it('resolves a tenant hostname through its Route53 alias to the listener the emulator serves', async () => {
    const route53 = clients.route53(adminTarget(PLATFORM_ACCOUNT_ID, SANDBOX_REGION));
    const zone = (await route53.send(new ListHostedZonesByNameCommand({ DNSName: 'tenants.test' }))).HostedZones!.find((z) => z.Name === 'tenants.test.')!;
    await route53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: zone.Id,
        ChangeBatch: {
          Changes: [
            {
              Action: 'UPSERT',
              ResourceRecordSet: { Name: 'lbtest.tenants.test', Type: 'A', AliasTarget: { DNSName: `dualstack.${lb.DNSName!}`, HostedZoneId: lb.CanonicalHostedZoneId, EvaluateTargetHealth: true } },
            },
          ],
        },
      }),
    );
    const endpoint = await resolveTenantEndpoint(TEST_SANDBOX_DIR, 'lbtest.tenants.test');
    expect(endpoint).toEqual({ hostname: 'lbtest.tenants.test', loadBalancerArn: lb.LoadBalancerArn, listenerPort: 80, url: localUrl });
    await expect(resolveTenantEndpoint(TEST_SANDBOX_DIR, 'nowhere.tenants.test')).rejects.toThrow(/no Route53 record/);
  });

  it('the prober counts requests, failures and latency per tenant and per phase', async () => {
    const p1 = await app('p-1');
    const tgP = await targetGroup('lbtest-p');
    await register(tgP, p1);
    // `unused` (Target.NotInUse) until a rule puts the group in use.
    await emulatorCaughtUp();
    expect((await health(tgP))[p1.port]).toBe('unused');
    const ruleArn = (
      await elb.send(new CreateRuleCommand({ ListenerArn: listenerArn, Priority: 70, Conditions: [host('lbtest.tenants.test')], Actions: [forward(tgP)] }))
    ).Rules![0]!.RuleArn!;
    await allHealthy(tgP, p1);
    // No targets given: it finds the hostname through its Route53 alias (made by the test above).
    const prober = await startProber({ stateDir: TEST_SANDBOX_DIR, ratePerSecond: 20, phase: 'healthy' });
    await sleep(1000);
    prober.phase('fixed 500');
    await elb.send(new ModifyRuleCommand({ RuleArn: ruleArn, Actions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '500' } }] }));
    await emulatorCaughtUp();
    await sleep(500);
    const { phases } = await prober.stop();
    const [healthy, broken] = phases.map((phase) => phase.tenants['lbtest.tenants.test']!);
    expect(healthy!.requests).toBeGreaterThan(5);
    expect(healthy!.failed).toBe(0);
    expect(healthy!.p99Ms).toBeGreaterThan(0);
    expect(broken!.failed).toBeGreaterThan(0);
    expect(broken!.byOutcome['500']).toBe(broken!.failed);
    expect(probeTable({ phases }, { perTenant: true })).toMatch(/^phase +tenant +requests +failed +p99\nhealthy +all +\d+ +0 +\d+ ms\n/);

    // A request that times out is one failure, not also the error its cancelling raises.
    await elb.send(new ModifyRuleCommand({ RuleArn: ruleArn, Actions: [forward(tgP)] }));
    await emulatorCaughtUp();
    const slow = await startProber({ stateDir: TEST_SANDBOX_DIR, targets: [{ hostname: 'lbtest.tenants.test' }], ratePerSecond: 5, path: '/?delay=2000', timeoutMs: 300 });
    await sleep(1000);
    const timedOut = (await slow.stop()).phases[0]!.tenants['lbtest.tenants.test']!;
    expect(timedOut.requests).toBeGreaterThan(2);
    expect(timedOut.byOutcome).toEqual({ timeout: timedOut.requests });
  });

  it('publishes its AWS/ApplicationELB metrics into CloudWatch', async () => {
    const cloudWatch = clients.cloudWatch(adminTarget(PLATFORM_ACCOUNT_ID, SANDBOX_REGION));
    const lbDimension = { Name: 'LoadBalancer', Value: loadBalancerDimension(lb.LoadBalancerArn!) };
    const sum = async (metric: string, dimensions = [lbDimension], statistic: 'Sum' | 'Maximum' = 'Sum') => {
      const { Datapoints } = await cloudWatch.send(
        new GetMetricStatisticsCommand({ Namespace: 'AWS/ApplicationELB', MetricName: metric, Dimensions: dimensions, StartTime: new Date(Date.now() - 600_000), EndTime: new Date(Date.now() + 60_000), Period: 60, Statistics: [statistic] }),
      );
      return (Datapoints ?? []).reduce((total, d) => total + (d[statistic] ?? 0), 0);
    };
    // Put every 5 s (one CloudWatch minute times the time scale, with a floor).
    await until('RequestCount in CloudWatch', () => sum('RequestCount'), (n) => n >= 400, 15_000);
    expect(await sum('HTTPCode_ELB_4XX_Count')).toBeGreaterThan(0); // the default 404
    expect(await sum('HTTPCode_ELB_5XX_Count')).toBeGreaterThan(0); // 502 (fail-open to a dead target), 503 (only initial targets)
    expect(await sum('HTTPCode_Target_2XX_Count')).toBeGreaterThanOrEqual(400);
    const tgArn = (await elb.send(new DescribeTargetGroupsCommand({ Names: ['lbtest-wa'] }))).TargetGroups![0]!.TargetGroupArn!;
    const tgDimensions = [lbDimension, { Name: 'TargetGroup', Value: targetGroupDimension(tgArn) }];
    expect(await sum('RequestCount', tgDimensions)).toBeGreaterThan(200);
    expect(await sum('HealthyHostCount', tgDimensions, 'Maximum')).toBe(1);
  });
});
