/* eslint-disable @typescript-eslint/unbound-method -- the activity factories return plain closures that never use `this`. */
import { CloudFormationClient, CloudFormationServiceException, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeListenerCertificatesCommand, ElasticLoadBalancingV2Client, ListenerNotFoundException } from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  CreateDBClusterSnapshotCommand,
  DescribeDBClusterSnapshotsCommand,
  DBClusterSnapshotNotFoundFault,
  RDSClient,
  RDSServiceException,
  SnapshotQuotaExceededFault,
} from '@aws-sdk/client-rds';
import { ApplicationFailure } from '@temporalio/common';
import { quietActivityEnvironment } from '../support/mock-activity';
import { mockClient } from 'aws-sdk-client-mock';
import { createAwsActivities } from '../../src/activities';
import { AwsClients } from '../../src/activities/aws/clients';
import { classifyAwsError } from '../../src/activities/aws/errors';
import { TemplateStore } from '../../src/activities/templates';
import { ErrorType } from '../../src/shared/errors';
import type { AwsTarget } from '../../src/shared/tenant-spec';

/*
 * AWS's fault shapes that no sandbox gives on demand: each kind is classified once
 * (src/activities/aws/errors.ts) and reaches Temporal as a typed failure naming the call,
 * the account, the region and the resource.
 */
