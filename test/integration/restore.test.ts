import { createHash } from 'node:crypto';
import { DescribeStacksCommand, ListStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeServicesCommand, DescribeTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import {
  CreateDBClusterSnapshotCommand,
  DescribeDBClustersCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBInstancesCommand,
  ModifyDBInstanceCommand,
  RestoreDBClusterFromSnapshotCommand,
} from '@aws-sdk/client-rds';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createRdsActivities, type RestoreResult } from '../../src/activities/rds';
import { abortRelease, releaseOutcome, releaseProgress, startRelease } from '../../src/client/releases';
import { deprovisionTenant, provisionTenant } from '../../src/client/tenants';
import { preReleaseSnapshotId, stackNameFor, workflowIds } from '../../src/shared/ids';
import type { ReleaseRequest } from '../../src/shared/release/plan';
import { liveVersion } from '../sandbox/runtime-reads';
import { startHarness, type Harness } from './harness';
import { replayAndMaybeRecord } from './histories';
import { databaseSources } from './database-reach';
import { trafficStackNameFor } from '../../src/workflows/tenant-footprint';

/**
 * Database restores of a release (src/activities/rds.ts, src/workflows/restore-database.ts) on
 * ECS tenants of a sandbox of their own: the restored cluster's managed master secret is the one
 * the stack and the workload name, the replaced cluster is deleted, an interrupted restore is
 * finished by the next run, and deprovisioning afterwards leaves nothing behind.
 */
let h: Harness;
const TENANTS = ['acme', 'umbrella', 'hooli', 'stark'];

beforeAll(async () => {
  h = await startHarness();
  await Promise.all(TENANTS.map((id) => provisionTenant(h.client, { tenant: h.tenant(id), initialVersion: '1.0.0', requestedBy: 'jest' })));
}, 900_000);
afterAll(async () => {
  await h?.stop();
});

let counter = 0;
const releaseId = () => `jest-restore-${Date.now()}-${++counter}`;
const release = (request: Partial<ReleaseRequest> & { version: string }) =>
  startRelease(h.client, h.config, { releaseId: releaseId(), plan: 'quick', requestedBy: 'jest', ...request });
