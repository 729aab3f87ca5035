import { DescribeDBClustersCommand, DescribeDBClusterSnapshotsCommand, DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import { DescribeServicesCommand, DescribeTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { DescribeRulesCommand, DescribeTargetGroupAttributesCommand, DescribeTargetGroupsCommand, DescribeTargetHealthCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { GetParameterCommand, GetParametersByPathCommand, ParameterNotFound, PutParameterCommand } from '@aws-sdk/client-ssm';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { DescribeStackResourceCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../src/shared/errors';
import { deprovisionTenant, provisionTenant } from '../../src/client/tenants';
import { stackNameFor, workflowIds } from '../../src/shared/ids';
import type { DeprovisionTenantInput, ProvisionTenantInput } from '../../src/shared/messages/provisioning';
import { TASK_QUEUES } from '../../src/shared/task-queues';
import type { TenantSpec } from '../../src/shared/tenant-spec';
import { trafficStackNameFor } from '../../src/workflows/tenant-footprint';
import { request } from 'node:http';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { INFRA_DIR, TemplateStore } from '../../src/activities/templates';
import { releaseTemplateOption } from '../../src/client/release-template';
import { abortRelease, approveRelease, releaseOutcome, releaseProgress, startRelease } from '../../src/client/releases';
import type { ReleaseTenantResult } from '../../src/shared/messages/release';
import type { ReleaseManifest } from '../../src/shared/release/manifest';
import type { ReleaseTarget } from '../../src/activities/runtime/types';
import { runCliCaptured } from '../support/cli';
import { tempDir } from '../support/temp-dir';
import { resolveTenantEndpoint } from '../sandbox/data-plane/resolve';
import { startHarness, type Harness } from './harness';
import { TEST_SANDBOX_DIR } from './sandbox-env';
import { replayAndMaybeRecord } from './histories';
import { databaseSources } from './database-reach';
import { releaseOneTenant, runningLine, threeServiceManifest } from './three-services';
import { until } from './until';

let h: Harness;
/** The AWS workers' templates: a copy the template release test edits, as a new checkout of the repo would bring. */
const templatesDir = tempDir('tenant-fleet-templates-');
cpSync(join(INFRA_DIR, 'cloudformation'), templatesDir, { recursive: true });
beforeAll(async () => {
  h = await startHarness({ templatesDir });
});
afterAll(async () => {
  await h?.stop();
});

const provision = (tenant: TenantSpec, extra: Partial<ProvisionTenantInput> = {}) =>
  provisionTenant(h.client, { tenant, requestedBy: 'jest', ...extra });
const deprovision = (tenant: TenantSpec, extra: Partial<DeprovisionTenantInput> = {}) =>
  deprovisionTenant(h.client, { tenant, requestedBy: 'jest', ...extra });

/** A failure's message with its causes' (a failed workflow's reason is its cause's). */
const causesOf = (error: unknown): string => {
  const messages: string[] = [];
  for (let e = error as Error | undefined; e; e = e.cause as Error | undefined) messages.push(e.message);
  return messages.join(' <- ');
};

async function stackStatus(tenant: TenantSpec): Promise<string | undefined> {
  try {
    const { Stacks } = await h.admin.cloudFormation(tenant.aws).send(new DescribeStacksCommand({ StackName: stackNameFor(tenant.id) }));
    return Stacks?.[0]?.StackStatus;
  } catch (error) {
    if (/does not exist/.test((error as Error).message)) return undefined;
    throw error;
  }
}

/** The listener rules that match one of the tenant's hostnames. */
async function rulesFor(tenant: TenantSpec) {
  const lb = tenant.loadBalancer!;
  const { Rules = [] } = await h.admin.elbv2(lb.aws).send(new DescribeRulesCommand({ ListenerArn: lb.listenerArn }));
  return Rules.filter((r) => r.Conditions?.some((c) => c.HostHeaderConfig?.Values?.some((v) => tenant.hostnames.includes(v))));
}

async function trafficOutputs(tenant: TenantSpec): Promise<Record<string, string> | undefined> {
  try {
    const { Stacks } = await h.admin.cloudFormation(tenant.loadBalancer!.aws).send(new DescribeStacksCommand({ StackName: trafficStackNameFor(tenant.id) }));
    return Object.fromEntries((Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey!, o.OutputValue!]));
  } catch (error) {
    if (/does not exist/.test((error as Error).message)) return undefined;
    throw error;
  }
}

/** Waits until the load balancer emulator has applied every ELBv2 write made so far (its pushes carry the generation it read). */
async function emulatorCaughtUp(): Promise<void> {
  const counter = async () => (await (await fetch(`${h.env.TENANT_FLEET_DIRECT_AWS_ENDPOINT_URL ?? h.env.AWS_ENDPOINT_URL}/_sandbox/elbv2/generation`)).json()) as { generation: number; pushed: number };
  const { generation } = await counter();
  const deadline = Date.now() + 15_000;
  while ((await counter()).pushed < generation) {
    if (Date.now() > deadline) throw new Error(`the load balancer emulator has not caught up with ELBv2 generation ${generation}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** One request through the load balancer emulator, as a client of the hostname sends it. */
function get(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const cause = (error as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

describe('provisioning against the sandbox (Temporal + moto)', () => {
  it('provisions a tenant: stack, database, bucket, parameters, role, ECS service and DNS all exist', async () => {
    const tenant = h.tenant('globex');
    const result = await provision(tenant);
    expect(result).toMatchObject({ tenantId: 'globex', fresh: true, stackOperation: 'create', version: '1.0.0' });
    expect(await stackStatus(tenant)).toBe('CREATE_COMPLETE');
    const fresh = await h.client.workflow.getHandle(workflowIds.provision('globex')).describe();

    const rds = h.admin.rds(tenant.aws);
    const cluster = (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'tenant-globex' }))).DBClusters?.[0];
    expect(cluster).toMatchObject({ Engine: 'aurora-postgresql', StorageEncrypted: true });
    expect(cluster?.MasterUserSecret?.SecretArn).toMatch(/^arn:aws:secretsmanager:/);
    const params = await h.admin.ssm(tenant.aws).send(new GetParametersByPathCommand({ Path: '/tenant-fleet/globex/', Recursive: true }));
    const byName = new Map((params.Parameters ?? []).map((p) => [p.Name ?? '', p.Value ?? '']));
    expect(byName.get('/tenant-fleet/globex/bucket/name')).toBe(result.outputs.BucketName);
    expect(byName.get('/tenant-fleet/globex/database/endpoint')).toBe(result.outputs.DatabaseEndpoint);
    expect(byName.get('/tenant-fleet/globex/workload/version')).toBe('1.0.0');
    expect(result.outputs.AppRoleArn).toBe('arn:aws:iam::111111111111:role/tenant-globex-app');

    if (tenant.runtime.kind !== 'ecs') throw new Error('globex is an ECS tenant in the sandbox fleet');
    const { services } = await h.admin.ecs(tenant.runtime.aws).send(new DescribeServicesCommand({ cluster: tenant.runtime.clusterName, services: ['tenant-globex'] }));
    expect(services?.[0]?.status).toBe('ACTIVE');

    // Traffic: a target group with the spec's health check and draining, a rule for every hostname, the service registered with it.
    const traffic = (await trafficOutputs(tenant))!;
    const lbAws = tenant.loadBalancer!.aws;
    const group = (await h.admin.elbv2(lbAws).send(new DescribeTargetGroupsCommand({ TargetGroupArns: [traffic.TargetGroupArn!] }))).TargetGroups?.[0];
    const service = tenant.service!;
    expect(group).toMatchObject({
      TargetType: 'ip',
      HealthCheckPath: service.healthCheck.path,
      HealthCheckIntervalSeconds: service.healthCheck.intervalSeconds,
      HealthyThresholdCount: service.healthCheck.healthyThreshold,
      UnhealthyThresholdCount: service.healthCheck.unhealthyThreshold,
    });
    const attributes = (await h.admin.elbv2(lbAws).send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: traffic.TargetGroupArn! }))).Attributes ?? [];
    expect(attributes.find((a) => a.Key === 'deregistration_delay.timeout_seconds')?.Value).toBe(String(service.deregistrationDelaySeconds));
    const [rule, ...others] = await rulesFor(tenant);
    expect(others).toEqual([]);
    expect(rule?.Priority).toBe(traffic.RulePriority);
    expect(rule?.Conditions?.[0]?.HostHeaderConfig?.Values).toEqual(tenant.hostnames);
    expect(rule?.Actions?.[0]).toMatchObject({ Type: 'forward', TargetGroupArn: traffic.TargetGroupArn });
    expect(services?.[0]?.loadBalancers).toEqual([{ targetGroupArn: traffic.TargetGroupArn, containerName: 'app', containerPort: service.port }]);
    const definition = (await h.admin.ecs(tenant.runtime.aws).send(new DescribeTaskDefinitionCommand({ taskDefinition: services![0]!.taskDefinition! }))).taskDefinition;
    expect(definition).toMatchObject({ executionRoleArn: traffic.ExecutionRoleArn, cpu: String(service.cpu), memory: String(service.memory) });
    expect(definition?.containerDefinitions?.[0]?.logConfiguration).toMatchObject({ logDriver: 'awslogs', options: { 'awslogs-group': traffic.LogGroupName } });
    const logGroups = await h.admin.cloudWatchLogs(lbAws).send(new DescribeLogGroupsCommand({ logGroupNamePrefix: traffic.LogGroupName }));
    expect(logGroups.logGroups?.[0]?.retentionInDays).toBe(service.logRetentionDays);

    // Its database (tenants-a) admits its own groups only: the app group of its stack, and the
    // workload group its traffic stack made in the ECS cluster's account and VPC (platform,
    // peered), which the service's tasks run in beside the cluster's group.
    const workloadGroup = traffic.WorkloadSecurityGroupId!;
    expect(workloadGroup).toMatch(/^sg-/);
    expect(traffic.WorkloadSecurityGroupOwnerId).toBe(tenant.runtime.aws.accountId);
    expect(tenant.runtime.aws.accountId).not.toBe(tenant.aws.accountId);
    expect(await databaseSources(h.admin, tenant, result.outputs)).toEqual(
      expect.arrayContaining([
        { groupId: result.outputs.AppSecurityGroupId, ownerId: tenant.aws.accountId, tenantTag: 'globex', vpcId: tenant.network.vpcId },
        { groupId: workloadGroup, ownerId: tenant.runtime.aws.accountId, tenantTag: 'globex', vpcId: tenant.workloadVpcId },
      ]),
    );
    expect(await databaseSources(h.admin, tenant, result.outputs)).toHaveLength(2);
    expect(tenant.workloadVpcId).toBe(h.tenant('hooli').workloadVpcId);
    expect(services?.[0]?.networkConfiguration?.awsvpcConfiguration?.securityGroups).toEqual([...tenant.runtime.securityGroupIds, workloadGroup]);

    // Every hostname answers through the load balancer, from a tenant app process behind an ECS task.
    const endpoints = await Promise.all(tenant.hostnames.map((hostname) => resolveTenantEndpoint(TEST_SANDBOX_DIR, hostname)));
    for (const endpoint of endpoints) {
      const answer = await get(endpoint.url, endpoint.hostname);
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toMatchObject({ tenant: 'globex', version: '1.0.0', host: endpoint.hostname });
    }

    const records = await h.admin.route53(tenant.aws).send(new ListResourceRecordSetsCommand({ HostedZoneId: tenant.hostedZoneId! }));
    expect(records.ResourceRecordSets?.filter((r) => r.Type === 'CNAME').map((r) => r.Name)).toEqual(
      expect.arrayContaining(['globex.a.tenants.test.', 'api.globex.a.tenants.test.']),
    );

    // Provisioning again changes nothing and fails nothing.
    const again = await provision(tenant);
    expect(again).toMatchObject({ fresh: false, stackOperation: 'none', version: '1.0.0', dnsChanged: [] });
    expect((await trafficOutputs(tenant))?.RulePriority).toBe(traffic.RulePriority);

    // A second tenant of the same account, cluster and VPC gets a group of its own, which globex's database does not admit.
    const hooli = h.tenant('hooli');
    const hooliResult = await provision(hooli);
    const hooliGroup = (await trafficOutputs(hooli))!.WorkloadSecurityGroupId!;
    expect(hooliGroup).not.toBe(workloadGroup);
    expect((await databaseSources(h.admin, tenant, result.outputs)).map((s) => s.groupId).sort()).toEqual([result.outputs.AppSecurityGroupId, workloadGroup].sort());
    expect((await databaseSources(h.admin, hooli, hooliResult.outputs)).map((s) => s.groupId)).not.toContain(workloadGroup);
    await deprovision(hooli);

    // A new database size updates the stack, and the writer instance really changes class.
    const bigger = { ...tenant, database: { ...tenant.database, instanceClass: 'db.r6g.2xlarge' } };
    expect(await provision(bigger)).toMatchObject({ fresh: false, stackOperation: 'update' });
    const writer = (await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'tenant-globex-writer' }))).DBInstances?.[0];
    expect(writer?.DBInstanceClass).toBe('db.r6g.2xlarge');
    expect(await stackStatus(tenant)).toBe('UPDATE_COMPLETE');
    // The update kept the database's rule for the workload group.
    expect((await databaseSources(h.admin, tenant, result.outputs)).map((s) => s.groupId)).toContain(workloadGroup);
    const update = await h.client.workflow.getHandle(workflowIds.provision('globex')).describe();

    // Deprovisioning leaves a final snapshot and no stack, and keeps the bucket with what it holds.
    const bucket = result.outputs.BucketName!;
    await h.admin.s3(tenant.aws).send(new PutObjectCommand({ Bucket: bucket, Key: 'kept/by-deprovisioning.txt', Body: 'globex data' }));
    const gone = await deprovision(bigger);
    expect(gone.stackDeleted).toBe(true);
    expect(gone.finalSnapshot).toMatch(/^final-globex-\d{12}$/);
    const snapshots = await rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: gone.finalSnapshot }));
    expect(snapshots.DBClusterSnapshots?.[0]?.Status).toBe('available');
    expect(await stackStatus(tenant)).toBeUndefined();
    // Its rule and target group are gone with its traffic stack: the listener's default answers its hostnames.
    expect(await trafficOutputs(tenant)).toBeUndefined();
    await expect(h.admin.ec2(lbAws).send(new DescribeSecurityGroupsCommand({ GroupIds: [workloadGroup] }))).rejects.toThrow(/does not exist|NotFound/i);
    expect(await rulesFor(tenant)).toEqual([]);
    await expect(h.admin.elbv2(lbAws).send(new DescribeTargetGroupsCommand({ TargetGroupArns: [traffic.TargetGroupArn!] }))).rejects.toThrow(/not found|TargetGroupNotFound/i);
    await emulatorCaughtUp();
    for (const endpoint of endpoints) expect((await get(endpoint.url, endpoint.hostname)).status).toBe(404);

    // Each path replays against today's code (and is recorded as a fixture with TENANT_FLEET_RECORD_HISTORIES=1).
    const removal = await h.client.workflow.getHandle(workflowIds.deprovision('globex')).describe();
    await replayAndMaybeRecord(h.client, fresh.workflowId, fresh.runId, 'provision-tenant-fresh');
    await replayAndMaybeRecord(h.client, update.workflowId, update.runId, 'provision-tenant-update');
    await replayAndMaybeRecord(h.client, removal.workflowId, removal.runId, 'deprovision-tenant');

    // Provisioning it again adopts the retained bucket (an IMPORT before the stack's creation): the
    // stack is complete, its DataBucket is that bucket, and the object is still in it.
    const back = await provision(tenant);
    expect(back).toMatchObject({ fresh: true, stackOperation: 'create', outputs: { BucketName: bucket } });
    expect(await stackStatus(tenant)).toBe('UPDATE_COMPLETE');
    const { StackResourceDetail: adopted } = await h.admin.cloudFormation(tenant.aws).send(new DescribeStackResourceCommand({ StackName: stackNameFor('globex'), LogicalResourceId: 'DataBucket' }));
    expect(adopted?.PhysicalResourceId).toBe(bucket);
    const kept = await h.admin.s3(tenant.aws).send(new GetObjectCommand({ Bucket: bucket, Key: 'kept/by-deprovisioning.txt' }));
    expect(await kept.Body?.transformToString()).toBe('globex data');
  });

  it('compensates a fresh provisioning that fails half-way and names the failing step', async () => {
    const tenant = h.tenant('acme');
    // The sandbox's fault convention: an image tag ending in -broken never becomes healthy.
    const failure = await failureOf(provision(tenant, { initialVersion: '1.0.0-broken' }));
    expect(failure.type).toBe(ErrorType.RolloutFailed);
    expect(failure.message).toMatch(/failed at step "workload"/);
    expect(failure.message).toMatch(/everything created was removed/);
    expect(await stackStatus(tenant)).toBeUndefined();
    if (tenant.runtime.kind !== 'ecs') throw new Error('acme is an ECS tenant');
    const { services } = await h.admin.ecs(tenant.runtime.aws).send(new DescribeServicesCommand({ cluster: tenant.runtime.clusterName, services: ['tenant-acme'] }));
    expect(services?.filter((s) => s.status === 'ACTIVE')).toEqual([]);
    const params = await h.admin.ssm(tenant.aws).send(new GetParametersByPathCommand({ Path: '/tenant-fleet/acme/', Recursive: true }));
    expect(params.Parameters).toEqual([]);
    const compensated = await h.client.workflow.getHandle(workflowIds.provision('acme')).describe();
    await replayAndMaybeRecord(h.client, compensated.workflowId, compensated.runId, 'provision-tenant-compensated');
  });

  it('refuses to deprovision a production tenant without confirmation, before touching anything', async () => {
    const tenant = h.tenant('initech');
    const failure = await failureOf(deprovision(tenant));
    expect(failure.type).toBe(ErrorType.ProductionConfirmationRequired);
    expect(failure.message).toContain('set confirmProduction to "initech"');
  });

  it('refuses an invalid tenant ID in the workflow input before any activity runs', async () => {
    const tenant = { ...h.tenant('acme'), id: 'Tenant_1!' };
    const handle = await h.client.workflow.start('provisionTenant', {
      workflowId: 'tenant/invalid-id-test/provision',
      taskQueue: TASK_QUEUES.workflows,
      args: [{ tenant }],
    });
    const failure = await failureOf(handle.result());
    expect(failure.type).toBe(ErrorType.InvalidInput);
    expect(failure.message).toContain('tenant.id: expected 2-32 lowercase letters');
    expect(failure.message).toContain('(got "Tenant_1!")');
    const history = await handle.fetchHistory();
    expect(history.events?.some((e) => e.activityTaskScheduledEventAttributes)).toBe(false);
  });

  it('a release carrying the tenant template changes the canary first, its change set shown, refuses replacing the bucket, naming it, rolls a failed one back to the previous template, and the revert of an aborted one puts it back', async () => {
    const ids = ['umbrella', 'stark'];
    await Promise.all(ids.map((id) => provision(h.tenant(id))));
    const file = join(templatesDir, 'tenant.yaml');
    const original = readFileSync(file, 'utf8');
    const store = new TemplateStore(templatesDir);
    const marker = async (id: string) => {
      const ssm = h.admin.ssm(h.tenant(id).aws);
      return ssm.send(new GetParameterCommand({ Name: `/tenant-fleet/${id}/template/marker` })).then(
        (r) => r.Parameter?.Value,
        (error: unknown) => {
          if (error instanceof ParameterNotFound) return undefined;
          throw error;
        },
      );
    };
    try {
      // The template change: one more parameter for the app (an added resource).
      const added = ['  TemplateMarkerParameter:', '    Type: AWS::SSM::Parameter', '    Properties:', '      Name: !Sub "/tenant-fleet/${TenantId}/template/marker"', '      Type: String', '      Value: "2"', '      Tags: { TenantId: !Ref TenantId }', '', ''].join('\n');
      const changed = original.replace('  BucketNameParameter:\n', `${added}  BucketNameParameter:\n`);
      expect(changed).not.toBe(original);
      writeFileSync(file, changed);
      const first = await startRelease(h.client, h.config, { releaseId: 'template-1', version: '1.0.0', plan: 'gated', tenants: ids, requestedBy: 'jest', options: { template: releaseTemplateOption([], store) } });
      const canary = first.input.waves[0]!.tenants[0]!;
      const other = first.input.waves[1]!.tenants[0]!;
      await until('the canary gate', () => releaseProgress(h.client, 'template-1'), (p) => p.phase === 'wave-2/awaiting-approval');
      // Canary first: its stack has the change, the other tenant's not yet.
      expect({ canary, markers: { [canary]: await marker(canary), [other]: await marker(other) } }).toEqual({ canary, markers: { [canary]: '2', [other]: undefined } });
      const shown = await runCliCaptured(['release', 'status', 'template-1', '--tenant', canary, '--json'], { ...h.env, USER: 'jest' });
      expect({ code: shown.code, err: shown.err, tenant: (JSON.parse(shown.out || '{}') as { tenants?: unknown[] }).tenants?.[0] }).toMatchObject({
        code: 0,
        tenant: { tenantId: canary, status: 'succeeded', reason: expect.stringContaining('add TemplateMarkerParameter (AWS::SSM::Parameter)') as unknown },
      });
      await approveRelease(h.client, 'template-1', { by: 'jest' });
      const done = await releaseOutcome(first.handle);
      expect({ status: done.status, tenants: done.tenants, marker: await marker(other) }).toEqual({ status: 'succeeded', tenants: [], marker: '2' });
      const child = h.client.workflow.getHandle(workflowIds.releaseTenant('template-1', canary));
      // The added resource alone: parameters passed with the values the stack already has (DatabaseRestoredFrom "") change nothing.
      const { infrastructure } = (await child.result()) as ReleaseTenantResult;
      expect({ canary, infrastructure }).toMatchObject({
        canary,
        infrastructure: { state: 'changes', changes: [{ logicalId: 'TemplateMarkerParameter', resourceType: 'AWS::SSM::Parameter', action: 'add' }] },
      });
      const described = await child.describe();
      await replayAndMaybeRecord(h.client, described.workflowId, described.runId, 'release-tenant-template');

      // A new bucket name replaces the bucket: the canary refuses it, naming it, and the release halts with no stack changed.
      writeFileSync(file, changed.replace('BucketName: !Sub "tenant-${TenantId}-${AWS::AccountId}"', 'BucketName: !Sub "tenant-${TenantId}-v2-${AWS::AccountId}"'));
      const second = await startRelease(h.client, h.config, { releaseId: 'template-2', version: '1.0.0', plan: 'gated', tenants: ids, requestedBy: 'jest', options: { template: releaseTemplateOption([], store) } });
      const refused = await releaseOutcome(second.handle);
      expect({ status: refused.status, tenants: refused.tenants }).toMatchObject({
        status: 'halted',
        tenants: [{ tenantId: canary, status: 'rolled-back', reason: expect.stringMatching(/StatefulReplacementRefused|replaces stateful resources: DataBucket \(AWS::S3::Bucket\) would be replaced/) as unknown }],
      });
      expect(refused.tenants[0]?.reason).toContain('DataBucket (AWS::S3::Bucket) would be replaced');
      expect(await Promise.all(ids.map((id) => stackStatus(h.tenant(id))))).toEqual(['UPDATE_COMPLETE', 'UPDATE_COMPLETE']);

      // A change that ran, then a version that never becomes healthy: the rollback puts the stack's previous template back too.
      writeFileSync(file, changed.replace('      Value: "2"\n', '      Value: "3"\n'));
      const third = await startRelease(h.client, h.config, { releaseId: 'template-3', version: '1.0.0-broken', plan: 'quick', tenants: [canary], requestedBy: 'jest', options: { template: releaseTemplateOption([], store) } });
      const rolledBack = await releaseOutcome(third.handle);
      expect({ status: rolledBack.status, tenants: rolledBack.tenants, marker: await marker(canary), stack: await stackStatus(h.tenant(canary)) }).toMatchObject({
        status: 'halted',
        tenants: [{ tenantId: canary, status: 'rolled-back', reason: expect.stringContaining('rollout of 1.0.0-broken failed') as unknown }],
        marker: '2',
        stack: 'UPDATE_COMPLETE',
      });

      // Aborted at the gate after the canary's change ran (the version unchanged): the revert, a child of its own, puts the stack's previous template back.
      writeFileSync(file, changed.replace('      Value: "2"\n', '      Value: "4"\n'));
      const fourth = await startRelease(h.client, h.config, { releaseId: 'template-4', version: '1.0.0', plan: 'gated', tenants: ids, requestedBy: 'jest', options: { template: releaseTemplateOption([], store) } });
      await until('the canary gate', () => releaseProgress(h.client, 'template-4'), (p) => p.phase === 'wave-2/awaiting-approval');
      expect({ canary, marker: await marker(canary) }).toEqual({ canary, marker: '4' });
      await abortRelease(h.client, 'template-4', { by: 'jest', reason: 'the template goes back', rollback: true });
      const aborted = await releaseOutcome(fourth.handle);
      expect({ status: aborted.status, tenant: aborted.tenants.find((t) => t.tenantId === canary), markers: [await marker(canary), await marker(other)], stack: await stackStatus(h.tenant(canary)) }).toMatchObject({
        status: 'aborted',
        tenant: { status: 'rolled-back', reason: expect.stringMatching(/^reverted after the abort/) as unknown },
        markers: ['2', '2'],
        stack: 'UPDATE_COMPLETE',
      });
      const revert = await h.client.workflow.getHandle(workflowIds.releaseTenant('template-4', canary)).describe();
      await replayAndMaybeRecord(h.client, revert.workflowId, revert.runId, 'release-tenant-template-revert');
    } finally {
      writeFileSync(file, original);
    }
  }, 300_000);
  it('a three-service tenant (stark) is provisioned and released, each service its own ECS service and configuration; a broken manifest goes back whole', async () => {
    const tenant = h.tenant('stark');
    if (tenant.runtime.kind !== 'ecs') throw new Error('stark is an ECS tenant in the sandbox fleet');
    const { runtime } = tenant;
    const ecs = h.admin.ecs(runtime.aws);
    const names = { web: 'tenant-stark', worker: 'tenant-stark--worker', api: 'tenant-stark--api' } as const;
    /** Each service with the one container of the task definition it runs. */
    const described = async () => {
      const { services = [] } = await ecs.send(new DescribeServicesCommand({ cluster: runtime.clusterName, services: Object.values(names) }));
      return Promise.all(
        Object.entries(names).map(async ([name, serviceName]) => {
          const service = services.find((s) => s.serviceName === serviceName);
          if (service?.status !== 'ACTIVE') throw new Error(`ECS service ${serviceName} (service "${name}") is not active`);
          const definition = (await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: service.taskDefinition! }))).taskDefinition!;
          const container = definition.containerDefinitions![0]!;
          const env = Object.fromEntries((container.environment ?? []).map((e) => [e.name!, e.value!]));
          return { name, service, definition, container, env };
        }),
      );
    };
    type Described = Awaited<ReturnType<typeof described>>[number];
    const running = async () => Object.fromEntries((await described()).map(({ name, container, env }) => [name, runningLine(container.image, env)]));
    const recorded = async (name: string) => (await h.admin.ssm(tenant.aws).send(new GetParameterCommand({ Name: `/tenant-fleet/stark/${name}` }))).Parameter?.Value;
    /** The parameters of the slot where a release carrying the template keeps the stack before its change (docs/releases.md, "Infrastructure changes"). */
    const stackBeforeSlot = async (t: TenantSpec) =>
      ((await h.admin.ssm(t.aws).send(new GetParametersByPathCommand({ Path: '/tenant-fleet/StackBefore/tenant-stark/', Recursive: true }))).Parameters ?? []).map((p) => p.Name!).sort();
    let slotBefore: string[] = [];
    const release = (version: string, manifest?: ReleaseManifest) => releaseOneTenant(h, { tenantId: 'stark', releaseIdPrefix: 'jest-ecs-services', version, manifest });

    // The template test above leaves stark provisioned (run alone, this provisions it fresh): either way the services are applied.
    const result = await provision(tenant);
    try {
      const traffic = (await trafficOutputs(tenant))!;
      const size = tenant.service!;
      const [web, worker, api] = (await described()) as [Described, Described, Described];
      // Each service its own ECS service and task definition family: image, command, variables, secret references (ARNs, never values), size.
      expect(web.container).toMatchObject({ name: 'app', image: 'registry.sandbox.test/tenant-app:1.0.0' });
      expect(web.container.command).toBeUndefined();
      expect(web.container.secrets).toBeUndefined();
      expect(web.env).toMatchObject({ SERVICE_ROLE: 'web', TENANT_FLEET_VERSION: '1.0.0' });
      expect(worker.container).toMatchObject({
        name: 'worker',
        image: 'registry.sandbox.test/tenant-worker:1.0.0',
        command: ['worker', '--queue', 'default'],
        // Where the task execution role reads them: the cluster's account and region (stark's own account is another).
        secrets: [{ name: 'STRIPE_API_KEY', valueFrom: `arn:aws:ssm:${runtime.aws.region}:${runtime.aws.accountId}:parameter/tenant-fleet/stark/billing/stripe-api-key` }],
        healthCheck: { command: ['CMD', 'worker', 'ping'] },
        logConfiguration: { logDriver: 'awslogs', options: { 'awslogs-group': traffic.LogGroupName, 'awslogs-stream-prefix': 'worker' } },
      });
      expect(worker.container.portMappings ?? []).toEqual([]);
      expect(worker.env).toMatchObject({ SERVICE_ROLE: 'worker', WORKER_CONCURRENCY: '8', TENANT_ID: 'stark', TENANT_FLEET_VERSION: '1.0.0' });
      expect(api.container).toMatchObject({
        name: 'api',
        image: 'registry.sandbox.test/tenant-app:1.0.0',
        command: ['api', '--port', '9090'],
        secrets: [{ name: 'PARTNER_TOKEN', valueFrom: `arn:aws:secretsmanager:${runtime.aws.region}:${runtime.aws.accountId}:secret:tenant-fleet/stark/partner-token` }],
      });
      expect(api.env).toMatchObject({ SERVICE_ROLE: 'api', TENANT_FLEET_VERSION: '1.0.0' });
      expect(api.env.WORKER_CONCURRENCY).toBeUndefined();
      expect([web, worker, api].map(({ service, definition }) => [definition.cpu, definition.memory, service.desiredCount, definition.taskRoleArn, definition.executionRoleArn])).toEqual([
        [String(size.cpu), String(size.memory), tenant.replicas, result.outputs.AppRoleArn, traffic.ExecutionRoleArn],
        ['512', '1024', 2, result.outputs.AppRoleArn, traffic.ExecutionRoleArn],
        [String(size.cpu), String(size.memory), 1, result.outputs.AppRoleArn, traffic.ExecutionRoleArn],
      ]);
      // Only the primary is in the target group: the others have no load balancer, and the group's targets are the primary's tasks.
      expect([web, worker, api].map(({ service }) => service.loadBalancers)).toEqual([[{ targetGroupArn: traffic.TargetGroupArn, containerName: 'app', containerPort: size.port }], [], []]);
      for (const { service } of [worker, api]) expect(service.networkConfiguration?.awsvpcConfiguration?.securityGroups).toEqual(web.service.networkConfiguration?.awsvpcConfiguration?.securityGroups);
      const targets = (await h.admin.elbv2(tenant.loadBalancer!.aws).send(new DescribeTargetHealthCommand({ TargetGroupArn: traffic.TargetGroupArn! }))).TargetHealthDescriptions ?? [];
      expect(targets.filter((t) => t.TargetHealth?.State === 'healthy')).toHaveLength(tenant.replicas);
      // The worker's and api's tasks are processes too (the ECS task controller, docs/sandbox.md "ECS tasks"): their
      // secrets resolved (the sandbox seeds them), as many running as desired, each given its container's command.
      expect([worker, api].map(({ service }) => [service.deployments?.map((d) => d.rolloutState), service.runningCount])).toEqual([
        [['COMPLETED'], 2],
        [['COMPLETED'], 1],
      ]);
      expect(readFileSync(join(TEST_SANDBOX_DIR, 'data-plane', 'apps', 'tenant-stark--worker.log'), 'utf8')).toContain('command ["worker","--queue","default"]');

      // Released by version: every service to the new tag, the version in every container and recorded with its target.
      expect((await release('1.1.0')).status).toBe('succeeded');
      expect(await running()).toEqual({
        web: 'registry.sandbox.test/tenant-app:1.1.0 1.1.0',
        worker: 'registry.sandbox.test/tenant-worker:1.1.0 1.1.0 8',
        api: 'registry.sandbox.test/tenant-app:1.1.0 1.1.0',
      });
      expect(await recorded('workload/version')).toBe('1.1.0');
      const target = JSON.parse((await recorded('workload/release'))!) as ReleaseTarget;
      expect({ version: target.version, images: Object.fromEntries(target.services.map((s) => [s.name, s.image])) }).toEqual({
        version: '1.1.0',
        images: { web: 'registry.sandbox.test/tenant-app:1.1.0', worker: 'registry.sandbox.test/tenant-worker:1.1.0', api: 'registry.sandbox.test/tenant-app:1.1.0' },
      });

      // Released from a manifest: images of their own and a variable changed on the worker only.
      const fromManifest = await release('1.2.0', threeServiceManifest('1.2.0', 'w-77'));
      expect(fromManifest.status).toBe('succeeded');
      // `tenantctl release status --tenant` shows the target (the manifest's images, the worker's variable) and the 1.1.0 target it replaced, from stark's record.
      const shown = await runCliCaptured(['release', 'status', fromManifest.releaseId, '--tenant', 'stark', '--json'], { ...h.env, USER: 'jest' });
      const row = (JSON.parse(shown.out || '{}') as { tenants?: { target?: ReleaseTarget; replaced?: ReleaseTarget }[] }).tenants?.[0];
      const byName = (t: ReleaseTarget | undefined) => t && { version: t.version, services: Object.fromEntries(t.services.map((s) => [s.name, [s.image, s.environment ?? {}]])) };
      expect({ code: shown.code, err: shown.err, target: byName(row?.target), replaced: byName(row?.replaced) }).toEqual({
        code: 0,
        err: '',
        target: {
          version: '1.2.0',
          services: {
            web: ['registry.sandbox.test/tenant-app:1.2.0', {}],
            worker: ['registry.sandbox.test/tenant-worker:w-77', { WORKER_CONCURRENCY: '16' }],
            api: ['registry.sandbox.test/tenant-api:1.2.0-api', {}],
          },
        },
        replaced: { version: '1.1.0', services: { web: ['registry.sandbox.test/tenant-app:1.1.0', {}], worker: ['registry.sandbox.test/tenant-worker:1.1.0', {}], api: ['registry.sandbox.test/tenant-app:1.1.0', {}] } },
      });
      const good = {
        web: 'registry.sandbox.test/tenant-app:1.2.0 1.2.0',
        worker: 'registry.sandbox.test/tenant-worker:w-77 1.2.0 16',
        api: 'registry.sandbox.test/tenant-api:1.2.0-api 1.2.0',
      };
      expect(await running()).toEqual(good);
      const settled = await described();
      // Each rollout finished: one COMPLETED deployment per service, at its desired count.
      expect(settled.map(({ service }) => service.deployments?.map((d) => [d.status, d.rolloutState, d.runningCount]))).toEqual([
        [['PRIMARY', 'COMPLETED', tenant.replicas]],
        [['PRIMARY', 'COMPLETED', 2]],
        [['PRIMARY', 'COMPLETED', 1]],
      ]);

      // A manifest whose worker never becomes healthy (the sandbox's -broken tag): the release fails on that service and every service goes back.
      const broken = await release('1.3.0', threeServiceManifest('1.3.0', '1.3.0-broken'));
      expect(broken.status).not.toBe('succeeded');
      expect(broken.tenants).toEqual([expect.objectContaining({ tenantId: 'stark', status: 'rolled-back', reason: expect.stringContaining('worker') as unknown })]);
      expect(await running()).toEqual(good);
      expect(await recorded('workload/version')).toBe('1.2.0');
      // The primary's users never saw it: the hostname answers with 1.2.0 through the load balancer.
      const endpoint = await resolveTenantEndpoint(TEST_SANDBOX_DIR, tenant.hostnames[0]!);
      const answer = await get(endpoint.url, endpoint.hostname);
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toMatchObject({ tenant: 'stark', version: '1.2.0' });

      // A secret the execution role may not read (outside the tenant's prefix): ECS stops each new worker task before its
      // container starts, the circuit breaker fails the worker's rollout, and the provisioning says why.
      const shared = '/shared/stark-partner-key';
      await h.admin.ssm(runtime.aws).send(new PutParameterCommand({ Name: shared, Type: 'SecureString', Value: 'not-for-stark', Overwrite: true }));
      const sharedArn = `arn:aws:ssm:${runtime.aws.region}:${runtime.aws.accountId}:parameter${shared}`;
      const unreadable: TenantSpec = { ...tenant, services: tenant.services!.map((s) => (s.name === 'worker' ? { ...s, secrets: { ...s.secrets, SHARED_KEY: sharedArn } } : s)) };
      const refused = await provision(unreadable).then(
        () => 'provisioned',
        (error: unknown) => causesOf(error),
      );
      expect(refused).toContain('ECS service tenant-stark--worker (service "worker"): ECS deployment circuit breaker: tasks failed to start. Task ');
      expect(refused).toMatch(/stopped: ResourceInitializationError: unable to pull secrets or registry auth: .* is not authorized to perform: ssm:GetParameters on resource: \S+:parameter\/shared\/stark-partner-key because no identity-based policy allows/);
    } finally {
      // The template test above changed stark's stack: the slot keeping the stack before it is there until deprovisioning.
      slotBefore = await stackBeforeSlot(tenant);
      await deprovision(tenant, { confirmProduction: 'stark' });
    }
    // Deprovisioning deletes every service of the tenant, and its stack's kept slot.
    const { services: left = [] } = await ecs.send(new DescribeServicesCommand({ cluster: runtime.clusterName, services: Object.values(names) }));
    expect(left.filter((s) => s.status === 'ACTIVE')).toEqual([]);
    expect({ kept: process.env.TENANT_FLEET_TEST_NAME ? true : slotBefore.includes('/tenant-fleet/StackBefore/tenant-stark/manifest'), after: await stackBeforeSlot(tenant) }).toEqual({ kept: true, after: [] });
  }, 300_000);
});
