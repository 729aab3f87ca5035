import type { FleetConfig, Tenant } from './schema';

/**
 * Where a tenant's workload runs, when it gets a workload security group of its own (the traffic
 * stack makes it there): ECS tenants always, Kubernetes tenants on clusters with security groups
 * for pods. `field` names the config entry the VPC came from, for messages.
 */
export interface WorkloadNetwork {
  account: string;
  region: string;
  vpcId: string | undefined;
  field: string;
}

export function workloadNetworkOf(config: Pick<FleetConfig, 'accounts' | 'ecsClusters' | 'kubernetesClusters'>, tenant: Pick<Tenant, 'runtime' | 'cluster'>): WorkloadNetwork | undefined {
  const accountVpc = (account: string, region: string) => config.accounts.find((a) => a.name === account)?.network[region]?.vpcId;
  if (tenant.runtime === 'ecs') {
    const index = config.ecsClusters.findIndex((c) => c.name === tenant.cluster);
    const cluster = config.ecsClusters[index];
    if (!cluster) return undefined;
    return cluster.vpcId
      ? { account: cluster.account, region: cluster.region, vpcId: cluster.vpcId, field: `ecsClusters[${index}].vpcId` }
      : { account: cluster.account, region: cluster.region, vpcId: accountVpc(cluster.account, cluster.region), field: `accounts[name=${cluster.account}].network.${cluster.region}.vpcId` };
  }
  const index = config.kubernetesClusters.findIndex((c) => c.name === tenant.cluster);
  const pods = config.kubernetesClusters[index]?.securityGroupsForPods;
  if (!pods) return undefined;
  return pods.vpcId
    ? { account: pods.account, region: pods.region, vpcId: pods.vpcId, field: `kubernetesClusters[${index}].securityGroupsForPods.vpcId` }
    : { account: pods.account, region: pods.region, vpcId: accountVpc(pods.account, pods.region), field: `accounts[name=${pods.account}].network.${pods.region}.vpcId` };
}

/**
 * Why a workload in `workload` cannot reach a database in the tenant's account and region
 * (undefined when it can): a security group rule may name a group of another VPC only across an
 * active peering in the same region, so the two VPCs are one, or peered as the config says.
 */
export function unreachableDatabase(config: Pick<FleetConfig, 'accounts'>, tenant: Pick<Tenant, 'account' | 'region'>, workload: WorkloadNetwork): string | undefined {
  const databaseNetwork = config.accounts.find((a) => a.name === tenant.account)?.network[tenant.region];
  if (!databaseNetwork || !workload.vpcId) return undefined; // reported on their own fields
  const databaseField = `accounts[name=${tenant.account}].network.${tenant.region}`;
  if (workload.region !== tenant.region) {
    return `the workload runs in ${workload.region} (${workload.field}), the database in ${tenant.region} (${databaseField}); a security group rule can name a group of a peered VPC only in the same region, so expected the cluster in ${tenant.region}`;
  }
  if (workload.vpcId === databaseNetwork.vpcId) return undefined;
  const workloadNetwork = config.accounts.find((a) => a.name === workload.account)?.network[workload.region];
  if (databaseNetwork.peeredVpcIds.includes(workload.vpcId) || workloadNetwork?.peeredVpcIds.includes(databaseNetwork.vpcId)) return undefined;
  return `the workload runs in ${workload.vpcId} (${workload.field}), which is neither the database's VPC ${databaseNetwork.vpcId} (${databaseField}.vpcId) nor peered with it; expected ${workload.vpcId} in ${databaseField}.peeredVpcIds (a VPC peering connection with routes both ways, docs/operators.md)`;
}
