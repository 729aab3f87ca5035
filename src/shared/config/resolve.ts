import { ErrorType } from '../errors';
import type { AwsTarget, TenantSpec } from '../tenant-spec';
import { workloadNetworkOf } from './reachability';
import { resolveServices, type SecretScope } from './services';
import type { Account, FleetConfig } from './schema';

/** Thrown for requests about tenants the fleet config does not know. */
export class UnknownTenantError extends Error {
  readonly type = ErrorType.UnknownTenant;
  constructor(tenantId: string, known: string[]) {
    super(`unknown tenant "${tenantId}"; the fleet config has: ${known.join(', ') || '(no tenants)'}`);
    this.name = 'UnknownTenantError';
  }
}

export function awsTargetFor(account: Account, region: string): AwsTarget {
  return { accountId: account.accountId, roleArn: account.roleArn, externalId: account.externalId, region, stackRoleArn: account.stackRoleArn };
}

/**
 * Where a tenant's service secrets live (docs/services.md "Secrets"): on ECS the agent reads them with
 * the task execution role, which the traffic stack makes in the cluster's account and region and may
 * read only its own account's and region's (ECS reads no SSM parameter of another account); on
 * Kubernetes the app reads them with its own role, in the tenant's account and region.
 */
export function secretScope(tenantId: string, runtime: TenantSpec['runtime'], tenantAws: AwsTarget): SecretScope {
  const where = runtime.kind === 'ecs' ? runtime.aws : tenantAws;
  return { tenantId, accountId: where.accountId, region: where.region };
}

/** Resolves a tenant's references (account, cluster, load balancer) into a self-contained spec. */
export function resolveTenantSpec(config: FleetConfig, tenantId: string): TenantSpec {
  const tenant = config.tenants.find((t) => t.id === tenantId);
  if (!tenant) throw new UnknownTenantError(tenantId, config.tenants.map((t) => t.id));
  // The schema's cross-reference checks guarantee these lookups succeed for a parsed config.
  const account = must(config.accounts.find((a) => a.name === tenant.account), `account ${tenant.account}`);
  const environment = must(config.environments.find((e) => e.name === tenant.environment), `environment ${tenant.environment}`);
  const network = account.network[tenant.region];
  if (!network) {
    throw new Error(`account "${account.name}" has no network for region ${tenant.region}: add accounts[].network.${tenant.region} to the fleet config`);
  }

  let runtime: TenantSpec['runtime'];
  if (tenant.runtime === 'ecs') {
    const cluster = must(config.ecsClusters.find((c) => c.name === tenant.cluster), `ECS cluster ${tenant.cluster}`);
    const clusterAccount = must(config.accounts.find((a) => a.name === cluster.account), `account ${cluster.account}`);
    runtime = {
      kind: 'ecs',
      cluster: cluster.name,
      clusterName: cluster.clusterName,
      aws: awsTargetFor(clusterAccount, cluster.region),
      subnetIds: cluster.subnetIds,
      securityGroupIds: cluster.securityGroupIds,
    };
  } else {
    const cluster = must(config.kubernetesClusters.find((c) => c.name === tenant.cluster), `Kubernetes cluster ${tenant.cluster}`);
    runtime = {
      kind: 'kubernetes',
      cluster: cluster.name,
      taskQueue: cluster.taskQueue ?? kubernetesTaskQueue(cluster.name),
      oidcIssuer: cluster.oidcIssuer,
      ...(cluster.securityGroupsForPods ? { podSecurityGroupIds: cluster.securityGroupsForPods.securityGroupIds } : {}),
    };
  }

  let loadBalancer: TenantSpec['loadBalancer'];
  if (tenant.loadBalancer !== undefined) {
    const lb = must(config.loadBalancers.find((l) => l.name === tenant.loadBalancer), `load balancer ${tenant.loadBalancer}`);
    const lbAccount = must(config.accounts.find((a) => a.name === lb.account), `account ${lb.account}`);
    const vpcId = lbAccount.network[lb.region]?.vpcId;
    loadBalancer = {
      name: lb.name,
      listenerArn: lb.listenerArn,
      ...(lb.testListenerArn ? { testListenerArn: lb.testListenerArn } : {}),
      dnsName: lb.dnsName,
      aws: awsTargetFor(lbAccount, lb.region),
      ...(vpcId ? { vpcId } : {}),
    };
  }

  const services = resolveServices(
    environment.services,
    tenant.services,
    { image: tenant.image, replicas: tenant.replicas, cpu: tenant.service.cpu, memory: tenant.service.memory },
    secretScope(tenant.id, runtime, awsTargetFor(account, tenant.region)),
  );

  // Only a tenant with a traffic stack gets a workload group: the stack makes it.
  const workloadVpcId = loadBalancer ? workloadNetworkOf(config, tenant)?.vpcId : undefined;

  return {
    id: tenant.id,
    environment: tenant.environment,
    production: environment.production,
    tier: tenant.tier,
    aws: awsTargetFor(account, tenant.region),
    network: { vpcId: network.vpcId, subnetIds: network.subnetIds },
    hostedZoneId: account.hostedZoneId,
    runtime,
    hostnames: tenant.hostnames,
    database: tenant.database,
    image: tenant.image,
    replicas: tenant.replicas,
    loadBalancer,
    ...(workloadVpcId ? { workloadVpcId } : {}),
    service: tenant.service,
    ...(services ? { services } : {}),
    healthCheckUrl: tenant.healthCheckUrl,
    alarmNames: tenant.alarmNames,
    snapshotRetention: retentionFor(config, environment.production),
  };
}

export function retentionFor(config: FleetConfig, production: boolean): { keep: number; maxAgeMs: number } {
  const policy = production ? config.snapshots.preRelease.production : config.snapshots.preRelease;
  return { keep: policy.keep, maxAgeMs: policy.maxAge };
}

export function kubernetesTaskQueue(clusterName: string): string {
  return `tenant-fleet-k8s-${clusterName}`;
}

function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`fleet config is inconsistent: ${what} not found`);
  return value;
}
