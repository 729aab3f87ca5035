import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCallLog, type AwsCall } from '../sandbox/least-privilege/calls';
import { actionMatches, checkLeastPrivilege, parseUnused, roleNameOf } from '../sandbox/least-privilege/check';
import { templateRoles } from '../sandbox/least-privilege/template';
import { repoRoot } from '../sandbox/tools';

const TEMPLATE = `
Parameters:
  RoleName: { Type: String, Default: Fleet }
  ExternalId: { Type: String }
Resources:
  Boundary:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      ManagedPolicyName: !Sub "\${RoleName}-boundary"
      PolicyDocument:
        Statement:
          - { Effect: Allow, Action: ["cloudformation:*", "iam:PassRole", "ssm:*"], Resource: "*" }
  Executor:
    Type: AWS::IAM::Role
    Properties:
      RoleName: !Join ["-", [!Ref RoleName, executor]]
      AssumeRolePolicyDocument:
        Statement: [{ Effect: Allow, Principal: { AWS: !Ref ExternalId }, Action: sts:AssumeRole }]
      Policies:
        - PolicyName: stacks
          PolicyDocument: { Statement: [{ Effect: Allow, Action: "s3:*", Resource: "*" }] }
  Access:
    Type: AWS::IAM::Role
    Properties:
      RoleName: !Ref RoleName
      PermissionsBoundary: !Ref Boundary
      Policies:
        - PolicyName: fleet
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: [cloudformation:DescribeStacks, cloudformation:CreateChangeSet]
                Resource: !Sub "arn:\${AWS::Partition}:cloudformation:*:\${AWS::AccountId}:stack/tenant-*/*"
              - Effect: Allow
                Action: iam:PassRole
                Resource: !GetAtt Executor.Arn
              - Effect: Allow
                Action: ssm:GetParameter*
                Resource: "*"
`;

const rolesOf = (accountId: string) => templateRoles(TEMPLATE, 'test.yaml', { accountId, region: 'us-east-1' });
const call = (action: string, over: Partial<AwsCall> = {}): AwsCall => ({
  service: action.split(':')[0]!,
  action: action.split(':')[1]!,
  account: '111111111111',
  region: 'us-east-1',
  principalArn: 'arn:aws:sts::111111111111:assumed-role/Fleet/tenant-fleet-worker',
  allowed: true,
  source: 'calls.jsonl:1',
  ...over,
});
const everyGrantUsed = [call('cloudformation:DescribeStacks'), call('cloudformation:CreateChangeSet'), call('iam:PassRole'), call('ssm:GetParameters')];
const executorUnused = parseUnused('unused:\n  - { role: Executor, action: "*", reason: acts only inside CloudFormation }\n', 'u.yaml');

