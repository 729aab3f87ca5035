/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-explicit-any -- the templates are untyped YAML documents, read here for their shape. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse, type Tags } from 'yaml';
import { TemplateStore } from '../../src/activities/templates';
import { TENANT_ID_PATTERN } from '../../src/shared/ids';
import type { TenantSpec } from '../../src/shared/tenant-spec';
import { KEPT_STACK_PARAMETERS, stackParametersFor, trafficStackParametersFor, workloadSpecFor } from '../../src/workflows/tenant-footprint';

/** CloudFormation's YAML short forms as their JSON forms ({"Fn::Sub": ...}), enough to read the templates. */
const shortForm = (tag: string, key: string, collection?: 'seq' | 'map') => ({
  tag,
  collection,
  resolve: (value: unknown) => ({ [key]: typeof value === 'object' && value !== null && 'toJSON' in value ? (value as { toJSON(): unknown }).toJSON() : value }),
});
const cfnTags: Tags = [
  shortForm('!Ref', 'Ref'),
  shortForm('!Condition', 'Condition'),
  ...['Sub', 'GetAtt', 'If', 'Equals', 'Join', 'Select', 'Split', 'Not', 'And', 'Or', 'FindInMap', 'Base64', 'GetAZs', 'ImportValue'].flatMap((fn) =>
    [undefined, 'seq' as const, 'map' as const].map((collection) => shortForm(`!${fn}`, `Fn::${fn}`, collection)),
  ),
];

type Json = Record<string, any>;

const template = (name: 'tenant' | 'tenant-traffic' | 'fleet-access-role'): Json => parse(new TemplateStore().cloudFormation(name), { customTags: cfnTags }) as Json;
const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
const wildcard = (pattern: string) => new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i');

const target = (accountId: string) => ({ accountId, roleArn: `arn:aws:iam::${accountId}:role/TenantFleetAccess`, externalId: 'ext-id', region: 'us-east-1' });
const sampleTenant = (): TenantSpec => ({
  id: 'acme',
  environment: 'dev',
  production: false,
  tier: 'standard',
  aws: target('111111111111'),
  network: { vpcId: 'vpc-0db', subnetIds: ['subnet-1', 'subnet-2'] },
  runtime: { kind: 'ecs', cluster: 'ecs', clusterName: 'tenants', aws: target('123456789012'), subnetIds: ['subnet-9'], securityGroupIds: ['sg-0cluster'] },
  hostnames: ['acme.example.com'],
  database: { instanceClass: 'db.t4g.medium', engineVersion: '16.4', backupRetentionDays: 7 },
  image: 'registry/app',
  replicas: 2,
  loadBalancer: {
    name: 'alb',
    listenerArn: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/tenants/50dc6c495c0c9188/f2f7dc8efc522ab2',
    dnsName: 'tenants.example.com',
    aws: target('123456789012'),
    vpcId: 'vpc-0lb',
  },
  alarmNames: [],
});

