/* eslint-disable @typescript-eslint/unbound-method -- the activity factories return plain closures that never use `this`; Temporal calls them detached too. */
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KubeClient } from '../../src/activities/kube-client/client';
import { loadKubeConnection } from '../../src/activities/kube-client/kubeconfig';
import { SANDBOX_VALUES_FILE, TenantTemplate } from '../../src/activities/kube-template/tenant-template';
import { createKubernetesActivities, type KubernetesActivities, type KubernetesRuntime } from '../../src/activities/runtime/kubernetes';
import type { WorkloadSpec } from '../../src/activities/runtime/types';
import { deprovisionTenant, provisionTenant } from '../../src/client/tenants';
import { ErrorType } from '../../src/shared/errors';
import type { TenantSpec } from '../../src/shared/tenant-spec';
import { repoRoot } from '../sandbox/tools';
import { startHarness, type Harness } from './harness';

const CLUSTER = 'sandbox-k8s';
let h: Harness;
let kube: KubeClient;
let activities: KubernetesActivities;
let kubeconfig: string;

beforeAll(async () => {
  h = await startHarness();
  const cluster = h.config.kubernetesClusters.find((c) => c.name === CLUSTER);
  if (!cluster?.kubeconfig) throw new Error(`the sandbox fleet config has no cluster ${CLUSTER} with a kubeconfig`);
  kubeconfig = cluster.kubeconfig;
  kube = new KubeClient(loadKubeConnection({ kubeconfig, context: cluster.context }));
  activities = createKubernetesActivities({ cluster: CLUSTER, kube, template: TenantTemplate.load({ valuesFile: SANDBOX_VALUES_FILE }) });
});
afterAll(async () => {
  kube?.close();
  await h?.stop();
});

/** Runs an activity the way a retry would: twice in a row, each time inside an activity context. */
async function twice<I, O>(activity: (input: I) => Promise<O>, input: I): Promise<[O, O]> {
  const first = (await new MockActivityEnvironment().run(activity, input)) as O;
  const second = (await new MockActivityEnvironment().run(activity, input)) as O;
  return [first, second];
}

/** The sandbox's own kubectl, so what the tests check does not go through the client under test. */
async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(join(repoRoot, '.tools', 'bin', 'kubectl'), ['--kubeconfig', kubeconfig, ...args], { timeout: 30_000 });
  return stdout.trim();
}

async function namespaceExists(name: string): Promise<boolean> {
  return (await kubectl('get', 'namespace', name, '--ignore-not-found', '-o', 'name')) !== '';
}

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApplicationFailure);
  return error as ApplicationFailure;
}

function kubernetesTenant(id: string): TenantSpec & { runtime: KubernetesRuntime } {
  const tenant = h.tenant(id);
  if (tenant.runtime.kind !== 'kubernetes') throw new Error(`${id} is not a Kubernetes tenant in the sandbox fleet`);
  return tenant as TenantSpec & { runtime: KubernetesRuntime };
}

