import { ImportCertificateCommand, ACMClient, ListCertificatesCommand } from '@aws-sdk/client-acm';
import { CloudFormationClient, CreateStackCommand, DescribeStacksCommand, type Stack } from '@aws-sdk/client-cloudformation';
import { CreateClusterCommand, ECSClient } from '@aws-sdk/client-ecs';
import {
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { CreateOpenIDConnectProviderCommand, IAMClient, ListOpenIDConnectProvidersCommand } from '@aws-sdk/client-iam';
import { CreateHostedZoneCommand, ListHostedZonesByNameCommand, Route53Client } from '@aws-sdk/client-route-53';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { seedPeerings } from './aws-peerings';
import { bootstrapSandboxIdentities, enforceIam, ORGANIZATION_ROLE_NAME, type SandboxIdentities } from './aws-identities';
import type { AwsCredentialIdentity } from '@smithy/types';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TemplateStore } from '../../src/activities/templates';
import { waitUntil } from './wait';

/**
 * What an operator sets up once per AWS account before tenant-fleet manages tenants there:
 * the fleet access role (from infra/, with an external ID), a VPC with two subnets, a hosted
 * zone; and in the platform account the ECS cluster and the load balancer's HTTPS listener.
 * Every step looks first, so seeding a sandbox that already has them changes nothing.
 * It runs as the sandbox's administrator with IAM enforced (see aws-identities.ts); the
 * workers' own identity may only assume the access roles this creates.
 */
export interface SandboxAccount {
  name: string;
  accountId: string;
  zone: string;
  cidr: string;
}

export const PLATFORM_ACCOUNT_ID = '123456789012';
export const SANDBOX_REGION = 'us-east-1';
export const SANDBOX_ACCOUNTS: SandboxAccount[] = [
  { name: 'platform', accountId: PLATFORM_ACCOUNT_ID, zone: 'tenants.test', cidr: '10.0' },
  { name: 'tenants-a', accountId: '111111111111', zone: 'a.tenants.test', cidr: '10.1' },
  { name: 'tenants-b', accountId: '222222222222', zone: 'b.tenants.test', cidr: '10.2' },
];
/**
 * The sandbox kube-apiserver's service account issuer (kwokctl's default --service-account-issuer):
 * every account registers it as an IAM OIDC provider, as an operator does for an EKS cluster's
 * issuer, so tenant app roles can trust it (IRSA, docs/decisions.md).
 */
export const SANDBOX_KUBE_OIDC_ISSUER = 'https://kubernetes.default.svc.cluster.local';
export const externalIdFor = (account: SandboxAccount) => `tenant-fleet-sandbox-${account.name}`;
export const ACCESS_ROLE_NAME = 'TenantFleetAccess';
/** The sandbox load balancer's test listener port (blue/green's test route). */
export const SANDBOX_TEST_LISTENER_PORT = 8443;

export interface AccountBaseline {
  account: SandboxAccount;
  roleArn: string;
  /** The role CloudFormation runs tenant stacks with (the access stack's StackExecutionRoleArn output). */
  stackRoleArn: string;
  externalId: string;
  vpcId: string;
  subnetIds: [string, string];
  securityGroupId: string;
  hostedZoneId: string;
}

export interface PlatformBaseline {
  ecsClusterName: string;
  listenerArn: string;
  /** Blue/green's test listener on the same load balancer (HTTPS 8443): each tenant's test route. */
  testListenerArn: string;
  loadBalancerDnsName: string;
}

export interface SandboxBaseline {
  accounts: AccountBaseline[];
  platform: PlatformBaseline;
  identities: SandboxIdentities;
}

export async function seedAwsBaseline(endpoint: string): Promise<SandboxBaseline> {
  const identities = await bootstrapSandboxIdentities(endpoint, SANDBOX_ACCOUNTS.map((a) => a.accountId));
  await enforceIam(endpoint);
  const templates = new TemplateStore();
  const accounts: AccountBaseline[] = [];
  for (const account of SANDBOX_ACCOUNTS) {
    accounts.push(await seedAccount(endpoint, account, templates, identities));
  }
  const platform = accounts.find((a) => a.account.accountId === PLATFORM_ACCOUNT_ID)!;
  await seedPeerings(endpoint, platform, accounts.filter((a) => a !== platform), identities.admin);
  return { accounts, platform: await seedPlatform(endpoint, platform, identities), identities };
}

