import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import type { SandboxAdminClients } from '../sandbox/admin-clients';
import type { TenantSpec } from '../../src/shared/tenant-spec';

export interface DatabaseSource {
  groupId: string;
  ownerId: string;
  /** The source group's own TenantId tag and VPC, read in its owner's account. */
  tenantTag?: string;
  vpcId?: string;
}

/**
 * The security groups the tenant's database admits on its port (the tenant stack's
 * DatabaseSecurityGroupId output), each read in the account that owns it: the sandbox
 * fleet's workload groups live in the platform account, across a VPC peering.
 */
export async function databaseSources(admin: SandboxAdminClients, tenant: TenantSpec, stackOutputs: Record<string, string>): Promise<DatabaseSource[]> {
  const { SecurityGroups = [] } = await admin.ec2(tenant.aws).send(new DescribeSecurityGroupsCommand({ GroupIds: [stackOutputs.DatabaseSecurityGroupId!] }));
  const pairs = (SecurityGroups[0]?.IpPermissions ?? []).filter((p) => p.FromPort === 5432).flatMap((p) => p.UserIdGroupPairs ?? []);
  const targets = [tenant.aws, tenant.runtime.kind === 'ecs' ? tenant.runtime.aws : undefined, tenant.loadBalancer?.aws];
  return Promise.all(
    pairs.map(async (pair) => {
      const owner = targets.find((t) => t?.accountId === (pair.UserId ?? tenant.aws.accountId))!;
      const group = (await admin.ec2(owner).send(new DescribeSecurityGroupsCommand({ GroupIds: [pair.GroupId!] }))).SecurityGroups?.[0];
      return { groupId: pair.GroupId!, ownerId: pair.UserId ?? tenant.aws.accountId, tenantTag: group?.Tags?.find((t) => t.Key === 'TenantId')?.Value, vpcId: group?.VpcId };
    }),
  );
}
