/* eslint-disable @typescript-eslint/unbound-method -- the activity factories return plain closures that never use `this`. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CloudFormationClient,
  CreateChangeSetCommand,
  DescribeChangeSetCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
  GetTemplateCommand,
} from '@aws-sdk/client-cloudformation';
import { ApplicationFailure } from '@temporalio/common';
import { mockClient } from 'aws-sdk-client-mock';
import { parse, stringify } from 'yaml';
import { createAwsActivities } from '../../src/activities';
import { AwsClients } from '../../src/activities/aws/clients';
import { TemplateStore, templateRevision } from '../../src/activities/templates';
import { releaseTemplateOption } from '../../src/client/release-template';
import { planRelease } from '../../src/client/releases';
import { parseFleetConfig } from '../../src/shared/config/load';
import { ErrorType } from '../../src/shared/errors';
import { describeChanges, describeRefusal, refusedChanges, releaseChangeSetName, type StackChangeLine } from '../../src/shared/release/stack-change';
import type { AwsTarget } from '../../src/shared/tenant-spec';
import { quietActivityEnvironment } from '../support/mock-activity';
import { refusal } from '../support/refusal';

const database: StackChangeLine = { logicalId: 'Database', resourceType: 'AWS::RDS::DBCluster', action: 'replace', replacement: 'True' };
const bucket: StackChangeLine = { logicalId: 'Bucket', resourceType: 'AWS::S3::Bucket', action: 'modify', replacement: 'False' };
const alarm: StackChangeLine = { logicalId: 'ErrorAlarm', resourceType: 'AWS::CloudWatch::Alarm', action: 'replace', replacement: 'True' };

describe('refusing replacements of stateful resources', () => {
  it('refuses a replaced, possibly replaced or removed database or bucket, unless allowed by name; anything else passes', () => {
    const conditional: StackChangeLine = { ...bucket, action: 'modify', replacement: 'Conditional' };
    const removed: StackChangeLine = { logicalId: 'Writer', resourceType: 'AWS::RDS::DBInstance', action: 'remove' };
    expect(refusedChanges([database, bucket, alarm])).toEqual([database]);
    expect(refusedChanges([conditional, removed])).toEqual([conditional, removed]);
    expect(refusedChanges([database, conditional], ['Database'])).toEqual([conditional]);
    expect(refusedChanges([database, conditional], ['Database', 'Bucket'])).toEqual([]);
    expect(refusedChanges([{ ...database, action: 'add' }, alarm, bucket])).toEqual([]);
  });

  it('names each refused resource with its type, and how a release allows it', () => {
    const message = describeRefusal('tenant-acme', 'tenant-fleet-release-0a1b2c3d', [database]);
    expect(message).toContain('Database (AWS::RDS::DBCluster) would be replaced');
    expect(message).toContain('options.template.allowReplacement: ["Database"]');
    expect(describeChanges([bucket, alarm])).toBe('modify Bucket (AWS::S3::Bucket), replace ErrorAlarm (AWS::CloudWatch::Alarm)');
  });

  it('names one change set per release and tenant, within the access role’s tenant-fleet-*', () => {
    expect(releaseChangeSetName('r-1', 'acme')).toBe(releaseChangeSetName('r-1', 'acme'));
    expect(releaseChangeSetName('r-1', 'acme')).not.toBe(releaseChangeSetName('r-2', 'acme'));
    expect(releaseChangeSetName('r-1', 'acme')).toMatch(/^tenant-fleet-release-[0-9a-f]{8}$/);
  });
});

const EXAMPLE = readFileSync(join(__dirname, '..', '..', 'config', 'fleet.example.yaml'), 'utf8');
const request = { releaseId: 'r-1', version: '2.0.0', plan: 'standard', requestedBy: 'unit' };

describe('a release carrying the tenant template: its input', () => {
  const tenantTemplate = new TemplateStore().cloudFormation('tenant');

  it('carries the revision of this installation’s template and the resources it may replace', () => {
    expect(releaseTemplateOption(['DatabaseCluster'])).toEqual({ revision: templateRevision(tenantTemplate), allowReplacement: ['DatabaseCluster'] });
    const planned = planRelease(parseFleetConfig(EXAMPLE), { ...request, options: { template: releaseTemplateOption() } });
    expect(planned.options.template).toEqual({ revision: templateRevision(tenantTemplate) });
  });

  it('refuses, naming field and value, a resource that is not a stateful resource of the template, and a malformed revision', () => {
    const problems = refusal(() => releaseTemplateOption(['DatabaseCluster', 'Nope', 'ErrorAlarm']));
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^template\.allowReplacement\[1\]: not a stateful resource of the tenant template; expected one of: .*DatabaseCluster \(AWS::RDS::DBCluster\).*DataBucket \(AWS::S3::Bucket\) \(got "Nope"\)$/);
    expect(problems[1]).toMatch(/^template\.allowReplacement\[2\]: .*\(got "ErrorAlarm"\)$/);
    const bad = refusal(() => planRelease(parseFleetConfig(EXAMPLE), { ...request, options: { template: { revision: 'abc' } } }));
    expect(bad.join('\n')).toMatch(/options\.template\.revision: expected the SHA-256 of the tenant template, 64 lowercase hex digits.*"abc"/);
  });

  it('refuses a plan that releases a selected tenant blue/green', () => {
    const config = parse(EXAMPLE) as { releasePlans: Record<string, unknown>[]; loadBalancers: Record<string, unknown>[] };
    config.loadBalancers[0]!.testListenerArn = String(config.loadBalancers[0]!.listenerArn).replace(/[^/]+$/, '0c1d2e3f4a5b6c7d');
    config.releasePlans[0]!.strategyByEnvironment = { staging: { type: 'blueGreen', steps: [{ weight: 100, bake: '1m' }], blueRetention: '1h' } };
    const parsed = parseFleetConfig(stringify(config));
    const template = releaseTemplateOption();
    expect(refusal(() => planRelease(parsed, { ...request, options: { template } }))).toEqual([
      `template: plan "standard" releases "globex" blue/green, which changes no stack yet; expected a rolling strategy for a release carrying the tenant template, or narrow it with --tenants/--env (got template revision ${template.revision.slice(0, 12)})`,
    ]);
  });
});

describe('prepareStackChange', () => {
  const target: AwsTarget = { accountId: '123456789012', region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/TenantFleetAccess', externalId: 'ext', stackRoleArn: 'arn:aws:iam::123456789012:role/stacks' };
  const cfn = mockClient(CloudFormationClient);
  let clients: AwsClients;
  let activities: ReturnType<typeof createAwsActivities>;
  const revision = templateRevision(new TemplateStore().cloudFormation('tenant'));
  const input = { target, stackName: 'tenant-acme', revision, changeSetName: 'tenant-fleet-release-0a1b2c3d', parameters: { TenantId: 'acme' }, tags: { TenantId: 'acme' } };
  const failureOf = (run: Promise<unknown>) =>
    run.then(
      () => undefined,
      (error: unknown) => error as ApplicationFailure,
    );

  beforeEach(() => {
    cfn.reset();
    clients = new AwsClients({ baseCredentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' } });
    activities = createAwsActivities({ aws: clients, templates: new TemplateStore() });
    cfn.on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'tenant-acme', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(), Parameters: [{ ParameterKey: 'TenantId', ParameterValue: 'acme' }] }] });
    cfn.on(GetTemplateCommand).resolves({ TemplateBody: 'previous: template' });
    cfn.on(CreateChangeSetCommand).resolves({});
    cfn.on(DescribeChangeSetCommand).resolves({
      Status: 'CREATE_COMPLETE',
      ExecutionStatus: 'AVAILABLE',
      Changes: [
        { Type: 'Resource', ResourceChange: { Action: 'Modify', LogicalResourceId: 'Database', ResourceType: 'AWS::RDS::DBCluster', Replacement: 'True' } },
        { Type: 'Resource', ResourceChange: { Action: 'Modify', LogicalResourceId: 'Writer', ResourceType: 'AWS::RDS::DBInstance', Replacement: 'False' } },
      ],
    });
  });
  afterEach(() => clients.destroy());

  it('refuses a replaced database, nonRetryable and typed, naming its logical ID and type; executes nothing', async () => {
    const failure = await failureOf(quietActivityEnvironment().run(activities.prepareStackChange, input));
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect({ type: failure?.type, nonRetryable: failure?.nonRetryable, message: failure?.message }).toMatchObject({
      type: ErrorType.StatefulReplacementRefused,
      nonRetryable: true,
      message: expect.stringContaining('Database (AWS::RDS::DBCluster) would be replaced') as unknown,
    });
    expect(cfn.commandCalls(ExecuteChangeSetCommand)).toHaveLength(0);
  });

  it('returns the changes and the stack before them when the release allows the replacement, under the release’s change set name', async () => {
    const prepared = await quietActivityEnvironment().run(activities.prepareStackChange, { ...input, allowReplacement: ['Database'] });
    expect(prepared).toEqual({
      changeSet: input.changeSetName,
      revision,
      state: 'changes',
      changes: [
        { logicalId: 'Database', resourceType: 'AWS::RDS::DBCluster', action: 'replace', replacement: 'True' },
        { logicalId: 'Writer', resourceType: 'AWS::RDS::DBInstance', action: 'modify', replacement: 'False' },
      ],
      previous: { templateBody: 'previous: template', parameters: { TenantId: 'acme' } },
    });
    expect(cfn.commandCalls(CreateChangeSetCommand)[0]?.args[0].input).toMatchObject({ ChangeSetName: input.changeSetName, ChangeSetType: 'UPDATE' });
  });

  it('refuses a release whose template revision is not the worker’s, before creating anything', async () => {
    const failure = await failureOf(quietActivityEnvironment().run(activities.prepareStackChange, { ...input, revision: 'f'.repeat(64) }));
    expect({ type: failure?.type, nonRetryable: failure?.nonRetryable }).toEqual({ type: ErrorType.InvalidInput, nonRetryable: true });
    expect(failure?.message).toMatch(/^template\.revision: the worker's tenant template is revision [0-9a-f]{12}, the release carries ffffffffffff/);
    expect(cfn.commandCalls(CreateChangeSetCommand)).toHaveLength(0);
  });
});
