import {
  AcceptVpcPeeringConnectionCommand,
  CreateRouteCommand,
  CreateVpcPeeringConnectionCommand,
  DescribeRouteTablesCommand,
  DescribeVpcPeeringConnectionsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import type { AwsCredentialIdentity } from '@smithy/types';
import { adminCredentials, SANDBOX_REGION, type AccountBaseline } from './aws-baseline';

/**
 * What an operator creates for workloads that reach their database in another account (docs/operators.md,
 * "What to create", item 4): a VPC peering connection from the platform VPC (the ECS cluster's and the
 * load balancer's) to each tenant account's VPC, accepted there, and a route each way through it. The
 * fleet config names the peered VPCs (config/fleet.sandbox.yaml, peeredVpcIds). Looks first: seeding
 * again changes nothing.
 */
export async function seedPeerings(endpoint: string, platform: AccountBaseline, tenants: AccountBaseline[], admin: AwsCredentialIdentity): Promise<void> {
  const clientFor = async (accountId: string) => new EC2Client({ region: SANDBOX_REGION, endpoint, credentials: await adminCredentials(endpoint, accountId, admin) });
  const platformEc2 = await clientFor(platform.account.accountId);
  try {
    for (const tenant of tenants) {
      const tenantEc2 = await clientFor(tenant.account.accountId);
      try {
        const existing = ((await platformEc2.send(new DescribeVpcPeeringConnectionsCommand({}))).VpcPeeringConnections ?? []).find(
          (p) => p.RequesterVpcInfo?.VpcId === platform.vpcId && p.AccepterVpcInfo?.VpcId === tenant.vpcId && ['active', 'pending-acceptance'].includes(p.Status?.Code ?? ''),
        );
        let id = existing?.VpcPeeringConnectionId;
        if (!id) {
          id = (await platformEc2.send(new CreateVpcPeeringConnectionCommand({ VpcId: platform.vpcId, PeerVpcId: tenant.vpcId, PeerOwnerId: tenant.account.accountId })))
            .VpcPeeringConnection!.VpcPeeringConnectionId!;
        }
        if (existing?.Status?.Code !== 'active') await tenantEc2.send(new AcceptVpcPeeringConnectionCommand({ VpcPeeringConnectionId: id }));
        await routeThrough(platformEc2, platform.vpcId, `${tenant.account.cidr}.0.0/16`, id);
        await routeThrough(tenantEc2, tenant.vpcId, `${platform.account.cidr}.0.0/16`, id);
      } finally {
        tenantEc2.destroy();
      }
    }
  } finally {
    platformEc2.destroy();
  }
}

async function routeThrough(ec2: EC2Client, vpcId: string, destination: string, peeringId: string): Promise<void> {
  const tables = (await ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }))).RouteTables ?? [];
  const main = tables.find((t) => t.Associations?.some((a) => a.Main)) ?? tables[0];
  if (!main || main.Routes?.some((r) => r.DestinationCidrBlock === destination)) return;
  await ec2.send(new CreateRouteCommand({ RouteTableId: main.RouteTableId, DestinationCidrBlock: destination, VpcPeeringConnectionId: peeringId }));
}