/** The administrator's session in an account (AWS Organizations' role), for seeding and for tests that read state. */
export async function adminCredentials(endpoint: string, accountId: string, admin: AwsCredentialIdentity): Promise<AwsCredentialIdentity> {
  const sts = new STSClient({ region: SANDBOX_REGION, endpoint, credentials: admin });
  try {
    const { Credentials } = await sts.send(
      new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${accountId}:role/${ORGANIZATION_ROLE_NAME}`, RoleSessionName: 'sandbox-admin' }),
    );
    return {
      accessKeyId: Credentials!.AccessKeyId!,
      secretAccessKey: Credentials!.SecretAccessKey!,
      sessionToken: Credentials!.SessionToken,
      expiration: Credentials!.Expiration,
    };
  } finally {
    sts.destroy();
  }
}

async function seedAccount(endpoint: string, account: SandboxAccount, templates: TemplateStore, identities: SandboxIdentities): Promise<AccountBaseline> {
  const config = { region: SANDBOX_REGION, endpoint, credentials: await adminCredentials(endpoint, account.accountId, identities.admin) };
  const cfn = new CloudFormationClient(config);
  const ec2 = new EC2Client(config);
  const route53 = new Route53Client(config);
  const iam = new IAMClient(config);
  try {
    const externalId = externalIdFor(account);
    const providers = (await iam.send(new ListOpenIDConnectProvidersCommand({}))).OpenIDConnectProviderList ?? [];
    const issuerHost = SANDBOX_KUBE_OIDC_ISSUER.replace(/^https:\/\//, '');
    if (!providers.some((p) => p.Arn?.endsWith(`:oidc-provider/${issuerHost}`))) {
      await iam.send(
        new CreateOpenIDConnectProviderCommand({ Url: SANDBOX_KUBE_OIDC_ISSUER, ClientIDList: ['sts.amazonaws.com'], ThumbprintList: ['0'.repeat(40)] }),
      );
    }
    // The zone first: the access role may change records in this zone only.
    const zones = (await route53.send(new ListHostedZonesByNameCommand({ DNSName: account.zone }))).HostedZones ?? [];
    const zoneId =
      zones.find((z) => z.Name === `${account.zone}.`)?.Id ??
      (await route53.send(new CreateHostedZoneCommand({ Name: account.zone, CallerReference: `tenant-fleet-sandbox-${account.name}` }))).HostedZone!.Id!;
    const hostedZoneId = zoneId.replace('/hostedzone/', '');
    const stackName = 'tenant-fleet-access';
    const existing = await cfn.send(new DescribeStacksCommand({ StackName: stackName })).catch(() => undefined);
    if (!existing?.Stacks?.length) {
      await cfn.send(
        new CreateStackCommand({
          StackName: stackName,
          TemplateBody: templates.cloudFormation('fleet-access-role'),
          Parameters: [
            // The workers' own identity, not the whole platform account: nothing else may assume the role.
            { ParameterKey: 'FleetPrincipalArn', ParameterValue: identities.worker.arn },
            { ParameterKey: 'ExternalId', ParameterValue: externalId },
            { ParameterKey: 'RoleName', ParameterValue: ACCESS_ROLE_NAME },
            { ParameterKey: 'HostedZoneId', ParameterValue: hostedZoneId },
          ],
          Capabilities: ['CAPABILITY_NAMED_IAM'],
        }),
      );
    }
    // The emulator's stacks take time (test/sandbox/moto/README.md, "Operations that take time").
    let stack: Stack | undefined;
    await waitUntil(`fleet access role stack in ${account.name}`, async () => {
      stack = (await cfn.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
      return !stack?.StackStatus?.endsWith('_IN_PROGRESS');
    }, { intervalMs: 50 });
    if (stack?.StackStatus !== 'CREATE_COMPLETE') throw new Error(`fleet access role stack in ${account.name} is ${stack?.StackStatus}`);
    const roleArn = stack.Outputs?.find((o) => o.OutputKey === 'AccessRoleArn')?.OutputValue;
    const stackRoleArn = stack.Outputs?.find((o) => o.OutputKey === 'StackExecutionRoleArn')?.OutputValue;
    if (!roleArn || !stackRoleArn) throw new Error(`fleet access role stack in ${account.name} lacks the AccessRoleArn or StackExecutionRoleArn output`);

    const tag = { Key: 'Name', Value: 'tenant-fleet-sandbox' };
    let vpcId = (await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:Name', Values: [tag.Value] }] }))).Vpcs?.[0]?.VpcId;
    if (!vpcId) {
      vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: `${account.cidr}.0.0/16` }))).Vpc!.VpcId!;
      await ec2.send(new CreateTagsCommand({ Resources: [vpcId], Tags: [tag] }));
    }
    const subnets = (await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }))).Subnets ?? [];
    const subnetIds: string[] = subnets.map((s) => s.SubnetId!).sort();
    for (const [i, zone] of ['a', 'b'].entries()) {
      if (subnets.some((s) => s.CidrBlock === `${account.cidr}.${i + 1}.0/24`)) continue;
      const created = await ec2.send(
        new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: `${account.cidr}.${i + 1}.0/24`, AvailabilityZone: `${SANDBOX_REGION}${zone}` }),
      );
      subnetIds.push(created.Subnet!.SubnetId!);
    }
    subnetIds.sort();
    const groups = (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['tenant-workloads'] }, { Name: 'vpc-id', Values: [vpcId] }] }))).SecurityGroups ?? [];
    const securityGroupId =
      groups[0]?.GroupId ??
      (await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'tenant-workloads', Description: 'tenant workloads', VpcId: vpcId }))).GroupId!;


    return {
      account,
      roleArn,
      stackRoleArn,
      externalId,
      vpcId,
      subnetIds: [subnetIds[0]!, subnetIds[1]!],
      securityGroupId,
      hostedZoneId,
    };
  } finally {
    cfn.destroy();
    ec2.destroy();
    route53.destroy();
    iam.destroy();
  }
}

async function seedPlatform(endpoint: string, platform: AccountBaseline, identities: SandboxIdentities): Promise<PlatformBaseline> {
  const config = { region: SANDBOX_REGION, endpoint, credentials: await adminCredentials(endpoint, PLATFORM_ACCOUNT_ID, identities.admin) };
  const ecs = new ECSClient(config);
  const elb = new ElasticLoadBalancingV2Client(config);
  const acm = new ACMClient(config);
  try {
    const ecsClusterName = 'tenants';
    await ecs.send(new CreateClusterCommand({ clusterName: ecsClusterName }));

    const name = 'tenants';
    let lb = (await elb.send(new DescribeLoadBalancersCommand({ Names: [name] })).catch(() => undefined))?.LoadBalancers?.[0];
    lb ??= (await elb.send(new CreateLoadBalancerCommand({ Name: name, Subnets: platform.subnetIds, Type: 'application', Scheme: 'internet-facing' }))).LoadBalancers![0]!;
    const listeners = (await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb.LoadBalancerArn }))).Listeners ?? [];
    // An ALB's HTTPS listener needs a default certificate before any tenant's exists.
    const https = async (port: number) =>
      listeners.find((l) => l.Port === port)?.ListenerArn ??
      (
        await elb.send(
          new CreateListenerCommand({
            LoadBalancerArn: lb.LoadBalancerArn,
            Protocol: 'HTTPS',
            Port: port,
            Certificates: [{ CertificateArn: await defaultCertificate(acm) }],
            DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '404', ContentType: 'text/plain' } }],
          }),
        )
      ).Listeners![0]!.ListenerArn!;
    const listenerArn = await https(443);
    // Blue/green's test route (docs/releases.md, "Blue/green"): a second listener, as AWS's blue/green guides use.
    const testListenerArn = await https(SANDBOX_TEST_LISTENER_PORT);
    return { ecsClusterName, listenerArn, testListenerArn, loadBalancerDnsName: lb.DNSName!.toLowerCase() };
  } finally {
    ecs.destroy();
    elb.destroy();
    acm.destroy();
  }
}

async function defaultCertificate(acm: ACMClient): Promise<string> {
  const existing = (await acm.send(new ListCertificatesCommand({}))).CertificateSummaryList?.find((c) => c.DomainName === 'default.tenants.test');
  if (existing?.CertificateArn) return existing.CertificateArn;
  const dir = mkdtempSync(join(tmpdir(), 'tenant-fleet-cert-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '365',
      '-subj', '/CN=default.tenants.test', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    const { CertificateArn } = await acm.send(
      new ImportCertificateCommand({ Certificate: readFileSync(join(dir, 'cert.pem')), PrivateKey: readFileSync(join(dir, 'key.pem')) }),
    );
    return CertificateArn!;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