const rdsOf = (tenantId: string) => h.admin.rds(h.tenant(tenantId).aws);
const clusterOf = async (tenantId: string, id = `tenant-${tenantId}`) => (await rdsOf(tenantId).send(new DescribeDBClustersCommand({ DBClusterIdentifier: id }))).DBClusters?.[0];
/** Every cluster and instance whose name starts with the tenant's: what runs (and costs) for it. */
const running = async (tenantId: string) => {
  const rds = rdsOf(tenantId);
  const clusters = ((await rds.send(new DescribeDBClustersCommand({}))).DBClusters ?? []).map((c) => c.DBClusterIdentifier!).filter((id) => id.startsWith(`tenant-${tenantId}`));
  const instances = ((await rds.send(new DescribeDBInstancesCommand({}))).DBInstances ?? []).map((i) => `${i.DBInstanceIdentifier} in ${i.DBClusterIdentifier}`).filter((id) => id.startsWith(`tenant-${tenantId}`));
  return { clusters: clusters.sort(), instances: instances.sort() };
};
/** Where the workload, the stack's parameter and its output say the database secret is. */
const secretReferences = async (tenantId: string) => {
  const tenant = h.tenant(tenantId);
  const { Parameter } = await h.admin.ssm(tenant.aws).send(new GetParameterCommand({ Name: `/tenant-fleet/${tenantId}/database/secret-arn` }));
  const { Stacks = [] } = await h.admin.cloudFormation(tenant.aws).send(new DescribeStacksCommand({ StackName: stackNameFor(tenantId) }));
  const output = Stacks[0]?.Outputs?.find((o) => o.OutputKey === 'DatabaseSecretArn')?.OutputValue;
  if (tenant.runtime.kind !== 'ecs') throw new Error('ECS tenants only');
  const ecs = h.admin.ecs(tenant.runtime.aws);
  const { services = [] } = await ecs.send(new DescribeServicesCommand({ cluster: tenant.runtime.clusterName, services: [`tenant-${tenantId}`] }));
  const { taskDefinition } = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: services[0]?.taskDefinition }));
  const workload = taskDefinition?.containerDefinitions?.[0]?.environment?.find((e) => e.name === 'DATABASE_SECRET_ARN')?.value;
  return { parameter: Parameter?.Value, output, workload };
};
/** The ECS service's target groups, whether its tasks are in the traffic stack's workload group, and its container's log group. */
const workloadWiring = async (tenantId: string) => {
  const tenant = h.tenant(tenantId);
  if (tenant.runtime.kind !== 'ecs') throw new Error('ECS tenants only');
  const ecs = h.admin.ecs(tenant.runtime.aws);
  const { services = [] } = await ecs.send(new DescribeServicesCommand({ cluster: tenant.runtime.clusterName, services: [`tenant-${tenantId}`] }));
  const { taskDefinition } = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: services[0]?.taskDefinition }));
  const { Stacks = [] } = await h.admin.cloudFormation(tenant.loadBalancer!.aws).send(new DescribeStacksCommand({ StackName: trafficStackNameFor(tenantId) }));
  const workloadGroup = Stacks[0]?.Outputs?.find((o) => o.OutputKey === 'WorkloadSecurityGroupId')?.OutputValue;
  return {
    targetGroups: (services[0]?.loadBalancers ?? []).map((lb) => lb.targetGroupArn),
    inWorkloadGroup: !!workloadGroup && (services[0]?.networkConfiguration?.awsvpcConfiguration?.securityGroups ?? []).includes(workloadGroup),
    logGroup: taskDefinition?.containerDefinitions?.[0]?.logConfiguration?.options?.['awslogs-group'],
  };
};
const recordChild = async (id: string, tenantId: string, name: string) => {
  const { runId } = await h.client.workflow.getHandle(workflowIds.releaseTenant(id, tenantId)).describe();
  await replayAndMaybeRecord(h.client, workflowIds.releaseTenant(id, tenantId), runId, name);
};

