/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-explicit-any -- the templates are untyped YAML documents, read here for their shape. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse, type Tags } from 'yaml';
import { TemplateStore } from '../../src/activities/templates';
import { TENANT_ID_PATTERN } from '../../src/shared/ids';

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

const template = (name: 'tenant' | 'fleet-access-role'): Json => parse(new TemplateStore().cloudFormation(name), { customTags: cfnTags }) as Json;
const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
const wildcard = (pattern: string) => new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i');

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

  it('lets only the tenant workload security group reach the database, never a network range', () => {
    const text = new TemplateStore().cloudFormation('tenant');
    expect(text).not.toMatch(/CidrIp/);
    expect(resources.DatabaseSecurityGroup!.Properties.SecurityGroupIngress).toBeUndefined();
    const ingress = Object.values(resources).filter((r) => r.Type === 'AWS::EC2::SecurityGroupIngress');
    expect(ingress).toEqual([
      expect.objectContaining({
        Properties: expect.objectContaining({
          GroupId: { 'Fn::GetAtt': 'DatabaseSecurityGroup.GroupId' },
          SourceSecurityGroupId: { 'Fn::GetAtt': 'AppSecurityGroup.GroupId' },
          FromPort: 5432,
        }),
      }),
    ]);
    expect(tenant.Outputs.AppSecurityGroupId.Value).toEqual({ 'Fn::GetAtt': 'AppSecurityGroup.GroupId' });
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
      'client-ecs': 'ecs',
      'client-elastic-load-balancing-v2': 'elasticloadbalancing',
      'client-rds': 'rds',
      'client-route-53': 'route53',
      'client-ssm': 'ssm',
    };
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((entry) => (statSync(join(dir, entry)).isDirectory() ? files(join(dir, entry)) : entry.endsWith('.ts') ? [join(dir, entry)] : []));
    const actions = new Set<string>();
    for (const file of [...files(join(__dirname, '..', '..', 'src', 'activities')), ...files(join(__dirname, '..', '..', 'src', 'client'))]) {
      const source = readFileSync(file, 'utf8');
      for (const [, names, pkg] of source.matchAll(/import\s*{([^}]*)}\s*from\s*'@aws-sdk\/(client-[a-z0-9-]+)'/g)) {
        const prefix = prefixes[pkg!];
        if (!prefix) continue;
        for (const name of names!.split(',').map((n) => n.replace(/^\s*type\s+/, '').trim())) {
          if (/Command$/.test(name) && source.includes(`new ${name}(`)) actions.add(`${prefix}:${name.replace(/Command$/, '')}`);
        }
      }
    }
    return [...actions].sort();
  }

  it('grants every action the code calls with the access role', () => {
    const called = actionsTheCodeCalls();
    expect(called).toEqual(expect.arrayContaining(['cloudformation:CreateChangeSet', 'rds:ModifyDBCluster', 'ssm:DeleteParameters', 'acm:ListTagsForCertificate']));
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