describe('tenant.yaml', () => {
  const tenant = template('tenant');
  const resources = tenant.Resources as Record<string, Json>;

  it('keeps the bucket name within S3 63 characters for the longest tenant ID in any region', () => {
    const longest = `a${'b'.repeat(31)}`;
    expect(TENANT_ID_PATTERN.test(longest)).toBe(true);
    expect(TENANT_ID_PATTERN.test(`${longest}c`)).toBe(false);
    const sub = resources.DataBucket!.Properties.BucketName['Fn::Sub'] as string;
    for (const region of ['us-east-1', 'ap-southeast-4', 'us-gov-west-1', 'eu-central-2', 'us-isob-east-1']) {
      const name = sub.replace('${TenantId}', longest).replace('${AWS::AccountId}', '123456789012').replace('${AWS::Region}', region);
      expect(name).toMatch(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/);
    }
  });

  it('lets only the tenant\'s Kubernetes service account assume the app role, through the cluster\'s OIDC provider (IRSA)', () => {
    const trust = resources.AppRole!.Properties.AssumeRolePolicyDocument['Fn::If'] as [string, Json, Json];
    expect(trust[0]).toBe('UsesIrsa');
    expect(tenant.Conditions.UsesIrsa).toEqual({ 'Fn::And': [{ 'Fn::Not': [{ Condition: 'IsEcs' }] }, { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'OidcProvider' }, ''] }] }] });
    const values: Record<string, string> = { 'AWS::Partition': 'aws', 'AWS::AccountId': '111111111111', OidcProvider: 'oidc.eks.us-east-1.amazonaws.com/id/ABC', TenantId: 'wayne' };
    const irsa = JSON.parse((trust[1]['Fn::Sub'] as string).replace(/\$\{([^}]+)\}/g, (_, name: string) => values[name] ?? `<unknown ${name}>`));
    expect(irsa.Statement).toEqual([
      {
        Effect: 'Allow',
        Principal: { Federated: 'arn:aws:iam::111111111111:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC' },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: { StringEquals: { 'oidc.eks.us-east-1.amazonaws.com/id/ABC:sub': 'system:serviceaccount:tenant-wayne:app', 'oidc.eks.us-east-1.amazonaws.com/id/ABC:aud': 'sts.amazonaws.com' } },
      },
    ]);
    expect(trust[2].Statement[0].Principal.Service).toEqual({ 'Fn::If': ['IsEcs', 'ecs-tasks.amazonaws.com', 'pods.eks.amazonaws.com'] });
  });

  it('lets only the tenant\'s own security groups reach the database, never a network range: its app group, and its workload group with its owner account', () => {
    const text = new TemplateStore().cloudFormation('tenant');
    expect(text).not.toMatch(/CidrIp/);
    expect(resources.DatabaseSecurityGroup!.Properties.SecurityGroupIngress).toBeUndefined();
    const ingress = Object.fromEntries(Object.entries(resources).filter(([, r]) => r.Type === 'AWS::EC2::SecurityGroupIngress'));
    const toDatabase = { GroupId: { 'Fn::GetAtt': 'DatabaseSecurityGroup.GroupId' }, IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432 };
    expect(ingress).toEqual({
      DatabaseIngressFromApp: expect.objectContaining({ Properties: expect.objectContaining({ ...toDatabase, SourceSecurityGroupId: { 'Fn::GetAtt': 'AppSecurityGroup.GroupId' } }) }),
      DatabaseIngressFromWorkload: expect.objectContaining({
        Condition: 'HasWorkloadGroup',
        Properties: expect.objectContaining({
          ...toDatabase,
          SourceSecurityGroupId: { Ref: 'WorkloadSecurityGroupId' },
          // Another account's group needs its owner; the same account's must not name one.
          SourceSecurityGroupOwnerId: { 'Fn::If': ['WorkloadGroupElsewhere', { Ref: 'WorkloadSecurityGroupOwnerId' }, { Ref: 'AWS::NoValue' }] },
        }),
      }),
    });
    expect(tenant.Conditions.HasWorkloadGroup).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'WorkloadSecurityGroupId' }, ''] }] });
    expect(tenant.Conditions.WorkloadGroupElsewhere['Fn::And']).toEqual([
      { Condition: 'HasWorkloadGroup' },
      { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'WorkloadSecurityGroupOwnerId' }, ''] }] },
      { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'WorkloadSecurityGroupOwnerId' }, { Ref: 'AWS::AccountId' }] }] },
    ]);
    // Stacks created before the parameters existed keep working: both default to none.
    expect([tenant.Parameters.WorkloadSecurityGroupId.Default, tenant.Parameters.WorkloadSecurityGroupOwnerId.Default]).toEqual(['', '']);
    expect(tenant.Outputs.AppSecurityGroupId.Value).toEqual({ 'Fn::GetAtt': 'AppSecurityGroup.GroupId' });
  });

  it('is given the workload group the traffic stack outputs, by the parameter names the template declares', () => {
    const traffic = template('tenant-traffic');
    expect(traffic.Resources.WorkloadSecurityGroup).toEqual(
      expect.objectContaining({ Type: 'AWS::EC2::SecurityGroup', Condition: 'HasWorkloadGroup', Properties: expect.objectContaining({ VpcId: { Ref: 'WorkloadVpcId' } }) }),
    );
    expect(traffic.Outputs.WorkloadSecurityGroupId).toEqual({ Condition: 'HasWorkloadGroup', Value: { 'Fn::GetAtt': 'WorkloadSecurityGroup.GroupId' } });
    expect(traffic.Outputs.WorkloadSecurityGroupOwnerId).toEqual({ Condition: 'HasWorkloadGroup', Value: { Ref: 'AWS::AccountId' } });
    const outputs = { WorkloadSecurityGroupId: 'sg-0123abcd', WorkloadSecurityGroupOwnerId: '123456789012', TargetGroupArn: 'arn' };
    const parameters = stackParametersFor(sampleTenant(), {}, outputs);
    expect(parameters).toEqual(expect.objectContaining({ WorkloadSecurityGroupId: 'sg-0123abcd', WorkloadSecurityGroupOwnerId: '123456789012' }));
    for (const name of Object.keys(parameters)) expect(tenant.Parameters).toHaveProperty(name);
    // A redeploy that does not read the traffic stack keeps exactly these at the stack's values.
    expect(KEPT_STACK_PARAMETERS.every((name) => name in tenant.Parameters)).toBe(true);
    expect(stackParametersFor(sampleTenant())).not.toHaveProperty('WorkloadSecurityGroupId');
    const trafficParameters = trafficStackParametersFor({ ...sampleTenant(), workloadVpcId: 'vpc-0cluster' }, sampleTenant().loadBalancer!, 7);
    expect(trafficParameters.WorkloadVpcId).toBe('vpc-0cluster');
    for (const name of Object.keys(trafficParameters)) expect(traffic.Parameters).toHaveProperty(name);
    expect(trafficStackParametersFor(sampleTenant(), sampleTenant().loadBalancer!, 7)).not.toHaveProperty('WorkloadVpcId');
  });

  it('has a green slot, weighted rule and test route only with BlueGreen, with the weights it is given', () => {
    const traffic = template('tenant-traffic');
    const lb = sampleTenant().loadBalancer!;
    // Tenants on a load balancer without a test listener keep today's stack exactly.
    const plain = trafficStackParametersFor(sampleTenant(), lb, 7);
    expect(Object.keys(plain).filter((k) => /BlueGreen|Weight|TestListener/.test(k))).toEqual([]);
    expect(traffic.Parameters.BlueGreen.Default).toBe('false');
    const testListenerArn = lb.listenerArn.replace(/[^/]+$/, 'test0listener');
    const withTest = { ...lb, testListenerArn };
    expect(trafficStackParametersFor(sampleTenant(), withTest, 7)).toEqual(
      expect.objectContaining({ BlueGreen: 'true', TestListenerArn: testListenerArn, BlueWeight: '100', GreenWeight: '0' }),
    );
    // A stack update keeps the weights the rule has now (a release may have left green live).
    const kept = trafficStackParametersFor(sampleTenant(), withTest, 7, { blue: 0, green: 100 });
    expect([kept.BlueWeight, kept.GreenWeight]).toEqual(['0', '100']);
    for (const name of Object.keys(kept)) expect(traffic.Parameters).toHaveProperty(name);
    for (const name of ['GreenTargetGroup', 'TestListenerRule', 'GreenTargetErrorsAlarm', 'GreenUnhealthyHostsAlarm']) {
      expect(traffic.Resources[name].Condition).toBe('HasBlueGreen');
    }
    expect(traffic.Resources.TestListenerRule.Properties).toEqual(expect.objectContaining({ ListenerArn: { Ref: 'TestListenerArn' }, Priority: { Ref: 'RulePriority' } }));
    expect(traffic.Resources.ListenerRule.Properties.Actions[0]['Fn::If']).toEqual([
      'HasBlueGreen',
      {
        Type: 'forward',
        ForwardConfig: {
          TargetGroups: [
            { TargetGroupArn: { Ref: 'TargetGroup' }, Weight: { Ref: 'BlueWeight' } },
            { TargetGroupArn: { Ref: 'GreenTargetGroup' }, Weight: { Ref: 'GreenWeight' } },
          ],
        },
      },
      { Type: 'forward', TargetGroupArn: { Ref: 'TargetGroup' } },
    ]);
    for (const name of ['GreenTargetGroupArn', 'GreenTargetGroupFullName', 'TestListenerRuleArn', 'GreenTargetErrorsAlarmName', 'GreenUnhealthyHostsAlarmName']) {
      expect(traffic.Outputs[name].Condition).toBe('HasBlueGreen');
    }
  });

  it('refuses plain-HTTP access to the bucket', () => {
    const policies = Object.values(resources).filter((r) => r.Type === 'AWS::S3::BucketPolicy');
    expect(policies).toHaveLength(1);
    expect(policies[0]!.Properties.Bucket).toEqual({ Ref: 'DataBucket' });
    expect(policies[0]!.Properties.PolicyDocument.Statement).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:*',
        Resource: [{ 'Fn::GetAtt': 'DataBucket.Arn' }, { 'Fn::Sub': '${DataBucket.Arn}/*' }],
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    );
  });

  it('gives every role it creates the fleet permissions boundary, the only one the execution role accepts', () => {
    const access = template('fleet-access-role');
    const boundaryName = access.Resources.TenantAppBoundary.Properties.ManagedPolicyName as string;
    const roles = Object.values(resources).filter((r) => r.Type === 'AWS::IAM::Role');
    expect(roles.length).toBeGreaterThan(0);
    for (const role of roles) {
      expect(role.Properties.PermissionsBoundary).toEqual({ 'Fn::Sub': `arn:\${AWS::Partition}:iam::\${AWS::AccountId}:policy/${boundaryName}` });
    }
    const statements = access.Resources.StackExecutionRole.Properties.Policies.flatMap((p: Json) => p.PolicyDocument.Statement) as Json[];
    const creating = statements.filter((s) => s.Effect === 'Allow' && asList(s.Action).some((a: string) => wildcard(a).test('iam:CreateRole')));
    expect(creating).toHaveLength(1);
    expect(creating[0]!.Condition).toEqual({ StringEquals: { 'iam:PermissionsBoundary': { Ref: 'TenantAppBoundary' } } });
  });
});