const target: AwsTarget = { accountId: '123456789012', region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/TenantFleetAccess', externalId: 'ext' };
const rdsFault = (name: string, status: number, fault: 'client' | 'server' = 'client') =>
  new RDSServiceException({ name, $fault: fault, $metadata: { httpStatusCode: status }, message: `${name} from AWS` });

const rds = mockClient(RDSClient);
const cfn = mockClient(CloudFormationClient);
const elb = mockClient(ElasticLoadBalancingV2Client);
let clients: AwsClients;
let activities: ReturnType<typeof createAwsActivities>;

beforeEach(() => {
  rds.reset();
  cfn.reset();
  elb.reset();
  clients = new AwsClients({ baseCredentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' } });
  activities = createAwsActivities({ aws: clients, templates: new TemplateStore() });
  rds.on(DescribeDBClusterSnapshotsCommand).rejects(new DBClusterSnapshotNotFoundFault({ message: 'not there yet', $metadata: { httpStatusCode: 404 } }));
});
afterEach(() => clients.destroy());

const snapshot = () =>
  quietActivityEnvironment()
    .run(activities.snapshotCluster, { target, clusterIdentifier: 'tenant-acme-db', snapshotIdentifier: 'pre-r1-acme-0a1b2c3d' })
    .then(
      () => undefined,
      (error: unknown) => error,
    );

describe('AWS errors at the activity boundary', () => {
  it.each([
    ['AccessDenied', ErrorType.AccessDenied, 403, /was denied: AccessDenied/],
    ['InvalidParameterValue', ErrorType.AwsRequestInvalid, 400, /was refused as invalid/],
    ['SnapshotQuotaExceeded', ErrorType.QuotaExceeded, 400, /hit a quota/],
  ])('%s fails at once, non-retryable, typed %s, naming call, account, region and resource', async (name, type, status, says) => {
    rds.on(CreateDBClusterSnapshotCommand).rejects(name === 'SnapshotQuotaExceeded' ? new SnapshotQuotaExceededFault({ message: 'quota of 100', $metadata: { httpStatusCode: status } }) : rdsFault(name, status));
    const failure = await snapshot();
    expect(failure).toBeInstanceOf(ApplicationFailure);
    const f = failure as ApplicationFailure;
    expect(f).toMatchObject({ type, nonRetryable: true });
    expect(f.message).toMatch(says);
    expect(f.message).toContain('rds:CreateDBClusterSnapshot in account 123456789012 eu-west-1');
    expect(f.message).toContain('DBClusterSnapshotIdentifier=pre-r1-acme-0a1b2c3d');
    expect(f.message).toContain('DBClusterIdentifier=tenant-acme-db');
    // The SDK's own error stays the cause.
    expect(f.cause?.message).toMatch(/from AWS|quota of 100/);
  });

  it('a resource that must exist and does not fails at once as ResourceNotFound', async () => {
    elb.on(DescribeListenerCertificatesCommand).rejects(new ListenerNotFoundException({ message: 'One or more listeners not found', $metadata: { httpStatusCode: 400 } }));
    const listenerArn = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/alb/1/2';
    const failure = await quietActivityEnvironment().run(activities.listListenerCertificates, { target, listenerArn }).catch((e: unknown) => e);
    expect(failure).toMatchObject({ type: ErrorType.ResourceNotFound, nonRetryable: true });
    expect((failure as Error).message).toContain(`elasticloadbalancing:DescribeListenerCertificates in account 123456789012 eu-west-1 on ListenerArn=${listenerArn}`);
  });

  it.each([
    ['throttling', rdsFault('Throttling', 400), ErrorType.AwsThrottled],
    ['a 5xx', rdsFault('InternalFailure', 503, 'server'), ErrorType.AwsUnavailable],
  ])('%s is retried (typed, retryable, still naming the call)', async (_, fault, type) => {
    rds.on(CreateDBClusterSnapshotCommand).rejects(fault);
    const failure = await snapshot();
    expect(failure).toMatchObject({ type, nonRetryable: false });
    expect((failure as Error).message).toContain('rds:CreateDBClusterSnapshot in account 123456789012 eu-west-1');
  });

  it('an error of no known kind (a conflict with an operation in progress) is left as it is, to retry', async () => {
    rds.on(CreateDBClusterSnapshotCommand).rejects(rdsFault('InvalidDBClusterStateFault', 400));
    const failure = await snapshot();
    expect(failure).not.toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ name: 'InvalidDBClusterStateFault' });
  });

  it('errors an activity expects are still handled by it (a missing stack is no failure)', async () => {
    cfn.on(DescribeStacksCommand).rejects(new CloudFormationServiceException({ name: 'ValidationError', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'Stack with id tenant-acme does not exist' }));
    await expect(quietActivityEnvironment().run(activities.getStackOutputs, { target, stackName: 'tenant-acme' })).resolves.toBeUndefined();
  });
});

describe('classifyAwsError', () => {
  const shaped = (name: string, message = '', status = 400) => ({ name, message, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status } });
  it.each([
    ['ValidationError "Stack:arn:... is in UPDATE_IN_PROGRESS s"', 'other', shaped('ValidationError', 'Stack:arn:... is in UPDATE_IN_PROGRESS state and can not be updated.')],
    ['ValidationError "Stack with id tenant-x does not exist"', 'not-found', shaped('ValidationError', 'Stack with id tenant-x does not exist')],
    ['ValidationError "Template format error"', 'validation', shaped('ValidationError', 'Template format error')],
    ['RequestLimitExceeded', 'throttling', shaped('RequestLimitExceeded')],
    ['TooManyRequestsException', 'throttling', shaped('TooManyRequestsException', '', 429)],
    ['LimitExceededException', 'quota', shaped('LimitExceededException')],
    ['TooManyCertificatesException', 'quota', shaped('TooManyCertificatesException')],
    ['DBClusterNotFoundFault', 'not-found', shaped('DBClusterNotFoundFault', '', 404)],
    ['AccessDeniedException', 'access-denied', shaped('AccessDeniedException')],
    ['SomethingNew', 'access-denied', shaped('SomethingNew', '', 403)],
    ['ServiceUnavailable', 'server', shaped('ServiceUnavailable', '', 503)],
    ['a network error', 'other', new Error('socket hang up')],
  ])('%s is classified as %s', (_, kind, error) => {
    expect(classifyAwsError(error)).toBe(kind);
  });
});