describe('Kubernetes tenant runtime against the sandbox cluster', () => {
  it('applies, releases, fails a broken release, rolls back and deletes a tenant; every activity run twice gives the same outcome', async () => {
    const tenant = kubernetesTenant('wonka');
    const { runtime } = tenant;
    const ref = { runtime, tenantId: tenant.id };
    const workload: WorkloadSpec = {
      tenantId: tenant.id,
      image: tenant.image,
      version: '1.0.0',
      replicas: 2,
      config: { TENANT_ID: tenant.id, DATABASE_HOST: 'tenant-wonka.cluster.local' },
      appRoleArn: 'arn:aws:iam::111111111111:role/tenant-wonka-app',
      targetGroupArn: 'arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/tenant-wonka/0123456789abcdef',
    };

    const [applied, reapplied] = await twice(activities.k8sApplyWorkload, { runtime, workload });
    expect(applied.changed).toBe(true);
    // The second apply is a no-op server-side apply: no resourceVersion moved.
    expect(reapplied).toEqual({ changed: false, revision: applied.revision });
    expect(await kubectl('get', 'deployment', 'app', '-n', 'tenant-wonka', '-o', 'jsonpath={.spec.template.spec.containers[0].image}')).toBe(`${tenant.image}:1.0.0`);
    expect(await kubectl('get', 'serviceaccount', 'app', '-n', 'tenant-wonka', '-o', 'jsonpath={.metadata.annotations.eks\\.amazonaws\\.com/role-arn}')).toBe(workload.appRoleArn);
    expect(await kubectl('get', 'configmap', 'app-config', '-n', 'tenant-wonka', '-o', 'jsonpath={.data.DATABASE_HOST}')).toBe('tenant-wonka.cluster.local');
    expect(await kubectl('get', 'deployment', 'app', '-n', 'tenant-wonka', '-o', 'jsonpath={.spec.progressDeadlineSeconds}')).toBe('15');
    expect((await kubectl('get', 'networkpolicy,pdb,role,rolebinding,service', '-n', 'tenant-wonka', '-o', 'name')).split('\n').sort()).toEqual([
      'networkpolicy.networking.k8s.io/isolate-tenant',
      'poddisruptionbudget.policy/app',
      'role.rbac.authorization.k8s.io/app-config-reader',
      'rolebinding.rbac.authorization.k8s.io/app-config-reader',
      'service/app',
    ]);
    // Applied through the sandbox's TargetGroupBinding CRD, so its schema checked the object.
    expect(await kubectl('get', 'targetgroupbinding', 'app', '-n', 'tenant-wonka', '-o', 'jsonpath={.spec.serviceRef.name}:{.spec.serviceRef.port} {.spec.targetGroupARN}')).toBe(
      `app:http ${workload.targetGroupArn}`,
    );

    const [rollout, rolloutAgain] = await twice(activities.k8sWaitForRollout, ref);
    expect(rollout).toEqual({ ready: true, updatedReplicas: 2, readyReplicas: 2, desiredReplicas: 2 });
    expect(rolloutAgain).toEqual(rollout);
    const [current, currentAgain] = await twice(activities.k8sCurrentWorkload, ref);
    expect(current).toEqual({ image: `${tenant.image}:1.0.0`, version: '1.0.0', revision: applied.revision });
    expect(currentAgain).toEqual(current);

    // A release: only the image moves; the second run finds it there and writes nothing.
    const release = { ...ref, image: tenant.image, version: '1.1.0' };
    const [released, releasedAgain] = await twice(activities.k8sSetVersion, release);
    expect(released.changed).toBe(true);
    expect(released.revision).not.toBe(applied.revision);
    expect(releasedAgain).toEqual({ changed: false, revision: released.revision });
    expect(await twice(activities.k8sWaitForRollout, ref)).toEqual([rollout, rollout]);
    expect((await activities.k8sCurrentWorkload(ref))?.version).toBe('1.1.0');
    // Re-provisioning with the live version (as provisionTenant does) takes the image's ownership
    // back without a conflict and without touching the workload: same generation, nothing changed.
    const reprovision = { runtime, workload: { ...workload, version: '1.1.0' } };
    expect(await twice(activities.k8sApplyWorkload, reprovision)).toEqual([
      { changed: false, revision: released.revision },
      { changed: false, revision: released.revision },
    ]);
    expect(await kubectl('get', 'deployment', 'app', '-n', 'tenant-wonka', '-o', 'jsonpath={.metadata.managedFields[*].manager}')).toContain('tenant-fleet-release');

    // The sandbox convention: a "-broken" tag crash-loops, and the progress deadline (15 s) reports it.
    const broken = await activities.k8sSetVersion({ ...release, version: '1.2.0-broken' });
    expect(broken.changed).toBe(true);
    const [failed, failedAgain] = await twice(activities.k8sWaitForRollout, ref);
    expect(failed.ready).toBe(false);
    expect(failed.failureReason).toMatch(/^ProgressDeadlineExceeded: ReplicaSet "app-[a-z0-9]+" has timed out progressing\./);
    expect(failed.failureReason).toContain('container app: CrashLoopBackOff');
    // maxUnavailable 0: the old pods kept serving throughout.
    expect(failed.readyReplicas).toBe(2);
    expect(failedAgain).toEqual(failed);

    // Rollback to the last good image.
    const [rolledBack, rolledBackAgain] = await twice(activities.k8sSetVersion, release);
    expect(rolledBack.changed).toBe(true);
    expect(rolledBackAgain.changed).toBe(false);
    expect(await activities.k8sWaitForRollout(ref)).toEqual(rollout);
    expect(await kubectl('get', 'deployment', 'app', '-n', 'tenant-wonka', '-o', 'jsonpath={.spec.template.spec.containers[0].image}')).toBe(`${tenant.image}:1.1.0`);

    const [deleted, deletedAgain] = await twice(activities.k8sDeleteWorkload, ref);
    expect(deleted).toEqual({ deleted: true });
    expect(deletedAgain).toEqual({ deleted: false });
    expect(await namespaceExists('tenant-wonka')).toBe(false);
    expect(await twice(activities.k8sCurrentWorkload, ref)).toEqual([undefined, undefined]);
    expect((await failureOf(activities.k8sSetVersion(release))).type).toBe(ErrorType.ResourceNotFound);
    expect((await failureOf(new MockActivityEnvironment().run(activities.k8sWaitForRollout, ref))).message).toMatch(/Deployment tenant-wonka\/app in Kubernetes cluster sandbox-k8s not found/);
  }, 600_000);

  it('refuses input for another cluster and invalid workloads, naming the field and value', async () => {
    const tenant = kubernetesTenant('soylent');
    const misrouted = await failureOf(activities.k8sCurrentWorkload({ runtime: { ...tenant.runtime, cluster: 'eu-prod' }, tenantId: tenant.id }));
    expect(misrouted.type).toBe(ErrorType.InvalidInput);
    expect(misrouted.message).toContain('runtime.cluster is "eu-prod" but this worker serves cluster "sandbox-k8s"');
    const workload = { tenantId: tenant.id, image: tenant.image, version: 'v1 final', replicas: 1, config: { 'NOT OK': 'x' } };
    const invalid = await failureOf(activities.k8sApplyWorkload({ runtime: tenant.runtime, workload }));
    expect(invalid.type).toBe(ErrorType.InvalidInput);
    expect(invalid.message).toContain('workload.version: expected an image tag');
    expect(invalid.message).toContain('(got "v1 final")');
    expect(invalid.message).toContain('workload.config.NOT OK');
    expect(await namespaceExists('tenant-soylent')).toBe(false);
  });

  it('provisions a Kubernetes tenant end to end through the provisionTenant workflow, then deprovisions it', async () => {
    const tenant = kubernetesTenant('cyberdyne');
    const provisioned = await provisionTenant(h.client, { tenant, requestedBy: 'jest' });
    expect(provisioned).toMatchObject({ tenantId: 'cyberdyne', fresh: true, stackOperation: 'create', version: '1.0.0' });
    expect(await kubectl('get', 'deployment', 'app', '-n', 'tenant-cyberdyne', '-o', 'jsonpath={.status.readyReplicas}/{.spec.replicas} {.spec.template.spec.containers[0].image}')).toBe(
      `${tenant.replicas}/${tenant.replicas} ${tenant.image}:1.0.0`,
    );
    expect(await kubectl('get', 'serviceaccount', 'app', '-n', 'tenant-cyberdyne', '-o', 'jsonpath={.metadata.annotations.eks\\.amazonaws\\.com/role-arn}')).toBe(
      provisioned.outputs.AppRoleArn,
    );
    expect(await kubectl('get', 'configmap', 'app-config', '-n', 'tenant-cyberdyne', '-o', 'jsonpath={.data.BUCKET_NAME}')).toBe(provisioned.outputs.BucketName);

    // IRSA end to end: a token the cluster issues to the tenant's service account (what EKS's pod
    // identity webhook mounts) gets the app role from STS; any other service account's is refused.
    const roleArn = provisioned.outputs.AppRoleArn!;
    const assume = async (namespace: string, serviceAccount: string) => {
      const token = await kubectl('create', 'token', serviceAccount, '-n', namespace, '--audience', 'sts.amazonaws.com');
      const sts = new STSClient({ region: tenant.aws.region, endpoint: h.env.AWS_ENDPOINT_URL });
      try {
        return await sts.send(new AssumeRoleWithWebIdentityCommand({ RoleArn: roleArn, RoleSessionName: 'app', WebIdentityToken: token }));
      } finally {
        sts.destroy();
      }
    };
    expect((await assume('tenant-cyberdyne', 'app')).AssumedRoleUser?.Arn).toBe(`${roleArn.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/')}/app`);
    for (const [namespace, serviceAccount] of [['tenant-cyberdyne', 'default'], ['default', 'default']] as const) {
      await expect(assume(namespace, serviceAccount)).rejects.toMatchObject({ name: 'AccessDenied', message: 'Not authorized to perform sts:AssumeRoleWithWebIdentity' });
    }

    const again = await provisionTenant(h.client, { tenant, requestedBy: 'jest' });
    expect(again).toMatchObject({ fresh: false, stackOperation: 'none', version: '1.0.0' });

    const gone = await deprovisionTenant(h.client, { tenant, requestedBy: 'jest' });
    expect(gone.stackDeleted).toBe(true);
    expect(await namespaceExists('tenant-cyberdyne')).toBe(false);
  }, 600_000);
});