describe('the workload security group, from the traffic stack to the workload', () => {
  const traffic = { TargetGroupArn: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/1', WorkloadSecurityGroupId: 'sg-0w0rk', WorkloadSecurityGroupOwnerId: '123456789012' };
  const spec = (tenant: TenantSpec) => workloadSpecFor(tenant, { version: '1.0.0', stackOutputs: {}, trafficOutputs: traffic });

  it('runs ECS tasks in it (beside the cluster groups the activity adds)', () => {
    expect(spec(sampleTenant()).securityGroupIds).toEqual(['sg-0w0rk']);
  });

  it('gives Kubernetes pods it and the cluster\'s pod groups only on a cluster with security groups for pods', () => {
    const kube = (podSecurityGroupIds?: string[]): TenantSpec => ({ ...sampleTenant(), runtime: { kind: 'kubernetes', cluster: 'eks', taskQueue: 'q', ...(podSecurityGroupIds ? { podSecurityGroupIds } : {}) } });
    expect(spec(kube(['sg-0nodes'])).securityGroupIds).toEqual(['sg-0w0rk', 'sg-0nodes']);
    expect(spec(kube()).securityGroupIds).toBeUndefined();
  });
});

describe('fleet-access-role.yaml', () => {
  const access = template('fleet-access-role');
  const statements = access.Resources.AccessRole.Properties.Policies.flatMap((p: Json) => p.PolicyDocument.Statement) as Json[];
  const allows = (action: string) => statements.some((s) => s.Effect === 'Allow' && asList(s.Action).some((a: string) => wildcard(a).test(action)));

  /** `new XCommand(` in the code that runs with the access role, by the client package it comes from. */
  function actionsTheCodeCalls(): string[] {
    const prefixes: Record<string, string> = {
      'client-acm': 'acm',
      'client-cloudformation': 'cloudformation',
      'client-cloudwatch': 'cloudwatch',
      'client-cloudwatch-logs': 'logs',
      'client-ecs': 'ecs',
      'client-elastic-load-balancing-v2': 'elasticloadbalancing',
      'client-rds': 'rds',
      'client-route-53': 'route53',
      'client-ssm': 'ssm',
      'client-s3': 's3',
    };
    // S3 authorizes HeadBucket as s3:ListBucket; tenantctl reads a release manifest from S3 with its own credentials.
    const authorizedAs: Record<string, string> = { 's3:HeadBucket': 's3:ListBucket' };
    const clientDir = join(__dirname, '..', '..', 'src', 'client');
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((entry) => (statSync(join(dir, entry)).isDirectory() ? files(join(dir, entry)) : entry.endsWith('.ts') ? [join(dir, entry)] : []));
    const actions = new Set<string>();
    for (const file of [...files(join(__dirname, '..', '..', 'src', 'activities')), ...files(join(__dirname, '..', '..', 'src', 'client'))]) {
      const source = readFileSync(file, 'utf8');
      for (const [, names, pkg] of source.matchAll(/import\s*{([^}]*)}\s*from\s*'@aws-sdk\/(client-[a-z0-9-]+)'/g)) {
        const prefix = prefixes[pkg!];
        if (!prefix || (prefix === 's3' && file.startsWith(clientDir))) continue;
        for (const name of names!.split(',').map((n) => n.replace(/^\s*type\s+/, '').trim())) {
          if (/Command$/.test(name) && source.includes(`new ${name}(`)) {
            const action = `${prefix}:${name.replace(/Command$/, '')}`;
            actions.add(authorizedAs[action] ?? action);
          }
        }
      }
    }
    return [...actions].sort();
  }

  it('grants every action the code calls with the access role', () => {
    const called = actionsTheCodeCalls();
    expect(called).toEqual(expect.arrayContaining(['cloudformation:CreateChangeSet', 'rds:ModifyDBCluster', 'ssm:DeleteParameters', 'acm:ListTagsForCertificate', 's3:ListBucket', 's3:GetBucketTagging']));
    expect(called.filter((action) => !allows(action))).toEqual([]);
  });

  it('passes roles only to the service that needs them, and the stack role only to tenant stacks', () => {
    const passing = statements.filter((s) => asList(s.Action).includes('iam:PassRole'));
    expect(passing.length).toBeGreaterThan(0);
    for (const s of passing) {
      expect(s.Resource).not.toBe('*');
      expect(Object.keys(s.Condition?.StringEquals ?? {})).toContain('iam:PassedToService');
    }
    const stackRole = passing.find((s) => JSON.stringify(s.Resource).includes('StackExecutionRole'));
    expect(stackRole?.Condition.StringEquals['iam:PassedToService']).toBe('cloudformation.amazonaws.com');
    // Change sets only on tenant-* stacks and only with the execution role.
    const changeSets = statements.filter((s) => s.Effect === 'Allow' && asList(s.Action).some((a: string) => wildcard(a).test('cloudformation:CreateChangeSet')));
    expect(changeSets).toHaveLength(1);
    expect(changeSets[0]!.Resource['Fn::Sub']).toMatch(/:stack\/tenant-\*\/\*$/);
    expect(changeSets[0]!.Condition).toEqual({ StringEquals: { 'cloudformation:RoleArn': { 'Fn::GetAtt': 'StackExecutionRole.Arn' } } });
  });

  it('scopes deletes of ECS services and certificates to what the fleet tags', () => {
    const deleting = (action: string) => statements.filter((s) => s.Effect === 'Allow' && asList(s.Action).some((a: string) => wildcard(a).test(action)));
    expect(deleting('ecs:DeleteService').map((s) => s.Condition)).toEqual([{ Null: { 'aws:ResourceTag/TenantId': 'false' } }]);
    expect(deleting('acm:DeleteCertificate').map((s) => s.Condition)).toEqual([{ StringEquals: { 'aws:ResourceTag/tenant-fleet:managed-by': 'tenant-fleet' } }]);
    expect(deleting('route53:ChangeResourceRecordSets').map((s) => s.Resource)).toEqual([{ 'Fn::Sub': 'arn:${AWS::Partition}:route53:::hostedzone/${HostedZoneId}' }]);
  });
});
