import {
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeRulesCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  type Action,
  type ElasticLoadBalancingV2Client,
  type Rule,
  type RuleCondition as SdkRuleCondition,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { AwsTarget } from '../../../src/shared/tenant-spec';
import { SandboxAdminClients } from '../admin-clients';
import { ORGANIZATION_ROLE_NAME } from '../aws-identities';
import { sortRules, type ListenerRule, type RuleAction, type RuleCondition } from './routing';

/** What the load balancer emulator serves, as read from moto's ELBv2 API. */
export interface ElbConfig {
  loadBalancers: LoadBalancerConfig[];
  targetGroups: Map<string, TargetGroupConfig>;
}

export interface LoadBalancerConfig {
  arn: string;
  name: string;
  dnsName: string;
  account: string;
  region: string;
  listeners: ListenerConfig[];
}

export interface ListenerConfig {
  arn: string;
  port: number;
  protocol: string;
  /** Sorted by priority, the default rule last. */
  rules: ListenerRule[];
}

export interface HealthCheckConfig {
  enabled: boolean;
  path: string;
  /** `traffic-port` or a port number. */
  port: string;
  intervalSeconds: number;
  timeoutSeconds: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  matcher: string;
}

export interface TargetGroupConfig {
  arn: string;
  name: string;
  account: string;
  region: string;
  loadBalancerArns: string[];
  healthCheck: HealthCheckConfig;
  deregistrationDelaySeconds: number;
  /** Registered targets, `id:port` keys. */
  targets: { id: string; port: number }[];
}

export const targetKey = (target: { id: string; port: number }) => `${target.id}:${target.port}`;

/** Admin access to each sandbox account, unthrottled: the emulator is not the product and must not queue behind it. */
export function adminClients(awsEndpoint: string, credentials: { accessKeyId: string; secretAccessKey: string }): SandboxAdminClients {
  return new SandboxAdminClients({ endpoint: awsEndpoint, baseCredentials: credentials, sessionName: 'sandbox-load-balancer', rates: {} });
}

export function adminTarget(accountId: string, region: string): AwsTarget {
  return { accountId, region, roleArn: `arn:aws:iam::${accountId}:role/${ORGANIZATION_ROLE_NAME}`, externalId: 'sandbox-admin' };
}

export async function readElbConfig(clients: SandboxAdminClients, accounts: readonly string[], region: string): Promise<ElbConfig> {
  const config: ElbConfig = { loadBalancers: [], targetGroups: new Map() };
  await Promise.all(
    accounts.map(async (account) => {
      const elb = clients.elbv2(adminTarget(account, region));
      const [loadBalancers, targetGroups] = await Promise.all([readLoadBalancers(elb, account, region), readTargetGroups(elb, account, region)]);
      config.loadBalancers.push(...loadBalancers);
      for (const group of targetGroups) config.targetGroups.set(group.arn, group);
    }),
  );
  config.loadBalancers.sort((a, b) => a.arn.localeCompare(b.arn));
  return config;
}

async function readLoadBalancers(elb: ElasticLoadBalancingV2Client, account: string, region: string): Promise<LoadBalancerConfig[]> {
  const result: LoadBalancerConfig[] = [];
  let marker: string | undefined;
  do {
    const page = await elb.send(new DescribeLoadBalancersCommand({ Marker: marker }));
    for (const lb of page.LoadBalancers ?? []) {
      if (lb.Type !== 'application' || !lb.LoadBalancerArn) continue;
      const listeners = (await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb.LoadBalancerArn }))).Listeners ?? [];
      result.push({
        arn: lb.LoadBalancerArn,
        name: lb.LoadBalancerName ?? '',
        dnsName: (lb.DNSName ?? '').toLowerCase(),
        account,
        region,
        listeners: await Promise.all(
          listeners.map(async (listener) => ({
            arn: listener.ListenerArn!,
            port: listener.Port ?? 0,
            protocol: listener.Protocol ?? 'HTTP',
            rules: sortRules(((await elb.send(new DescribeRulesCommand({ ListenerArn: listener.ListenerArn }))).Rules ?? []).map(toRule)),
          })),
        ),
      });
    }
    marker = page.NextMarker;
  } while (marker);
  return result;
}

