/* eslint-disable @typescript-eslint/unbound-method -- the activity factories return plain closures that never use `this`; Temporal calls them detached too. */
import { ModifyDBClusterCommand } from '@aws-sdk/client-rds';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createAwsActivities } from '../../src/activities';
import type { WorkloadSpec } from '../../src/activities/runtime/types';
import { TemplateStore } from '../../src/activities/templates';
import { stackNameFor } from '../../src/shared/ids';
import {
  dnsRecordsFor,
  stackParametersFor,
  stackTagsFor,
  trafficStackNameFor,
  trafficStackParametersFor,
  workloadConfigFrom,
} from '../../src/workflows/tenant-footprint';
import { startHarness, type Harness } from './harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ workers: false });
});
afterAll(async () => {
  await h?.stop();
});

/** Runs an activity the way a retry would: twice in a row, each time inside an activity context. */
async function twice<I, O>(activity: (input: I) => Promise<O>, input: I): Promise<[O, O]> {
  const first = (await new MockActivityEnvironment().run(activity, input)) as O;
  const second = (await new MockActivityEnvironment().run(activity, input)) as O;
  return [first, second];
}

describe('every provisioning activity is safe to run twice', () => {
  it('stack, parameters, workload, DNS, snapshot and deletion each give the same outcome on a second run', async () => {
    const activities = createAwsActivities({ aws: h.aws, templates: new TemplateStore() });
    const tenant = h.tenant('initech');
    const stackName = stackNameFor(tenant.id);
    const stackInput = { target: tenant.aws, stackName, template: 'tenant' as const, parameters: stackParametersFor(tenant), tags: stackTagsFor(tenant) };

    const [created, repeated] = await twice(activities.deployStack, stackInput);
    expect(created.operation).toBe('create');
    // The retry sees the stack the first attempt created and has nothing to change.
    expect(repeated.operation).toBe('none');
    expect(repeated.stackId).toBe(created.stackId);
    const [stable, stableAgain] = await twice(activities.waitForStack, { target: tenant.aws, stackName });
    expect(stable).toEqual(stableAgain);
    expect(stable.status).toBe('CREATE_COMPLETE');

    const params = { target: tenant.aws, tenantId: tenant.id, parameters: { 'workload/version': '1.0.0', hostnames: tenant.hostnames.join(',') } };
    const [written, unchanged] = await twice(activities.putTenantParameters, params);
    expect(written.written).toHaveLength(2);
    expect(unchanged).toEqual({ written: [], unchanged: written.written });

    // The traffic stack: the rule priority is the same on a retry, also once the first attempt's stack holds the rule.
    const lb = tenant.loadBalancer!;
    const priorityInput = { target: lb.aws, listenerArn: lb.listenerArn, tenantId: tenant.id, hostnames: tenant.hostnames };
    const [priority, priorityAgain] = await twice(activities.allocateRulePriority, priorityInput);
    expect(priorityAgain).toEqual(priority);
    const trafficInput = { target: lb.aws, stackName: trafficStackNameFor(tenant.id), template: 'tenant-traffic' as const, parameters: trafficStackParametersFor(tenant, lb, priority.priority), tags: stackTagsFor(tenant) };
    const [trafficCreated, trafficRepeated] = await twice(activities.deployStack, trafficInput);
    expect([trafficCreated.operation, trafficRepeated.operation]).toEqual(['create', 'none']);
    const traffic = await activities.waitForStack({ target: lb.aws, stackName: trafficInput.stackName });
    expect(traffic.outputs.RulePriority).toBe(String(priority.priority));
    expect(await new MockActivityEnvironment().run(activities.allocateRulePriority, priorityInput)).toEqual({ priority: priority.priority, reused: true });

    if (tenant.runtime.kind !== 'ecs') throw new Error('initech is an ECS tenant');
    const service = tenant.service!;
    const workload = {
      runtime: tenant.runtime,
      workload: {
        tenantId: tenant.id,
        image: tenant.image,
        version: '1.0.0',
        replicas: 2,
        config: workloadConfigFrom(tenant, stable.outputs),
        appRoleArn: stable.outputs.AppRoleArn,
        port: service.port,
        targetGroupArn: traffic.outputs.TargetGroupArn,
        executionRoleArn: traffic.outputs.ExecutionRoleArn,
        logGroupName: traffic.outputs.LogGroupName,
        cpu: service.cpu,
        memory: service.memory,
      },
    };
    const [applied, reapplied] = await twice(activities.ecsApplyWorkload, workload);
    expect(applied.changed).toBe(true);
    expect(reapplied).toEqual({ changed: false, revision: applied.revision });
    const [rollout, rolloutAgain] = await twice(activities.ecsWaitForRollout, { runtime: tenant.runtime, tenantId: tenant.id });
    expect(rollout.ready).toBe(true);
    expect(rolloutAgain).toEqual(rollout);

    // A release's merged ECS steps (runtime/ecs-release.ts): reads and snapshot, then deploy and record.
    const stackRef = { runtime: tenant.runtime, tenantId: tenant.id, target: tenant.aws, stackName };
    const release = { ...stackRef, version: '1.1.0', snapshot: { identifier: 'pre-merged-initech', tags: { TenantId: tenant.id, Reason: 'pre-release' } }, prune: { keep: 1, maxAgeMs: 86_400_000 } };
    const [prepared, preparedAgain] = await twice(activities.ecsPrepareRelease, release);
    expect(prepared).toMatchObject({ current: { version: '1.0.0' }, outputs: { DatabaseClusterIdentifier: stable.outputs.DatabaseClusterIdentifier }, snapshot: 'pre-merged-initech' });
    // The retry finds the first attempt's snapshot by its identifier.
    expect(preparedAgain).toEqual(prepared);
    const deploy = { runtime: tenant.runtime, tenantId: tenant.id, image: tenant.image, version: '1.1.0', target: tenant.aws };
    const [deployed, deployedAgain] = await twice(activities.ecsDeployAndRecord, deploy);
    expect(deployed).toMatchObject({ ready: true, changed: true });
    expect(deployedAgain).toMatchObject({ ready: true, changed: false });
    const recorded = await activities.putTenantParameters({ target: tenant.aws, tenantId: tenant.id, parameters: { 'workload/version': '1.1.0' } });
    expect(recorded.unchanged).toEqual(['/tenant-fleet/initech/workload/version']);
    // On the version it now runs, there is nothing to snapshot.
    const [inspected, inspectedAgain] = await twice(activities.ecsPrepareRelease, release);
    expect(inspected.current?.version).toBe('1.1.0');
    expect(inspected.snapshot).toBeUndefined();
    expect(inspectedAgain).toEqual(inspected);
    const [read, readAgain] = await twice(activities.ecsInspectForRelease, stackRef);
    expect(readAgain).toEqual(read);
    expect(read).toEqual({ current: inspected.current, outputs: inspected.outputs });

    const records = dnsRecordsFor(tenant)!;
    const [upserted, upsertedAgain] = await twice(activities.upsertDnsRecords, records);
    expect(upserted.changed).toEqual(['initech.b.tenants.test.']);
    expect(upsertedAgain.changed).toEqual([]);

    const snapshot = { target: tenant.aws, clusterIdentifier: stable.outputs.DatabaseClusterIdentifier!, snapshotIdentifier: 'pre-idempotency-initech' };
    const [snap, snapAgain] = await twice(activities.snapshotCluster, snapshot);
    expect(snap.created).toBe(true);
    expect(snapAgain).toEqual({ ...snap, created: false });

    const [removedRecords, removedRecordsAgain] = await twice(activities.deleteDnsRecords, records);
    expect(removedRecords.deleted).toEqual(['initech.b.tenants.test.']);
    expect(removedRecordsAgain).toEqual({ deleted: [], skipped: [] });
    const [removedService, removedServiceAgain] = await twice(activities.ecsDeleteWorkload, { runtime: tenant.runtime, tenantId: tenant.id });
    expect(removedService.deleted).toBe(true);
    expect(removedServiceAgain.deleted).toBe(false);
    // initech is production: its stack holds a protected cluster, so lift protection the way deprovisioning does.
    await activities.deployStack({ ...stackInput, parameters: stackParametersFor(tenant, { deletionProtection: false }) });
    await activities.waitForStack({ target: tenant.aws, stackName });
    const [trafficDeleted, trafficDeletedAgain] = await twice(activities.deleteStack, { target: lb.aws, stackName: trafficInput.stackName });
    expect([trafficDeleted.deleted, trafficDeletedAgain.deleted]).toEqual([true, false]);
    const [deleted, deletedAgain] = await twice(activities.deleteStack, { target: tenant.aws, stackName });
    expect(deleted.deleted).toBe(true);
    expect(deletedAgain.deleted).toBe(false);
  });

  it('refuses to delete a production stack whose cluster is still protected, naming the resource', async () => {
    const activities = createAwsActivities({ aws: h.aws, templates: new TemplateStore() });
    const tenant = { ...h.tenant('initech'), id: 'initech-protected' };
    const stackName = stackNameFor(tenant.id);
    await activities.deployStack({ target: tenant.aws, stackName, template: 'tenant', parameters: stackParametersFor(tenant), tags: stackTagsFor(tenant) });
    await activities.waitForStack({ target: tenant.aws, stackName });
    const refusal: unknown = await new MockActivityEnvironment().run(activities.deleteStack, { target: tenant.aws, stackName }).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(ApplicationFailure);
    expect((refusal as ApplicationFailure).type).toBe('StackFailed');
    expect((refusal as ApplicationFailure).message).toMatch(/could not be deleted \(DELETE_FAILED\): DatabaseCluster/);
    // CloudFormation only accepts another delete from DELETE_FAILED: lift protection on the cluster itself, as an operator would.
    await h.admin.rds(tenant.aws).send(new ModifyDBClusterCommand({ DBClusterIdentifier: `tenant-${tenant.id}`, DeletionProtection: false, ApplyImmediately: true }));
    expect(await activities.deleteStack({ target: tenant.aws, stackName })).toEqual({ deleted: true });
  });
  it("a tenant's services on ECS: apply, a release target and deletion each give the same outcome on a second run", async () => {
    const activities = createAwsActivities({ aws: h.aws, templates: new TemplateStore() });
    const base = h.tenant('initech');
    if (base.runtime.kind !== 'ecs') throw new Error('initech is an ECS tenant');
    const runtime = base.runtime;
    // A tenant of its own (no stacks needed: ECS keeps roles and groups as given), so initech's objects stay untouched.
    const tenantId = 'svcinitech';
    const arn = (kind: string, rest: string) => `arn:aws:${kind}:${base.aws.region}:${base.aws.accountId}:${rest}`;
    const workload: WorkloadSpec = {
      tenantId,
      image: base.image,
      version: '1.0.0',
      replicas: 1,
      config: { TENANT_ID: tenantId },
      appRoleArn: `arn:aws:iam::${base.aws.accountId}:role/tenant-${tenantId}-app`,
      serviceName: 'web',
      command: ['serve'],
      releaseVersion: '1.0.0',
      services: [
        { name: 'worker', image: `${base.image}-worker`, version: '1.0.0', command: ['work'], config: { TENANT_ID: tenantId, QUEUE: 'jobs' }, secrets: { API_TOKEN: arn('secretsmanager', `secret:tenant-fleet/${tenantId}/api`) }, replicas: 2, cpu: 512, memory: 1024 },
        { name: 'api', image: base.image, version: '1.0.0', config: { TENANT_ID: tenantId }, secrets: { KEY: arn('ssm', `parameter/tenant-fleet/${tenantId}/key`) }, replicas: 1, cpu: 256, memory: 512 },
      ],
    };
    const [applied, reapplied] = await twice(activities.ecsApplyWorkload, { runtime, workload });
    expect(applied.changed).toBe(true);
    expect(reapplied).toEqual({ changed: false, revision: applied.revision });
    const preview = await new MockActivityEnvironment().run(activities.ecsPreviewWorkload, { runtime, workload });
    expect(preview).toMatchObject({ state: 'unchanged', changes: [] });
    const services = ['worker', 'api'];
    const [rollout, rolloutAgain] = await twice(activities.ecsWaitForRollout, { runtime, tenantId, services });
    expect(rollout.ready).toBe(true);
    expect(rolloutAgain.ready).toBe(true);

    const target = {
      version: '1.1.0',
      services: [
        { name: 'web', image: `${base.image}:1.1.0` },
        { name: 'worker', image: `${base.image}-worker:1.1.0-rc1`, environment: { QUEUE: 'jobs-v2' } },
        { name: 'api', image: `${base.image}:1.1.0` },
      ],
    };
    const deploy = { runtime, tenantId, image: base.image, version: '1.1.0', target };
    const [deployed, deployedAgain] = await twice(activities.ecsDeployVersion, deploy);
    expect(deployed).toMatchObject({ ready: true, changed: true });
    expect(deployedAgain).toMatchObject({ ready: true, changed: false });
    const [current, currentAgain] = await twice(activities.ecsCurrentWorkload, { runtime, tenantId, services });
    expect(current).toMatchObject({ version: '1.1.0', services: { worker: `${base.image}-worker:1.1.0-rc1`, api: `${base.image}:1.1.0` } });
    expect(currentAgain).toEqual(current);

    // Provisioning again without `api` deletes its service; a second apply finds nothing to do.
    const fewer = { ...workload, services: workload.services!.slice(0, 1) };
    const [pruned, prunedAgain] = await twice(activities.ecsApplyWorkload, { runtime, workload: fewer });
    expect(pruned.changed).toBe(true);
    expect(prunedAgain.changed).toBe(false);

    const [removed, removedAgain] = await twice(activities.ecsDeleteWorkload, { runtime, tenantId });
    expect([removed.deleted, removedAgain.deleted]).toEqual([true, false]);
  });
});