describe('database restores against the sandbox', () => {
  it('restore, then deprovision: the stack and workload follow the restored secret, the replaced cluster is deleted, DELETE_COMPLETE and nothing left running', async () => {
    const tenantId = 'stark'; // production: its clusters are deletion-protected
    const before = await secretReferences(tenantId);
    const { handle, input } = await release({ version: '1.6.0-restore-broken', tenants: [tenantId], options: { restoreDatabaseOnRollback: true } });
    const summary = await releaseOutcome(handle);
    expect(summary.tenants).toEqual([expect.objectContaining({ tenantId, status: 'rolled-back', reason: expect.not.stringContaining('still there') as string })]);
    expect(await liveVersion(h, tenantId)).toBe('1.0.0');

    const snapshot = preReleaseSnapshotId(input.releaseId, tenantId);
    const live = await clusterOf(tenantId);
    expect(live?.TagList).toEqual(expect.arrayContaining([{ Key: 'tenant-fleet:restored-from', Value: snapshot }]));
    // RDS restores no managed secret; the restored cluster has one of its own, and everything names it.
    const secretArn = live?.MasterUserSecret?.SecretArn;
    expect(secretArn).toMatch(/^arn:aws:secretsmanager:.*:secret:rds!cluster-/);
    expect(secretArn).not.toBe(before.output);
    expect(await secretReferences(tenantId)).toEqual({ parameter: secretArn, output: secretArn, workload: secretArn });
    const target = h.tenant(tenantId).aws;
    const secrets = new SecretsManagerClient({ region: target.region, endpoint: h.env.TENANT_FLEET_DIRECT_AWS_ENDPOINT_URL ?? h.env.AWS_ENDPOINT_URL, credentials: h.admin.credentialsFor(target) });
    expect(JSON.parse((await secrets.send(new GetSecretValueCommand({ SecretId: secretArn }))).SecretString ?? '{}')).toHaveProperty('password');
    // The replaced cluster is gone with its secret; what it held since the snapshot stays in a final snapshot.
    await expect(secrets.send(new GetSecretValueCommand({ SecretId: before.output }))).rejects.toThrow();
    secrets.destroy();
    expect(await running(tenantId)).toEqual({ clusters: [`tenant-${tenantId}`], instances: [`tenant-${tenantId}-writer in tenant-${tenantId}`] });
    // The stack update after the restore does not read the traffic stack: it kept the workload group its database admits.
    const tenant = h.tenant(tenantId);
    const trafficStack = (await h.admin.cloudFormation(tenant.loadBalancer!.aws).send(new DescribeStacksCommand({ StackName: trafficStackNameFor(tenantId) }))).Stacks?.[0];
    const workloadGroup = trafficStack?.Outputs?.find((o) => o.OutputKey === 'WorkloadSecurityGroupId')?.OutputValue;
    expect(workloadGroup).toMatch(/^sg-/);
    const tenantStack = (await h.admin.cloudFormation(target).send(new DescribeStacksCommand({ StackName: stackNameFor(tenantId) }))).Stacks?.[0];
    expect(tenantStack?.Parameters?.find((p) => p.ParameterKey === 'WorkloadSecurityGroupId')?.ParameterValue).toBe(workloadGroup);
    const outputs = Object.fromEntries((tenantStack?.Outputs ?? []).map((o) => [o.OutputKey!, o.OutputValue!]));
    expect((await databaseSources(h.admin, tenant, outputs)).map((s) => s.groupId)).toContain(workloadGroup);
    // The workload the rollback applied is provisioning's whole: still in its target group (its users' traffic), its tasks in the workload group, logging.
    expect(await workloadWiring(tenantId)).toEqual({
      targetGroups: [trafficStack?.Outputs?.find((o) => o.OutputKey === 'TargetGroupArn')?.OutputValue],
      inWorkloadGroup: true,
      logGroup: trafficStack?.Outputs?.find((o) => o.OutputKey === 'LogGroupName')?.OutputValue,
    });
    const suffix = createHash('sha256').update(snapshot).digest('hex').slice(0, 8);
    const finals = await rdsOf(tenantId).send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: `tenant-${tenantId}-o${suffix}-final` }));
    expect(finals.DBClusterSnapshots?.[0]?.DBClusterIdentifier).toBe(`tenant-${tenantId}-o${suffix}`);
    // Run again (a retry), the restore and the retirement find their work done.
    const activities = createRdsActivities({ aws: h.aws });
    const again: RestoreResult = await new MockActivityEnvironment().run(() => activities.restoreClusterFromSnapshot({ target, clusterIdentifier: `tenant-${tenantId}`, snapshotIdentifier: snapshot }));
    expect(again).toMatchObject({ restored: false, masterUserSecretArn: secretArn });
    expect(await new MockActivityEnvironment().run(() => activities.retireCluster({ target, clusterIdentifier: again.retiredClusterIdentifier }))).toMatchObject({ deleted: false });
    // Recorded: the snapshot ID hash, the snapshot retention and the restore that follows the secret.
    await recordChild(input.releaseId, tenantId, 'release-tenant-rollback-restore');

    await deprovisionTenant(h.client, { tenant: h.tenant(tenantId), confirmProduction: tenantId, requestedBy: 'jest' });
    const { StackSummaries = [] } = await h.admin.cloudFormation(h.tenant(tenantId).aws).send(new ListStacksCommand({}));
    expect(StackSummaries.filter((s) => s.StackName === stackNameFor(tenantId)).map((s) => s.StackStatus)).toEqual(['DELETE_COMPLETE']);
    expect(await running(tenantId)).toEqual({ clusters: [], instances: [] });
  }, 600_000);

  it('finishes an interrupted restore (restored copy without a writer, the writer renamed aside) instead of leaving it behind', async () => {
    const tenantId = 'acme';
    const rds = rdsOf(tenantId);
    const id = releaseId();
    const snapshot = preReleaseSnapshotId(id, tenantId);
    const suffix = createHash('sha256').update(snapshot).digest('hex').slice(0, 8);
    // An earlier run of this release took its snapshot, restored it and renamed the writer aside, then died.
    await rds.send(new CreateDBClusterSnapshotCommand({
      DBClusterIdentifier: `tenant-${tenantId}`,
      DBClusterSnapshotIdentifier: snapshot,
      Tags: [{ Key: 'TenantId', Value: tenantId }, { Key: 'ReleaseId', Value: id }, { Key: 'Reason', Value: 'pre-release' }],
    }));
    // (Right after a create the sandbox, like AWS, may not list it yet.)
    const status = () => rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: snapshot })).then((r) => r.DBClusterSnapshots?.[0]?.Status, () => undefined);
    await until(async () => (await status()) === 'available');
    await rds.send(new RestoreDBClusterFromSnapshotCommand({ DBClusterIdentifier: `tenant-${tenantId}-r${suffix}`, SnapshotIdentifier: snapshot, Engine: 'aurora-postgresql' }));
    await rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: `tenant-${tenantId}-writer`, NewDBInstanceIdentifier: `tenant-${tenantId}-writer-o${suffix}`, ApplyImmediately: true }));
    await until(async () => (await running(tenantId)).instances.includes(`tenant-${tenantId}-writer-o${suffix} in tenant-${tenantId}`));

    const { handle } = await startRelease(h.client, h.config, { releaseId: id, version: '1.6.1-restore-broken', plan: 'quick', tenants: [tenantId], requestedBy: 'jest', options: { restoreDatabaseOnRollback: true } });
    const summary = await releaseOutcome(handle);
    expect(summary.tenants).toEqual([expect.objectContaining({ tenantId, status: 'rolled-back' })]);
    expect((await clusterOf(tenantId))?.TagList).toEqual(expect.arrayContaining([{ Key: 'tenant-fleet:restored-from', Value: snapshot }]));
    // No restored copy, no writer aside, no replaced cluster: only the tenant's cluster and the stack's writer.
    expect(await running(tenantId)).toEqual({ clusters: [`tenant-${tenantId}`], instances: [`tenant-${tenantId}-writer in tenant-${tenantId}`] });
    const secretArn = (await clusterOf(tenantId))?.MasterUserSecret?.SecretArn;
    expect(await secretReferences(tenantId)).toEqual({ parameter: secretArn, output: secretArn, workload: secretArn });
  }, 600_000);

  it('a revert after an abort keeps the data unless asked, and restores it when asked (recorded)', async () => {
    const abortAtGate = async (version: string, options: ReleaseRequest['options']) => {
      const { handle, input } = await release({ version, plan: 'gated', tenants: ['umbrella', 'hooli'], options: { restoreDatabaseOnRollback: true, ...options } });
      await until(async () => (await releaseProgress(h.client, input.releaseId)).phase === 'wave-2/awaiting-approval');
      await abortRelease(h.client, input.releaseId, { by: 'jest', reason: 'testing revert', rollback: true });
      const summary = await releaseOutcome(handle);
      const canary = input.waves[0]!.tenants[0]!;
      expect(summary.tenants.find((t) => t.tenantId === canary)).toMatchObject({ status: 'rolled-back' });
      return { canary, releaseId: input.releaseId, snapshot: preReleaseSnapshotId(input.releaseId, canary) };
    };
    const plain = await abortAtGate('1.8.0-restore', {});
    expect((await clusterOf(plain.canary))?.TagList?.find((t) => t.Key === 'tenant-fleet:restored-from')?.Value).not.toBe(plain.snapshot);
    await recordChild(plain.releaseId, plain.canary, 'release-tenant-revert-keeps-data');

    const asked = await abortAtGate('1.8.1-restore', { restoreDatabaseOnRevert: { maxSnapshotAgeMs: 3_600_000 } });
    expect((await clusterOf(asked.canary))?.TagList).toEqual(expect.arrayContaining([{ Key: 'tenant-fleet:restored-from', Value: asked.snapshot }]));
    expect(await running(asked.canary)).toEqual({ clusters: [`tenant-${asked.canary}`], instances: [`tenant-${asked.canary}-writer in tenant-${asked.canary}`] });
    await recordChild(asked.releaseId, asked.canary, 'release-tenant-revert-restore');
  }, 600_000);
});

async function until(ok: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