async function readTargetGroups(elb: ElasticLoadBalancingV2Client, account: string, region: string): Promise<TargetGroupConfig[]> {
  const result: TargetGroupConfig[] = [];
  let marker: string | undefined;
  do {
    const page = await elb.send(new DescribeTargetGroupsCommand({ Marker: marker }));
    const groups = (page.TargetGroups ?? []).map(async (group): Promise<TargetGroupConfig> => {
      const arn = group.TargetGroupArn!;
      const [attributes, health] = await Promise.all([
        elb.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: arn })),
        elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn })),
      ]);
      const delay = attributes.Attributes?.find((a) => a.Key === 'deregistration_delay.timeout_seconds')?.Value;
      return {
        arn,
        name: group.TargetGroupName ?? '',
        account,
        region,
        loadBalancerArns: group.LoadBalancerArns ?? [],
        healthCheck: {
          enabled: group.HealthCheckEnabled ?? true,
          path: group.HealthCheckPath ?? '/',
          port: group.HealthCheckPort ?? 'traffic-port',
          intervalSeconds: group.HealthCheckIntervalSeconds ?? 30,
          timeoutSeconds: group.HealthCheckTimeoutSeconds ?? 5,
          healthyThreshold: group.HealthyThresholdCount ?? 5,
          unhealthyThreshold: group.UnhealthyThresholdCount ?? 2,
          matcher: group.Matcher?.HttpCode ?? '200',
        },
        deregistrationDelaySeconds: delay === undefined ? 300 : Number(delay),
        // Draining targets are listed too (by the moto patch, from the emulator's own reports): they are not registered.
        targets: (health.TargetHealthDescriptions ?? [])
          .filter((d) => d.TargetHealth?.State !== 'draining' && d.Target?.Id)
          .map((d) => ({ id: d.Target!.Id!, port: d.Target!.Port ?? group.Port ?? 80 })),
      };
    });
    result.push(...(await Promise.all(groups)));
    marker = page.NextMarker;
  } while (marker);
  return result;
}

function toRule(rule: Rule): ListenerRule {
  return {
    arn: rule.RuleArn ?? '',
    priority: rule.IsDefault || rule.Priority === 'default' ? Number.POSITIVE_INFINITY : Number(rule.Priority),
    conditions: (rule.Conditions ?? []).map(toCondition),
    action: toAction(rule.Actions ?? []),
  };
}

function toCondition(condition: SdkRuleCondition): RuleCondition {
  const field = condition.Field ?? '';
  const configured =
    condition.HostHeaderConfig?.Values ??
    condition.PathPatternConfig?.Values ??
    condition.HttpHeaderConfig?.Values ??
    condition.HttpRequestMethodConfig?.Values ??
    condition.SourceIpConfig?.Values;
  return {
    field,
    values: configured ?? condition.Values ?? [],
    headerName: condition.HttpHeaderConfig?.HttpHeaderName,
    queryPairs: condition.QueryStringConfig?.Values?.map((v) => ({ key: v.Key, value: v.Value ?? '' })),
  };
}

/** The rule's terminal action (the last by Order): authentication actions cannot run in the sandbox. */
function toAction(actions: Action[]): RuleAction {
  const terminal = [...actions].sort((a, b) => (a.Order ?? 0) - (b.Order ?? 0)).at(-1);
  switch (terminal?.Type) {
    case 'forward': {
      const groups = terminal.ForwardConfig?.TargetGroups?.map((g) => ({ arn: g.TargetGroupArn!, weight: g.Weight ?? 1 }));
      return { type: 'forward', targetGroups: groups && groups.length > 0 ? groups : [{ arn: terminal.TargetGroupArn!, weight: 1 }] };
    }
    case 'fixed-response':
      return {
        type: 'fixed-response',
        statusCode: Number(terminal.FixedResponseConfig?.StatusCode ?? 503),
        contentType: terminal.FixedResponseConfig?.ContentType,
        body: terminal.FixedResponseConfig?.MessageBody,
      };
    case 'redirect': {
      const r = terminal.RedirectConfig;
      return { type: 'redirect', statusCode: r?.StatusCode === 'HTTP_302' ? 302 : 301, protocol: r?.Protocol, host: r?.Host, port: r?.Port, path: r?.Path, query: r?.Query };
    }
    default:
      return { type: 'fixed-response', statusCode: 503, body: `the sandbox load balancer cannot run a ${terminal?.Type ?? 'missing'} action` };
  }
}