describe('resolving the template for an account', () => {
  it('turns !Sub, !Ref, !Join and !GetAtt into the concrete policies AWS would hold', () => {
    const [executor, access] = rolesOf('222222222222');
    expect(executor).toMatchObject({ logicalId: 'Executor', name: 'Fleet-executor', arn: 'arn:aws:iam::222222222222:role/Fleet-executor' });
    const statements = access!.policies[0]!.document.Statement as { Resource: string }[];
    expect(statements[0]!.Resource).toBe('arn:aws:cloudformation:*:222222222222:stack/tenant-*/*');
    expect(statements[1]!.Resource).toBe('arn:aws:iam::222222222222:role/Fleet-executor');
    expect(access!.permissionsBoundary?.name).toBe('Boundary');
  });

  it('names what it cannot resolve', () => {
    const broken = TEMPLATE.replace('!GetAtt Executor.Arn', '!GetAtt Missing.Arn');
    expect(() => templateRoles(broken, 'test.yaml', { accountId: '1', region: 'us-east-1' })).toThrow(/test\.yaml: Resources\.Access\.Properties\.Policies\[0\]\.PolicyDocument\.Statement\[1\]\.Resource: cannot resolve Missing\.Arn/);
  });

  it('resolves the fleet access role template of the repository for a sandbox account', () => {
    const path = join(repoRoot, 'infra', 'cloudformation', 'fleet-access-role.yaml');
    const roles = templateRoles(readFileSync(path, 'utf8'), path, { accountId: '111111111111', region: 'us-east-1' });
    expect(roles.map((r) => r.arn)).toContain('arn:aws:iam::111111111111:role/TenantFleetAccess');
    expect(JSON.stringify(roles)).not.toMatch(/Fn::|"Ref"|\$\{/);
  });
});

describe('the least-privilege check', () => {
  it('passes when every call is allowed and every grant is used or explained', async () => {
    const report = await checkLeastPrivilege(everyGrantUsed, rolesOf, executorUnused);
    expect(report).toMatchObject({ denied: [], invalid: [], stale: [], ok: true });
    expect(report.byRole.find((r) => r.role === 'Access')?.actions.get('cloudformation:DescribeStacks')).toBe(1);
  });

  it('flags a call the role’s policy does not allow, naming role, action and where it was logged', async () => {
    const outside = call('cloudformation:DeleteStack', { source: 'test-x/aws/calls.jsonl:7' });
    const otherStack = call('cloudformation:DescribeStacks', { resource: 'arn:aws:cloudformation:us-east-1:111111111111:stack/platform/1' });
    const report = await checkLeastPrivilege([...everyGrantUsed, outside, otherStack], rolesOf, executorUnused);
    expect(report.ok).toBe(false);
    expect(report.denied).toEqual([
      { role: 'Access', action: 'cloudformation:DeleteStack', count: 1, firstAt: 'test-x/aws/calls.jsonl:7' },
      expect.objectContaining({ role: 'Access', action: 'cloudformation:DescribeStacks', resource: 'arn:aws:cloudformation:us-east-1:111111111111:stack/platform/1' }),
    ]);
  });

  it('uses the condition keys the log recorded: absent or wrong is denied, unrecorded is only conditional', async () => {
    const guarded = TEMPLATE.replace(
      '                Action: iam:PassRole\n                Resource: !GetAtt Executor.Arn\n',
      '                Action: iam:PassRole\n                Resource: !GetAtt Executor.Arn\n                Condition: { StringEquals: { "iam:PassedToService": cloudformation.amazonaws.com } }\n',
    );
    expect(guarded).not.toBe(TEMPLATE);
    const roles = (a: string) => templateRoles(guarded, 't.yaml', { accountId: a, region: 'us-east-1' });
    const passRole = (context?: AwsCall['context']) => call('iam:PassRole', { resource: 'arn:aws:iam::111111111111:role/Fleet-executor', ...(context ? { context } : {}) });
    const verdicts = async (c: AwsCall) => {
      const report = await checkLeastPrivilege([...everyGrantUsed.filter((e) => e.action !== 'PassRole'), c], roles, executorUnused);
      return { denied: report.denied.length, conditional: report.conditional.length };
    };
    expect(await verdicts(passRole({ 'iam:PassedToService': 'cloudformation.amazonaws.com' }))).toEqual({ denied: 0, conditional: 0 });
    expect(await verdicts(passRole({ 'iam:PassedToService': 'ecs-tasks.amazonaws.com' }))).toEqual({ denied: 1, conditional: 0 });
    expect(await verdicts(passRole({ 'iam:PassedToService': null }))).toEqual({ denied: 1, conditional: 0 });
    expect(await verdicts(passRole())).toEqual({ denied: 0, conditional: 1 });
  });

  it('reports calls the simulator cannot type (ALB tagging) under their own heading, as using their grant', async () => {
    const tagging = TEMPLATE.replace('"cloudformation:*", ', '"cloudformation:*", "elasticloadbalancing:AddTags", ').replace(
      '                Action: ssm:GetParameter*\n',
      '                Action: [ssm:GetParameter*, elasticloadbalancing:AddTags]\n',
    );
    expect(tagging).not.toContain('Action: ssm:GetParameter*\n');
    const roles = (a: string) => templateRoles(tagging, 't.yaml', { accountId: a, region: 'us-east-1' });
    const addTags = call('elasticloadbalancing:AddTags', { resource: 'arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/tenant-acme/0123456789abcdef' });
    const report = await checkLeastPrivilege([...everyGrantUsed, addTags], roles, executorUnused);
    expect(report).toMatchObject({ ok: true, invalid: [], conditional: [], simulatorGaps: [expect.objectContaining({ role: 'Access', action: 'elasticloadbalancing:AddTags', count: 1 })] });
    expect(report.unused.map((u) => u.action)).not.toContain('elasticloadbalancing:AddTags');
  });

  it('applies the permissions boundary', async () => {
    const bounded = TEMPLATE.replace('"cloudformation:*", ', '');
    const report = await checkLeastPrivilege(everyGrantUsed, (a) => templateRoles(bounded, 't.yaml', { accountId: a, region: 'us-east-1' }), executorUnused);
    expect(report.denied.map((d) => d.action)).toEqual(['cloudformation:DescribeStacks', 'cloudformation:CreateChangeSet']);
  });

  it('flags a granted action no call uses unless it has a reason, and reports a reason for a used grant as stale', async () => {
    const withoutCreate = everyGrantUsed.filter((c) => c.action !== 'CreateChangeSet');
    const unexplained = await checkLeastPrivilege(withoutCreate, rolesOf, executorUnused);
    expect(unexplained.ok).toBe(false);
    expect(unexplained.unused).toContainEqual({ role: 'Access', action: 'cloudformation:CreateChangeSet' });

    const reason = parseUnused('unused:\n  - { role: Access, action: "cloudformation:CreateChangeSet", reason: kept for the next release }\n', 'u.yaml');
    expect(await checkLeastPrivilege(withoutCreate, rolesOf, [...executorUnused, ...reason])).toMatchObject({ ok: true, stale: [] });
    expect(await checkLeastPrivilege(everyGrantUsed, rolesOf, [...executorUnused, ...reason])).toMatchObject({ ok: true, stale: reason });
  });

  it('counts calls of other principals and calls the sandbox refused without judging them', async () => {
    const seeding = call('iam:CreateRole', { principalArn: 'arn:aws:iam::111111111111:root' });
    const refused = call('cloudformation:DeleteStack', { allowed: false });
    const report = await checkLeastPrivilege([...everyGrantUsed, seeding, refused], rolesOf, executorUnused);
    expect(report).toMatchObject({ ok: true, refusedBySandbox: 1 });
    expect([...report.otherPrincipals]).toEqual([['root', 1]]);
    const admin = call('sts:AssumeRole', { principalArn: 'arn:aws:sts::111111111111:assumed-role/OrganizationAccountAccessRole/seed-1' });
    expect([...(await checkLeastPrivilege([...everyGrantUsed, admin], rolesOf, executorUnused)).otherPrincipals]).toEqual([['assumed-role/OrganizationAccountAccessRole', 1]]);
  });
});

describe('call logs', () => {
  it('reads the emulator’s JSON lines and maps signing names to IAM prefixes', () => {
    const [parsed] = parseCallLog('{"service":"monitoring","action":"DescribeAlarms","account":"111111111111","principalArn":"arn:aws:sts::111111111111:assumed-role/R/s"}\n', 'c.jsonl');
    expect(parsed).toMatchObject({ service: 'monitoring', source: 'c.jsonl:1' });
  });

  it('refuses a line that is not a call record, naming the line and the field', () => {
    expect(() => parseCallLog('{"service":"s3","action":"GetObject","account":"12","principalArn":"x"}\n', 'c.jsonl')).toThrow(/c\.jsonl:1: not an AWS call record: account: expected a 12-digit account ID/);
  });

  it('knows role names and IAM action wildcards', () => {
    expect(roleNameOf('arn:aws:sts::111111111111:assumed-role/TenantFleetAccess/worker')).toBe('TenantFleetAccess');
    expect(roleNameOf('arn:aws:iam::111111111111:role/path/Name')).toBe('Name');
    expect(roleNameOf('arn:aws:iam::111111111111:root')).toBeUndefined();
    expect(actionMatches('ssm:GetParameter*', 'ssm:getparameters')).toBe(true);
    expect(actionMatches('ssm:GetParameter', 'ssm:GetParameters')).toBe(false);
  });
});
