import { DescribeStackResourcesCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeServicesCommand, DescribeTasksCommand, ListServicesCommand, ListTasksCommand } from '@aws-sdk/client-ecs';
import { createAcmActivities } from '../activities/acm';
import type { AwsClients } from '../activities/aws/clients';
import { asActivityFailure, withAwsFailures } from '../activities/aws/errors';
import { createElbv2Activities } from '../activities/elbv2';
import { otherServiceName, serviceName, type EcsRuntime } from '../activities/runtime/ecs';
import type { WorkloadObjectStatus } from '../activities/runtime/types';
import { nameCovers } from '../shared/certificates/hostnames';
import { stackNameFor } from '../shared/ids';
import type { AwsTarget, TenantSpec } from '../shared/tenant-spec';
import { trafficStackNameFor } from '../workflows/tenant-footprint';
import { consoleLinks } from './console-links';

/*
 * `tenantctl tenant resources`: what a tenant consists of, read (never changed) as the workers'
 * identity through each account's fleet access role, so nobody switches accounts to look.
 */

export interface StackResources {
  stackName: string;
  accountId: string;
  region: string;
  /** Undefined when the stack does not exist. */
  status?: string;
  link?: string;
  resources: { logicalId: string; type: string; physicalId?: string; status: string; reason?: string; link?: string }[];
}

export interface RuntimeObject extends WorkloadObjectStatus {
  link?: string;
}

export interface RuntimeResources {
  kind: 'ecs' | 'kubernetes';
  cluster: string;
  accountId?: string;
  region?: string;
  namespace?: string;
  objects: RuntimeObject[];
  /** Set when the runtime could not be read from here (a Kubernetes cluster this machine cannot reach). */
  skipped?: string;
}

export interface TenantCertificate {
  arn: string;
  names: string[];
  status: string;
  notAfter?: string;
  /** Which of the tenant's hostnames it serves. */
  covers: string[];
  /** On the load balancer's HTTPS listener. */
  attached: boolean;
  link: string;
}

export interface TenantResources {
  tenantId: string;
  stacks: StackResources[];
  runtime: RuntimeResources;
  certificates?: { group: string; accountId: string; region: string; items: TenantCertificate[]; uncovered: string[] };
}

/** Lists a Kubernetes tenant's objects, when the caller can reach its cluster. */
export type KubernetesLister = (tenant: TenantSpec) => Promise<RuntimeResources>;

export async function tenantResources({ aws, tenant, kubernetes }: { aws: AwsClients; tenant: TenantSpec; kubernetes?: KubernetesLister }): Promise<TenantResources> {
  const lb = tenant.loadBalancer;
  const [stacks, runtime, certificates] = await Promise.all([
    Promise.all([stackResources(aws, tenant.aws, stackNameFor(tenant.id)), ...(lb ? [stackResources(aws, lb.aws, trafficStackNameFor(tenant.id))] : [])]),
    tenant.runtime.kind === 'ecs'
      ? ecsResources(aws, tenant.runtime, tenant.id)
      : kubernetes
        ? kubernetes(tenant)
        : Promise.resolve<RuntimeResources>({ kind: 'kubernetes', cluster: tenant.runtime.cluster, objects: [], skipped: `Kubernetes cluster ${tenant.runtime.cluster} is not reachable from here` }),
    lb ? tenantCertificates(aws, tenant, lb) : Promise.resolve(undefined),
  ]);
  return { tenantId: tenant.id, stacks, runtime, ...(certificates ? { certificates } : {}) };
}

/** Reads through the product's error classification, so an AWS refusal gives the CLI its exit code. */
async function classified<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    throw asActivityFailure(error);
  }
}

async function stackResources(aws: AwsClients, target: AwsTarget, stackName: string): Promise<StackResources> {
  const cfn = aws.cloudFormation(target);
  const base = { stackName, accountId: target.accountId, region: target.region };
  const stack = await classified(async () => {
    try {
      return (await cfn.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
    } catch (error) {
      if ((error as Error).name === 'ValidationError' && /does not exist/.test((error as Error).message)) return undefined;
      throw error;
    }
  });
  if (!stack || stack.StackStatus === 'DELETE_COMPLETE') return { ...base, resources: [] };
  const { StackResources = [] } = await classified(() => cfn.send(new DescribeStackResourcesCommand({ StackName: stackName })));
  return {
    ...base,
    status: stack.StackStatus,
    ...(stack.StackId ? { link: consoleLinks.stack(target.region, stack.StackId) } : {}),
    resources: StackResources.map((r) => {
      const type = r.ResourceType ?? '?';
      const link = consoleLinks.resource(target.region, type, r.PhysicalResourceId);
      return {
        logicalId: r.LogicalResourceId ?? '?',
        type,
        ...(r.PhysicalResourceId ? { physicalId: r.PhysicalResourceId } : {}),
        status: r.ResourceStatus ?? '?',
        ...(r.ResourceStatusReason ? { reason: r.ResourceStatusReason } : {}),
        ...(link ? { link } : {}),
      };
    }),
  };
}

async function ecsResources(aws: AwsClients, runtime: EcsRuntime, tenantId: string): Promise<RuntimeResources> {
  const base = { kind: 'ecs' as const, cluster: runtime.clusterName, accountId: runtime.aws.accountId, region: runtime.aws.region };
  // The primary, then each of the tenant's other services (docs/services.md, "ECS"), found by listing: declared or not.
  const others: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await classified(() => aws.ecs(runtime.aws).send(new ListServicesCommand({ cluster: runtime.clusterName, maxResults: 100, nextToken })));
    others.push(...(page.serviceArns ?? []).map((arn) => arn.split('/').pop() ?? '').filter((name) => name.startsWith(`${otherServiceName(tenantId, '')}`)));
    nextToken = page.nextToken;
  } while (nextToken);
  const objects: RuntimeObject[] = [];
  for (const name of [serviceName(tenantId), ...others.sort()]) objects.push(...(await ecsServiceObjects(aws, runtime, name)));
  return { ...base, objects };
}

