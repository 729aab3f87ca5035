/* eslint-disable @typescript-eslint/unbound-method -- the activity factories return plain closures that never use `this`. */
import {
  CloudFormationClient,
  CreateChangeSetCommand,
  DeleteStackCommand,
  DescribeChangeSetCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
  type CreateChangeSetCommandInput,
} from '@aws-sdk/client-cloudformation';
import { GetBucketTaggingCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { mockClient } from 'aws-sdk-client-mock';
import { createAwsActivities } from '../../src/activities';
import { AwsClients } from '../../src/activities/aws/clients';
import type { DeployStackResult } from '../../src/activities/cloudformation';
import { importTemplate, retainedBuckets } from '../../src/activities/cloudformation-import';
import { TemplateStore } from '../../src/activities/templates';
import { ErrorType } from '../../src/shared/errors';
import type { AwsTarget } from '../../src/shared/tenant-spec';
import { quietActivityEnvironment } from '../support/mock-activity';

const target: AwsTarget = { accountId: '123456789012', region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/TenantFleetAccess', externalId: 'ext', stackRoleArn: 'arn:aws:iam::123456789012:role/stacks' };
const BUCKET = 'tenant-acme-123456789012';
const tenantTemplate = new TemplateStore().cloudFormation('tenant');
const parameters = { TenantId: 'acme', Environment: 'staging', Runtime: 'ecs', VpcId: 'vpc-1', SubnetIds: 'subnet-1,subnet-2', DatabaseInstanceClass: 'db.t4g.medium' };

describe('retained buckets of the tenant template', () => {
  it('finds DataBucket (DeletionPolicy Retain) under the name the stack gives it', () => {
    expect(retainedBuckets(tenantTemplate, parameters, target)).toEqual([{ logicalId: 'DataBucket', bucketName: BUCKET }]);
    expect(retainedBuckets(new TemplateStore().cloudFormation('tenant-traffic'), parameters, target)).toEqual([]);
  });

  it('imports with a template of only that bucket, as the full template has it, and every parameter', () => {
    const body = JSON.parse(importTemplate(tenantTemplate, ['DataBucket'])) as { Parameters: Record<string, unknown>; Resources: Record<string, { DeletionPolicy?: string; Properties: { BucketName: unknown } }> };
    expect(Object.keys(body.Resources)).toEqual(['DataBucket']);
    expect(body.Resources.DataBucket).toMatchObject({ DeletionPolicy: 'Retain', Properties: { BucketName: { 'Fn::Sub': 'tenant-${TenantId}-${AWS::AccountId}' } } });
    expect(Object.keys(body.Parameters)).toEqual(expect.arrayContaining(Object.keys(parameters)));
  });
});

/** A tenant account as CloudFormation and S3 would answer, enough for deployStack. */
class Account {
  stack?: { status: string; id: string };
  changeSets = new Map<string, { type: string; executed: boolean }>();
  bucket?: { owner: string; tags: Record<string, string> };

  status(): string | undefined {
    return this.stack?.status;
  }
}

describe('deployStack of a stack whose retained bucket exists', () => {
  const cfn = mockClient(CloudFormationClient);
  const s3 = mockClient(S3Client);
  const input = { target, stackName: 'tenant-acme', template: 'tenant' as const, parameters, tags: { TenantId: 'acme' } };
  let account: Account;
  let clients: AwsClients;
  let activities: ReturnType<typeof createAwsActivities>;
  const deploy = async (): Promise<DeployStackResult> => {
    const result: unknown = await quietActivityEnvironment().run(activities.deployStack, input);
    return result as DeployStackResult;
  };
  const failureOf = (run: Promise<unknown>) =>
    run.then(
      () => undefined,
      (error: unknown) => error as ApplicationFailure,
    );
  const created = () => cfn.commandCalls(CreateChangeSetCommand).map((c) => c.args[0].input);
  const executed = () => cfn.commandCalls(ExecuteChangeSetCommand).map((c) => c.args[0].input.ChangeSetName);

  beforeEach(() => {
    cfn.reset();
    s3.reset();
    account = new Account();
    account.bucket = { owner: target.accountId, tags: { TenantId: 'acme', Environment: 'staging' } };
    cfn.on(DescribeStacksCommand).callsFake(() => {
      if (!account.stack) throw Object.assign(new Error('Stack with id tenant-acme does not exist'), { name: 'ValidationError' });
      return { Stacks: [{ StackName: 'tenant-acme', StackId: account.stack.id, StackStatus: account.stack.status, CreationTime: new Date(), Parameters: [] }] };
    });
    cfn.on(DescribeStackEventsCommand).resolves({ StackEvents: [] });
    cfn.on(CreateChangeSetCommand).callsFake((cs: CreateChangeSetCommandInput) => {
      if (account.changeSets.has(cs.ChangeSetName!)) throw Object.assign(new Error('exists'), { name: 'AlreadyExistsException' });
      if (cs.ChangeSetType === 'UPDATE' && !account.stack) throw Object.assign(new Error('Stack [tenant-acme] does not exist'), { name: 'ValidationError' });
      if (cs.ChangeSetType !== 'UPDATE' && account.stack && account.stack.status !== 'REVIEW_IN_PROGRESS') throw Object.assign(new Error('already exists'), { name: 'ValidationError' });
      if (cs.ChangeSetType === 'CREATE' && account.bucket) throw new Error('the test expected no CREATE change set while the bucket exists');
      account.stack ??= { status: 'REVIEW_IN_PROGRESS', id: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/tenant-acme/1' };
      account.changeSets.set(cs.ChangeSetName!, { type: cs.ChangeSetType!, executed: false });
      return { Id: cs.ChangeSetName, StackId: account.stack.id };
    });
    cfn.on(DescribeChangeSetCommand).callsFake(({ ChangeSetName }: { ChangeSetName: string }) => {
      const cs = account.changeSets.get(ChangeSetName);
      if (!cs) throw Object.assign(new Error('not found'), { name: 'ChangeSetNotFoundException' });
      return { Status: 'CREATE_COMPLETE', ExecutionStatus: cs.executed ? 'EXECUTE_COMPLETE' : 'AVAILABLE', StackId: account.stack?.id, ChangeSetType: cs.type };
    });
    cfn.on(ExecuteChangeSetCommand).callsFake(({ ChangeSetName }: { ChangeSetName: string }) => {
      const cs = account.changeSets.get(ChangeSetName)!;
      cs.executed = true;
      account.stack!.status = { IMPORT: 'IMPORT_COMPLETE', CREATE: 'CREATE_COMPLETE', UPDATE: 'UPDATE_COMPLETE' }[cs.type]!;
      return {};
    });
    cfn.on(DeleteStackCommand).callsFake(() => {
      account.stack = undefined;
      return {};
    });
    s3.on(HeadBucketCommand).callsFake(({ Bucket, ExpectedBucketOwner }: { Bucket: string; ExpectedBucketOwner?: string }) => {
      if (Bucket !== BUCKET || !account.bucket) throw Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
      if (ExpectedBucketOwner !== account.bucket.owner) throw Object.assign(new Error('Forbidden'), { name: 'Forbidden', $metadata: { httpStatusCode: 403 } });
      return {};
    });
    s3.on(GetBucketTaggingCommand).callsFake(() => {
      const tags = Object.entries(account.bucket?.tags ?? {});
      if (tags.length === 0) throw Object.assign(new Error('The TagSet does not exist'), { name: 'NoSuchTagSet', $metadata: { httpStatusCode: 404 } });
      return { TagSet: tags.map(([Key, Value]) => ({ Key, Value })) };
    });
    clients = new AwsClients({ baseCredentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' } });
    activities = createAwsActivities({ aws: clients, templates: new TemplateStore() });
  });
  afterEach(() => clients.destroy());

  it('imports the tenant’s bucket into a new stack first, then updates the stack to the full template', async () => {
    const result = await deploy();
    const [importing, updating, ...more] = created();
    expect(more).toEqual([]);
    expect(importing).toMatchObject({
      ChangeSetType: 'IMPORT',
      ChangeSetName: expect.stringMatching(/^tenant-fleet-import-[0-9a-f]{16}$/) as unknown,
      RoleARN: target.stackRoleArn,
      ResourcesToImport: [{ ResourceType: 'AWS::S3::Bucket', LogicalResourceId: 'DataBucket', ResourceIdentifier: { BucketName: BUCKET } }],
    });
    expect(Object.keys((JSON.parse(importing!.TemplateBody!) as { Resources: object }).Resources)).toEqual(['DataBucket']);
    expect(updating).toMatchObject({ ChangeSetType: 'UPDATE', TemplateBody: tenantTemplate });
    expect(executed()).toEqual([importing!.ChangeSetName, updating!.ChangeSetName]);
    expect(result).toMatchObject({ operation: 'create', imported: [BUCKET], changeSetName: updating!.ChangeSetName });
    expect(account.status()).toBe('UPDATE_COMPLETE');
  });

  it('refuses a bucket of that name that is not the tenant’s before creating anything, naming it and why', async () => {
    for (const [bucket, why] of [
      [{ owner: target.accountId, tags: { TenantId: 'globex' } }, 'its TenantId tag is globex (expected acme)'],
      [{ owner: target.accountId, tags: {} }, 'it has no TenantId tag (expected acme)'],
      [{ owner: '210987654321', tags: { TenantId: 'acme' } }, 'not owned by account 123456789012'],
    ] as const) {
      account.bucket = bucket;
      const failure = await failureOf(deploy());
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect({ type: failure?.type, nonRetryable: failure?.nonRetryable }).toEqual({ type: ErrorType.ResourceNotOwned, nonRetryable: true });
      expect(failure?.message).toContain(`bucket ${BUCKET} (DataBucket)`);
      expect(failure?.message).toContain(why);
    }
    expect(created()).toEqual([]);
    expect(account.stack).toBeUndefined();
  });

  it('creates the stack as before when no bucket of that name exists', async () => {
    account.bucket = undefined;
    const result = await deploy();
    expect(created().map((c) => c.ChangeSetType)).toEqual(['CREATE']);
    expect(result.operation).toBe('create');
    expect(result.imported).toBeUndefined();
  });

  it('is safe twice: a second run imports nothing more and executes nothing more', async () => {
    await deploy();
    const executions = executed().length;
    const again = await deploy();
    expect(created().filter((c) => c.ChangeSetType === 'IMPORT')).toHaveLength(1);
    expect(executed()).toHaveLength(executions);
    expect(again.imported).toBeUndefined();
  });

  it('after an attempt that created the import change set and stopped, executes that change set (no second one)', async () => {
    account.bucket!.tags = { TenantId: 'acme' };
    // The first attempt: its import change set exists, the stack waits for it.
    cfn.on(ExecuteChangeSetCommand).rejectsOnce(new Error('worker lost'));
    await expect(deploy()).rejects.toThrow();
    expect(account.status()).toBe('REVIEW_IN_PROGRESS');
    cfn.on(ExecuteChangeSetCommand).callsFake(({ ChangeSetName }: { ChangeSetName: string }) => {
      const cs = account.changeSets.get(ChangeSetName)!;
      cs.executed = true;
      account.stack!.status = { IMPORT: 'IMPORT_COMPLETE', CREATE: 'CREATE_COMPLETE', UPDATE: 'UPDATE_COMPLETE' }[cs.type]!;
      return {};
    });
    const result = await deploy();
    const imports = created().filter((c) => c.ChangeSetType === 'IMPORT');
    // The retry asked for the same change set, found it, and executed it once.
    expect(new Set(imports.map((c) => c.ChangeSetName)).size).toBe(1);
    expect(executed().filter((name) => name === imports[0]!.ChangeSetName)).toHaveLength(2);
    expect([...account.changeSets.values()].filter((cs) => cs.type === 'IMPORT' && cs.executed)).toHaveLength(1);
    expect(result).toMatchObject({ operation: 'create', imported: [BUCKET] });
    expect(account.status()).toBe('UPDATE_COMPLETE');
  });

  it('after an attempt that imported and stopped before the update, only updates (still a creation)', async () => {
    account.stack = { status: 'IMPORT_COMPLETE', id: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/tenant-acme/1' };
    const result = await deploy();
    expect(created().map((c) => c.ChangeSetType)).toEqual(['UPDATE']);
    expect(result.operation).toBe('create');
    expect(account.status()).toBe('UPDATE_COMPLETE');
  });
});