/** One ECS service as `tenantctl tenant resources` lists it: the service, its deployments and its tasks. */
async function ecsServiceObjects(aws: AwsClients, runtime: EcsRuntime, serviceName: string): Promise<RuntimeObject[]> {
  const ecs = aws.ecs(runtime.aws);
  const { region } = runtime.aws;
  const service = (await classified(() => ecs.send(new DescribeServicesCommand({ cluster: runtime.clusterName, services: [serviceName] })))).services?.find((s) => s.status !== 'INACTIVE');
  if (!service) return [];
  const objects: RuntimeObject[] = [
    {
      kind: 'service',
      name: serviceName,
      status: `${service.status?.toLowerCase() ?? '?'}: ${service.runningCount ?? 0}/${service.desiredCount ?? 0} running${service.pendingCount ? `, ${service.pendingCount} pending` : ''}`,
      ...(service.taskDefinition ? { detail: service.taskDefinition.split('/').pop() } : {}),
      link: consoleLinks.ecsService(region, runtime.clusterName, serviceName),
    },
    ...(service.deployments ?? []).map((d) => ({
      kind: 'deployment',
      name: d.id ?? '?',
      status: `${d.status?.toLowerCase() ?? '?'}, rollout ${d.rolloutState?.toLowerCase() ?? '?'}: ${d.runningCount ?? 0}/${d.desiredCount ?? 0} running${d.failedTasks ? `, ${d.failedTasks} failed` : ''}`,
      ...(d.taskDefinition ? { detail: d.taskDefinition.split('/').pop() } : {}),
    })),
  ];
  const { taskArns = [] } = await classified(() => ecs.send(new ListTasksCommand({ cluster: runtime.clusterName, serviceName })));
  if (taskArns.length > 0) {
    const { tasks = [] } = await classified(() => ecs.send(new DescribeTasksCommand({ cluster: runtime.clusterName, tasks: taskArns.slice(0, 100) })));
    for (const task of tasks) {
      const id = task.taskArn?.split('/').pop() ?? '?';
      objects.push({
        kind: 'task',
        name: id,
        status: [task.lastStatus?.toLowerCase(), task.healthStatus && task.healthStatus !== 'UNKNOWN' ? task.healthStatus.toLowerCase() : undefined].filter(Boolean).join(', ') || '?',
        ...(task.taskDefinitionArn ? { detail: task.taskDefinitionArn.split('/').pop() } : {}),
        link: consoleLinks.ecsTask(region, runtime.clusterName, id),
      });
    }
  }
  return objects;
}

/**
 * The certificates of the tenant's load balancer group (the product's own listing: ACM, by the
 * group tag) that serve any of its hostnames, and whether each is on the listener.
 */
async function tenantCertificates(aws: AwsClients, tenant: TenantSpec, lb: NonNullable<TenantSpec['loadBalancer']>): Promise<NonNullable<TenantResources['certificates']>> {
  const acm = withAwsFailures(createAcmActivities({ aws }));
  const elbv2 = withAwsFailures(createElbv2Activities({ aws }));
  const [certificates, listener] = await Promise.all([acm.listGroupCertificates({ target: lb.aws, group: lb.name }), elbv2.listListenerCertificates({ target: lb.aws, listenerArn: lb.listenerArn })]);
  const onListener = new Set([...listener.attached, ...(listener.defaultArn ? [listener.defaultArn] : [])]);
  const items = certificates
    .map((c) => ({ c, covers: tenant.hostnames.filter((h) => c.names.some((n) => nameCovers(n, h))) }))
    .filter(({ covers }) => covers.length > 0)
    .map(({ c, covers }) => ({
      arn: c.arn,
      names: c.names,
      status: c.status,
      ...(c.notAfter ? { notAfter: c.notAfter } : {}),
      covers,
      attached: onListener.has(c.arn),
      link: consoleLinks.certificate(lb.aws.region, c.arn),
    }));
  const served = new Set(items.filter((i) => i.status === 'ISSUED' && i.attached).flatMap((i) => i.covers));
  return { group: lb.name, accountId: lb.aws.accountId, region: lb.aws.region, items, uncovered: tenant.hostnames.filter((h) => !served.has(h)) };
}
