/* eslint-disable @typescript-eslint/unbound-method -- the activity factories return plain closures that never use `this`; Temporal calls them detached too. */
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { CreateTargetGroupCommand, DescribeTargetHealthCommand, type ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { KubeClient } from '../../src/activities/kube-client/client';
import { clusterAccess } from '../../src/activities/kube-client/cluster-access';
import { loadKubeAccess } from '../../src/activities/kube-client/kubeconfig';
import { tenantChartFromConfig } from '../../src/activities/kube-chart/from-config';
import { findHelm } from '../../src/activities/kube-chart/helm';
import { SANDBOX_VALUES_FILE, TENANT_CHART_DIR, TenantChart } from '../../src/activities/kube-chart/tenant-chart';
import { createKubernetesActivities, type KubernetesActivities, type KubernetesRuntime } from '../../src/activities/runtime/kubernetes';
import { createKubernetesMigrationActivities } from '../../src/activities/runtime/kubernetes-migration';
import type { WorkloadPreview, WorkloadSpec } from '../../src/activities/runtime/types';
import { DescribeDBClustersCommand } from '@aws-sdk/client-rds';
import { preReleaseSnapshotId, workflowIds } from '../../src/shared/ids';
import type { ReleaseTenantResult } from '../../src/shared/messages/release';
import type { ReleaseManifest } from '../../src/shared/release/manifest';
import { migrationKey } from '../../src/shared/release/migration';
import { releaseOutcome, releaseProgress, startRelease } from '../../src/client/releases';
import { deprovisionTenant, provisionTenant } from '../../src/client/tenants';
import { ErrorType } from '../../src/shared/errors';
import type { TenantSpec } from '../../src/shared/tenant-spec';
import { trafficStackNameFor } from '../../src/workflows/tenant-footprint';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetParameterCommand, ParameterNotFound } from '@aws-sdk/client-ssm';
import { INFRA_DIR, TemplateStore } from '../../src/activities/templates';
import { releaseTemplateOption } from '../../src/client/release-template';
import { databaseSources } from './database-reach';
import { startProber } from '../sandbox/data-plane/prober';
import { resolveTenantEndpoint } from '../sandbox/data-plane/resolve';
import { repoRoot } from '../sandbox/tools';
import { startHarness, type Harness } from './harness';
import { TEST_SANDBOX_DIR } from './sandbox-env';
import { releaseOneTenant, runningLine, threeServiceManifest } from './three-services';

const CLUSTER = 'sandbox-k8s';
let h: Harness;
let kube: KubeClient;
let activities: KubernetesActivities;
let kubeconfig: string;
let helm: string;
let scratch: string;
/** The AWS workers' templates: a copy the template release case edits (and puts back). */
const templatesDir = mkdtempSync(join(tmpdir(), 'kubernetes-test-templates-'));
cpSync(join(INFRA_DIR, 'cloudformation'), templatesDir, { recursive: true });

beforeAll(async () => {
  h = await startHarness({ templatesDir });
  const cluster = h.config.kubernetesClusters.find((c) => c.name === CLUSTER);
  if (!cluster?.kubeconfig) throw new Error(`the sandbox fleet config has no cluster ${CLUSTER} with a kubeconfig`);
  kubeconfig = cluster.kubeconfig;
  kube = new KubeClient(loadKubeAccess({ kubeconfig, context: cluster.context }));
  helm = findHelm();
  scratch = mkdtempSync(join(tmpdir(), 'kubernetes-test-'));
  const chart = tenantChartFromConfig({ fleet: { path: h.env.TENANT_FLEET_CONFIG!, config: h.config }, helm, valuesFile: SANDBOX_VALUES_FILE });
  activities = createKubernetesActivities({ cluster: CLUSTER, kube, chart });
});
afterAll(async () => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  rmSync(templatesDir, { recursive: true, force: true });
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

async function createTargetGroup(tenant: TenantSpec, name: string): Promise<string> {
  const elbv2 = h.admin.elbv2(tenant.aws);
  const { TargetGroups } = await elbv2.send(
    new CreateTargetGroupCommand({ Name: name, Protocol: 'HTTP', Port: 8080, TargetType: 'ip', VpcId: tenant.network.vpcId, HealthCheckPath: '/healthz' }),
  );
  return TargetGroups![0]!.TargetGroupArn!;
}

/** The version each registered (not draining) target's process answers with, sorted. */
async function servingVersions(elbv2: ElasticLoadBalancingV2Client, targetGroupArn: string): Promise<string[]> {
  const { TargetHealthDescriptions = [] } = await elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
  const active = TargetHealthDescriptions.filter((d) => d.TargetHealth?.State !== 'draining');
  const versions = await Promise.all(
    active.map(async ({ Target }) => {
      expect(Target?.Id).toBe('127.0.0.1');
      const response = await fetch(`http://127.0.0.1:${Target?.Port}/`, { signal: AbortSignal.timeout(5_000) });
      return ((await response.json()) as { version: string }).version;
    }),
  );
  return versions.sort();
}

/** What the load balancer emulator answers for `hostname` (its Host header) at `/`. */
async function answerOf(url: string, hostname: string): Promise<{ status: number; tenant?: string; version?: string; host?: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/`, { headers: { host: hostname }, timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => {
        let parsed: { tenant?: string; version?: string; host?: string } = {};
        try {
          parsed = JSON.parse(body) as typeof parsed;
        } catch {
          // a fixed response of the listener, not the app
        }
        resolve({ status: res.statusCode ?? 0, ...(res.statusCode === 200 ? { tenant: parsed.tenant, version: parsed.version, host: parsed.host } : {}) });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${hostname}: no answer from ${url} within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** Polls until `read` gives `expected` (the controllers act within a second or two). */
async function eventually<T>(read: () => Promise<T>, expected: T, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (JSON.stringify(last) === JSON.stringify(expected)) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  expect(last).toEqual(expected);
}

const TENANTCTL = join(repoRoot, 'bin', 'tenantctl.js');

/** The real CLI as a subprocess against the run's sandbox (exit 0 expected), with this file's workers doing the work. */
async function tenantctl(args: string[], env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [TENANTCTL, ...args], { cwd: repoRoot, env: { ...process.env, ...h.env, NO_COLOR: '1', USER: 'jest', ...env }, timeout: 240_000 });
  return stdout;
}
const tenantctlJson = async <T>(args: string[], env: Record<string, string> = {}) => JSON.parse(await tenantctl([...args, '--json'], env)) as T;

async function trafficStackOutputs(tenant: TenantSpec): Promise<Record<string, string>> {
  const { Stacks } = await h.admin.cloudFormation(tenant.loadBalancer!.aws).send(new DescribeStacksCommand({ StackName: trafficStackNameFor(tenant.id) }));
  return Object.fromEntries((Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey!, o.OutputValue!]));
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
      targetGroupArn: await createTargetGroup(tenant, 'tenant-wonka-k8s-test'),
    };

    const [applied, reapplied] = await twice(activities.k8sApplyWorkload, { runtime, workload });
    expect(applied.changed).toBe(true);
    // The second apply is a no-op server-side apply: no resourceVersion moved.
    expect(reapplied).toEqual({ changed: false, revision: applied.revision });
    expect(await kubectl('get', 'deployment', 'app', '-n', 'tenant-wonka', '-o', 'jsonpath={.spec.template.spec.containers[0].image}')).toBe(`${tenant.image}:1.0.0`);
    expect(await kubectl('get', 'serviceaccount', 'app', '-n', 'tenant-wonka', '-o', 'jsonpath={.metadata.annotations.eks\\.amazonaws\\.com/role-arn}')).toBe(workload.appRoleArn);
    expect(await kubectl('get', 'configmap', 'app-config', '-n', 'tenant-wonka', '-o', 'jsonpath={.data.DATABASE_HOST}')).toBe('tenant-wonka.cluster.local');
    expect(await kubectl('get', 'deployment', 'app', '-n', 'tenant-wonka', '-o', 'jsonpath={.spec.progressDeadlineSeconds}')).toBe('30');
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
    expect((await kubectl('get', 'resourcequota,limitrange', '-n', 'tenant-wonka', '-o', 'name')).split('\n').sort()).toEqual(['limitrange/tenant', 'resourcequota/tenant']);

    const [rollout, rolloutAgain] = await twice(activities.k8sWaitForRollout, ref);
    expect(rollout).toEqual({ ready: true, updatedReplicas: 2, readyReplicas: 2, desiredReplicas: 2 });
    expect(rolloutAgain).toEqual(rollout);
    // Each Ready pod is a tenant app process, registered by the sandbox's TargetGroupBinding controller.
    const elbv2 = h.admin.elbv2(tenant.aws);
    await eventually(() => servingVersions(elbv2, workload.targetGroupArn!), ['1.0.0', '1.0.0']);
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
    await eventually(() => servingVersions(elbv2, workload.targetGroupArn!), ['1.1.0', '1.1.0']);
    // Re-provisioning with the live version (as provisionTenant does) takes the image's ownership
    // back without a conflict and without touching the workload: same generation, nothing changed.
    const reprovision = { runtime, workload: { ...workload, version: '1.1.0' } };
    expect(await twice(activities.k8sApplyWorkload, reprovision)).toEqual([
      { changed: false, revision: released.revision },
      { changed: false, revision: released.revision },
    ]);
    expect(await kubectl('get', 'deployment', 'app', '-n', 'tenant-wonka', '-o', 'jsonpath={.metadata.managedFields[*].manager}')).toContain('tenant-fleet-release');

    // The sandbox convention: a "-broken" tag crash-loops, and the progress deadline (30 s) reports it.
    const broken = await activities.k8sSetVersion({ ...release, version: '1.2.0-broken' });
    expect(broken.changed).toBe(true);
    const [failed, failedAgain] = await twice(activities.k8sWaitForRollout, ref);
    expect(failed.ready).toBe(false);
    expect(failed.failureReason).toMatch(/^ProgressDeadlineExceeded: ReplicaSet "app-[a-z0-9]+" has timed out progressing\./);
    expect(failed.failureReason).toContain('container app: CrashLoopBackOff');
    // maxUnavailable 0: the old pods kept serving throughout, and the crashing pod was never a target.
    expect(failed.readyReplicas).toBe(2);
    expect(failedAgain).toEqual(failed);
    expect(await servingVersions(elbv2, workload.targetGroupArn!)).toEqual(['1.1.0', '1.1.0']);

    // Rollback to the last good image.
    const [rolledBack, rolledBackAgain] = await twice(activities.k8sSetVersion, release);
    expect(rolledBack.changed).toBe(true);
    expect(rolledBackAgain.changed).toBe(false);
    expect(await activities.k8sWaitForRollout(ref)).toEqual(rollout);
    expect(await kubectl('get', 'deployment', 'app', '-n', 'tenant-wonka', '-o', 'jsonpath={.spec.template.spec.containers[0].image}')).toBe(`${tenant.image}:1.1.0`);

    const [deleted, deletedAgain] = await twice(activities.k8sDeleteWorkload, ref);
    expect(deleted).toEqual({ deleted: true });
    expect(deletedAgain).toEqual({ deleted: false });
    // The binding's finalizer held the namespace until its targets were deregistered.
    expect(await servingVersions(elbv2, workload.targetGroupArn!)).toEqual([]);
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

    // The sandbox cluster has security groups for pods (fleet config securityGroupsForPods): the
    // tenant's pods get its workload group (its traffic stack's, in the platform account and VPC)
    // through a SecurityGroupPolicy the API server accepted, and its database admits that group.
    const traffic = await trafficStackOutputs(tenant);
    const workloadGroup = traffic.WorkloadSecurityGroupId!;
    expect(tenant.runtime.podSecurityGroupIds).toBeDefined();
    const policy = JSON.parse(await kubectl('get', 'securitygrouppolicy', 'app', '-n', 'tenant-cyberdyne', '-o', 'json')) as { spec: unknown };
    expect(policy.spec).toEqual({
      podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'cyberdyne' } },
      securityGroups: { groupIds: [workloadGroup, ...tenant.runtime.podSecurityGroupIds!] },
    });
    const sources = await databaseSources(h.admin, tenant, provisioned.outputs);
    expect(sources.map((s) => s.groupId).sort()).toEqual([provisioned.outputs.AppSecurityGroupId, workloadGroup].sort());
    expect(sources.find((s) => s.groupId === workloadGroup)).toEqual({ groupId: workloadGroup, ownerId: tenant.loadBalancer!.aws.accountId, tenantTag: 'cyberdyne', vpcId: tenant.workloadVpcId });

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

    // tenantctl tenant diff: through the cluster's worker, the chart as provisioning renders it, server-side
    // applied with dryRun=All. Unchanged first; then with one more replica in the fleet config.
    const kinds = 'configmap,serviceaccount,service,deployment,pdb,networkpolicy,role,rolebinding,resourcequota,limitrange,targetgroupbinding';
    const versions = async () =>
      [
        await kubectl('get', 'namespace', 'tenant-cyberdyne', '-o', 'jsonpath=Namespace={.metadata.resourceVersion}'),
        await kubectl('get', kinds, '-n', 'tenant-cyberdyne', '-o', 'jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}{"\\n"}{end}'),
      ].join('\n');
    const untouched = await versions();
    expect(untouched).toContain('TargetGroupBinding/app=');
    const fleet = parse(readFileSync(h.env.TENANT_FLEET_CONFIG!, 'utf8')) as { tenants: { id: string; replicas?: number }[] };
    fleet.tenants = fleet.tenants.map((t) => (t.id === 'cyberdyne' ? { ...t, replicas: tenant.replicas + 1 } : t));
    const moreReplicas = join(scratch, 'fleet-cyberdyne-replicas.yaml');
    writeFileSync(moreReplicas, stringify(fleet));
    // The CLI runs only read. The diffs one after another (each makes and deletes the stack's one preview
    // change set); the two resources runs beside them, each a process of its own that mostly waits.
    const diffs = async () => {
      const same = await tenantctlJson<{ changes: boolean; version: string; workload: WorkloadPreview }>(['tenant', 'diff', 'cyberdyne']);
      const changed = await tenantctlJson<{ changes: boolean; workload: WorkloadPreview }>(['tenant', 'diff', 'cyberdyne'], { TENANT_FLEET_CONFIG: moreReplicas });
      const table = await tenantctl(['tenant', 'diff', 'cyberdyne'], { TENANT_FLEET_CONFIG: moreReplicas });
      return { same, changed, table };
    };
    const [{ same, changed, table }, resources, resourcesTable] = await Promise.all([
      diffs(),
      tenantctlJson<{ runtime: { kind: string; namespace: string; objects: { kind: string; name: string; status: string; detail?: string }[] } }>(['tenant', 'resources', 'cyberdyne']),
      tenantctl(['tenant', 'resources', 'cyberdyne']),
    ]);
    expect(same).toMatchObject({ changes: false, version: '1.0.0', workload: { kind: 'kubernetes', state: 'unchanged', namespace: 'tenant-cyberdyne', changes: [] } });
    expect(same.workload.objects!.map((o) => o.action)).toEqual(same.workload.objects!.map(() => 'unchanged'));
    expect(same.workload.objects!.map((o) => o.object)).toEqual(expect.arrayContaining(['Namespace tenant-cyberdyne', 'Deployment tenant-cyberdyne/app', 'TargetGroupBinding tenant-cyberdyne/app']));
    expect(changed.changes).toBe(true);
    expect(changed.workload.changes).toEqual([{ object: 'Deployment tenant-cyberdyne/app', field: 'spec.replicas', action: 'modify', before: tenant.replicas, after: tenant.replicas + 1 }]);
    expect(changed.workload.objects!.filter((o) => o.action !== 'unchanged')).toEqual([{ object: 'Deployment tenant-cyberdyne/app', action: 'modify', fields: ['spec.replicas'] }]);
    expect(table).toMatch(/modify\s+Deployment tenant-cyberdyne\/app\s+spec\.replicas/);
    expect(table).toContain('compared by a server-side dry run');
    mkdirSync(join(TEST_SANDBOX_DIR, 'cli-output'), { recursive: true });
    writeFileSync(join(TEST_SANDBOX_DIR, 'cli-output', 'tenant-diff-kubernetes.txt'), table);
    // Executed nothing: every object keeps its resourceVersion.
    expect(await versions()).toBe(untouched);

    // tenantctl tenant resources: the runtime objects as the cluster's worker reads them, pods with their readiness.
    expect(resources.runtime).toMatchObject({ kind: 'kubernetes', namespace: 'tenant-cyberdyne' });
    const byKind = (kind: string) => resources.runtime.objects.filter((o) => o.kind === kind);
    expect(byKind('Deployment')).toEqual([{ kind: 'Deployment', name: 'app', status: `${tenant.replicas}/${tenant.replicas} ready, ${tenant.replicas} updated, rolled out`, detail: `${tenant.image}:1.0.0` }]);
    expect(byKind('Service').map((o) => o.name)).toEqual(['app']);
    expect(byKind('TargetGroupBinding')).toEqual([expect.objectContaining({ name: 'app', detail: expect.stringMatching(/^arn:aws:elasticloadbalancing:.*:targetgroup\//) as unknown })]);
    expect(byKind('Pod')).toHaveLength(tenant.replicas);
    for (const pod of byKind('Pod')) expect(pod.status).toMatch(/^running, ready/);
    expect(resourcesTable).toMatch(/Deployment\s+app\s+\d+\/\d+ ready/);
    writeFileSync(join(TEST_SANDBOX_DIR, 'cli-output', 'tenant-resources-kubernetes.txt'), resourcesTable);

    const gone = await deprovisionTenant(h.client, { tenant, requestedBy: 'jest' });
    expect(gone.stackDeleted).toBe(true);
    expect(await namespaceExists('tenant-cyberdyne')).toBe(false);
  }, 600_000);

  it("runs a release's migration as a Job of the new image before the deploy, once per release and tenant, and rolls back a -migration-fails one with the database restored", async () => {
    const tenant = kubernetesTenant('soylent');
    await provisionTenant(h.client, { tenant, initialVersion: '1.0.0', requestedBy: 'jest' });
    const release = async (version: string, options: { restoreDatabaseOnRollback?: boolean } = {}) => {
      const { handle, input } = await startRelease(h.client, h.config, { releaseId: `jest-k8s-migration-${Date.now()}`, plan: 'quick', requestedBy: 'jest', version, tenants: ['soylent'], migrations: true, options });
      const summary = await releaseOutcome(handle);
      const result = (await h.client.workflow.getHandle(workflowIds.releaseTenant(input.releaseId, 'soylent')).result()) as ReleaseTenantResult;
      return { releaseId: input.releaseId, summary, result, job: migrationKey(input.releaseId, 'soylent') };
    };

    const good = await release('1.1.0');
    expect(good.summary.status).toBe('succeeded');
    // On success the termination message is what the command wrote to its terminationMessagePath (no log endpoint is read).
    expect(good.result.migration).toEqual({ task: `Job tenant-soylent/${good.job}`, exitCode: 0, succeeded: true, output: ['done: 2 migrations applied, schema at 1.1.0'], reused: false });
    expect(await kubectl('get', 'job', good.job, '-n', 'tenant-soylent', '-o', 'jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].command}')).toBe(`${tenant.image}:1.1.0 ["./migrate","up"]`);
    // Run as retries would: the Job is found by its name and read again; no second Job or pod.
    const migrations = createKubernetesMigrationActivities({ cluster: CLUSTER, kube });
    const input = { runtime: tenant.runtime, tenantId: 'soylent', releaseId: good.releaseId, image: tenant.image, version: '1.1.0', command: ['./migrate', 'up'], timeoutMs: 120_000 };
    const [first, second] = await twice(migrations.k8sRunMigration, input);
    expect([first, second]).toEqual([{ ...good.result.migration, reused: true }, { ...good.result.migration, reused: true }]);
    expect((await kubectl('get', 'pods', '-n', 'tenant-soylent', '-l', `batch.kubernetes.io/job-name=${good.job}`, '-o', 'name')).split('\n')).toHaveLength(1);

    // The tenant's TargetGroupBinding (its pods in the load balancer's target group), which the rollback's redeploy after the restore keeps.
    const binding = () => kubectl('get', 'targetgroupbinding', 'app', '-n', 'tenant-soylent', '-o', 'jsonpath={.spec.targetGroupARN}');
    const bound = await binding();
    expect(bound).toMatch(/^arn:aws:elasticloadbalancing:/);

    const bad = await release('1.2.0-migration-fails', { restoreDatabaseOnRollback: true });
    expect(bad.summary.tenants.find((t) => t.tenantId === 'soylent')).toMatchObject({
      status: 'rolled-back',
      previousVersion: '1.1.0',
      reason: expect.stringMatching(/^migration failed: exit code 1; last output: error: relation "orders" already exists/) as unknown,
    });
    // FallbackToLogsOnError: a failed container that wrote no message gets the end of its log.
    expect(bad.result.migration?.output).toEqual(expect.arrayContaining(['applying 0001_create_accounts ... ok', 'applying 0002_add_orders ... FAILED']));
    expect(await kubectl('get', 'deployment', 'app', '-n', 'tenant-soylent', '-o', 'jsonpath={.spec.template.spec.containers[0].image}')).toBe(`${tenant.image}:1.1.0`);
    const live = (await h.aws.rds(tenant.aws).send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'tenant-soylent' }))).DBClusters?.[0];
    expect(live?.TagList?.find((t) => t.Key === 'tenant-fleet:restored-from')?.Value).toBe(preReleaseSnapshotId(bad.releaseId, 'soylent'));
    expect(['soylent', await binding().catch((error: Error) => error.message)]).toEqual(['soylent', bound]);
  }, 600_000);

  it('waits for a maintenance window that opens later before it deploys a Kubernetes tenant, and says so in the progress', async () => {
    // The next whole minute at least 15 s away: windows have minute precision, so the wait is 15 to 75 s.
    const opens = new Date(Math.ceil((Date.now() + 15_000) / 60_000) * 60_000);
    const hhmm = (at: Date) => at.toISOString().slice(11, 16);
    const window = `daily ${hhmm(opens)}-${hhmm(new Date(opens.getTime() + 30 * 60_000))} UTC`;
    // The release resolves windows from the config it is given (tenantctl's): the workers' file stays as it is.
    const config = structuredClone(h.config);
    config.tenants.find((t) => t.id === 'soylent')!.maintenanceWindows = [window];
    const { handle, input } = await startRelease(h.client, config, { releaseId: `jest-k8s-window-${Date.now()}`, plan: 'quick', requestedBy: 'jest', version: '1.3.0', tenants: ['soylent'] });
    expect(input.maintenance).toEqual([{ tenants: ['soylent'], windows: [window], freezes: [] }]);
    let waiting: { tenantId: string; until: string }[] | undefined;
    for (const deadline = Date.now() + 30_000; !waiting && Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 250))) {
      waiting = (await releaseProgress(h.client, input.releaseId)).waitingForWindow;
    }
    expect(waiting?.map((w) => [w.tenantId, new Date(w.until).getTime()])).toEqual([['soylent', opens.getTime()]]);
    expect(await kubectl('get', 'deployment', 'app', '-n', 'tenant-soylent', '-o', 'jsonpath={.spec.template.spec.containers[0].image}')).toMatch(/:1\.1\.0$/);
    const summary = await releaseOutcome(handle);
    expect(summary.status).toBe('succeeded');
    expect(Date.now()).toBeGreaterThanOrEqual(opens.getTime());
    const result = (await h.client.workflow.getHandle(workflowIds.releaseTenant(input.releaseId, 'soylent')).result()) as ReleaseTenantResult;
    expect(new Date(result.window!.until).getTime()).toBe(opens.getTime());
    expect(await kubectl('get', 'deployment', 'app', '-n', 'tenant-soylent', '-o', 'jsonpath={.spec.template.spec.containers[0].image}')).toMatch(/:1\.3\.0$/);
  }, 300_000);

  it('releases a template change to a Kubernetes tenant, its change set shown, and refuses one that replaces its bucket, naming it', async () => {
    // The tenant stack is the runtime's own (infra/cloudformation/tenant.yaml); soylent is provisioned by the migration case.
    const tenant = kubernetesTenant('soylent');
    const stack = async () => (await h.admin.cloudFormation(tenant.aws).send(new DescribeStacksCommand({ StackName: `tenant-${tenant.id}` })).catch(() => ({ Stacks: [] }))).Stacks?.[0]?.StackStatus;
    if (!(await stack())) await provisionTenant(h.client, { tenant, initialVersion: '1.0.0', requestedBy: 'jest' });
    const version = (await kubectl('get', 'deployment', 'app', '-n', 'tenant-soylent', '-o', 'jsonpath={.spec.template.spec.containers[0].image}')).split(':').pop()!;
    const marker = () =>
      h.admin
        .ssm(tenant.aws)
        .send(new GetParameterCommand({ Name: '/tenant-fleet/soylent/template/marker' }))
        .then(
          (r) => r.Parameter?.Value,
          (error: unknown) => {
            if (error instanceof ParameterNotFound) return undefined;
            throw error;
          },
        );
    const file = join(templatesDir, 'tenant.yaml');
    const original = readFileSync(file, 'utf8');
    const store = new TemplateStore(templatesDir);
    // The version it runs: only the stack changes, no rollout.
    const release = async (name: string) => {
      const { handle, input } = await startRelease(h.client, h.config, { releaseId: `jest-k8s-${name}-${Date.now()}`, plan: 'quick', requestedBy: 'jest', version, tenants: ['soylent'], options: { template: releaseTemplateOption([], store) } });
      const summary = await releaseOutcome(handle);
      const result = (await h.client.workflow.getHandle(workflowIds.releaseTenant(input.releaseId, 'soylent')).result()) as ReleaseTenantResult;
      return { summary, result };
    };
    try {
      const added = ['  TemplateMarkerParameter:', '    Type: AWS::SSM::Parameter', '    Properties:', '      Name: !Sub "/tenant-fleet/${TenantId}/template/marker"', '      Type: String', '      Value: "k8s"', '', ''].join('\n');
      const changed = original.replace('  BucketNameParameter:\n', `${added}  BucketNameParameter:\n`);
      expect(changed).not.toBe(original);
      writeFileSync(file, changed);
      const applied = await release('template');
      // What `tenantctl release status --tenant` shows: the change set's one change, then executed.
      expect({ status: applied.summary.status, result: applied.result, marker: await marker(), stack: await stack() }).toMatchObject({
        status: 'succeeded',
        result: {
          status: 'succeeded',
          reason: expect.stringMatching(/^stack: add TemplateMarkerParameter \(AWS::SSM::Parameter\) \(change set tenant-fleet-release-[0-9a-f]{8}\)$/) as unknown,
          infrastructure: { state: 'changes', changes: [{ logicalId: 'TemplateMarkerParameter', resourceType: 'AWS::SSM::Parameter', action: 'add' }] },
        },
        marker: 'k8s',
        stack: 'UPDATE_COMPLETE',
      });

      writeFileSync(file, changed.replace('BucketName: !Sub "tenant-${TenantId}-${AWS::AccountId}"', 'BucketName: !Sub "tenant-${TenantId}-v2-${AWS::AccountId}"'));
      const refused = await release('template-refused');
      expect({ status: refused.summary.status, tenants: refused.summary.tenants, stack: await stack(), marker: await marker() }).toMatchObject({
        status: 'halted',
        tenants: [{ tenantId: 'soylent', status: 'rolled-back', reason: expect.stringContaining('DataBucket (AWS::S3::Bucket) would be replaced') as unknown }],
        stack: 'UPDATE_COMPLETE',
        marker: 'k8s',
      });
      expect(await kubectl('get', 'deployment', 'app', '-n', 'tenant-soylent', '-o', 'jsonpath={.spec.template.spec.containers[0].image}')).toBe(`${tenant.image}:${version}`);
    } finally {
      writeFileSync(file, original);
    }
  }, 300_000);

  it('serves every hostname of its Kubernetes tenants over the load balancer, fails no request in a clean release, and answers 404 once deprovisioned', async () => {
    const tenants = [kubernetesTenant('tyrell'), kubernetesTenant('oscorp')];
    await Promise.all(tenants.map((tenant) => provisionTenant(h.client, { tenant, initialVersion: '1.0.0', requestedBy: 'jest' })));
    const hostnames = tenants.flatMap((tenant) => tenant.hostnames.map((hostname) => ({ hostname, tenantId: tenant.id })));
    expect(hostnames.map((t) => t.hostname)).toEqual(['tyrell.b.tenants.test', 'api.tyrell.b.tenants.test', 'oscorp.b.tenants.test']);
    const endpoints = new Map(await Promise.all(hostnames.map(async ({ hostname }) => [hostname, await resolveTenantEndpoint(TEST_SANDBOX_DIR, hostname)] as const)));
    for (const { hostname, tenantId } of hostnames) {
      await eventually(() => answerOf(endpoints.get(hostname)!.url, hostname), { status: 200, tenant: tenantId, version: '1.0.0', host: hostname }, 60_000);
    }

    // A release to both under steady traffic: every pod is replaced, and no request fails.
    const prober = await startProber({ stateDir: TEST_SANDBOX_DIR, targets: hostnames, ratePerSecond: 10, phase: 'clean release' });
    let snapshot: Awaited<ReturnType<typeof prober.stop>>;
    try {
      const { handle } = await startRelease(h.client, h.config, { releaseId: `jest-k8s-traffic-${Date.now()}`, plan: 'quick', requestedBy: 'jest', version: '1.1.0', tenants: tenants.map((t) => t.id) });
      const summary = await releaseOutcome(handle);
      expect(summary.status).toBe('succeeded');
    } finally {
      snapshot = await prober.stop();
    }
    const clean = snapshot.phases.find((p) => p.name === 'clean release')!;
    for (const tenant of tenants) {
      expect(clean.tenants[tenant.id]?.requests).toBeGreaterThan(20);
      expect(clean.tenants[tenant.id]).toMatchObject({ failed: 0 });
    }
    // The old pods leave their target group a moment after the rollout completes (the binding
    // deregisters them, as the AWS controller does): until then one may still answer, with 200.
    for (const { hostname, tenantId } of hostnames) {
      await eventually(() => answerOf(endpoints.get(hostname)!.url, hostname), { status: 200, tenant: tenantId, version: '1.1.0', host: hostname }, 30_000);
    }

    // Deprovisioned (both are production tenants: confirmed by name): no rule for their hostnames any more.
    // Their buckets stay; the services test below provisions oscorp again, adopting its bucket.
    await Promise.all(tenants.map((tenant) => deprovisionTenant(h.client, { tenant, requestedBy: 'jest', confirmProduction: tenant.id })));
    for (const { hostname } of hostnames) {
      await eventually(async () => (await answerOf(endpoints.get(hostname)!.url, hostname)).status, 404);
    }
  }, 900_000);


  it('prunes an object removed from the chart on the next apply (also after an apply cut short), and nothing else', async () => {
    const tenantId = 'pruned-chart';
    const namespace = `tenant-${tenantId}`;
    const runtime = kubernetesTenant('wonka').runtime;
    // Three versions of the fleet's chart: with one more ConfigMap, without it but with a
    // PodDisruptionBudget the server refuses (so that apply stops part-way), and as it is.
    const variant = (name: string, extra: Record<string, object>) => {
      const dir = join(scratch, name);
      cpSync(TENANT_CHART_DIR, dir, { recursive: true });
      for (const [file, object] of Object.entries(extra)) writeFileSync(join(dir, 'templates', file), stringify(object));
      return dir;
    };
    const extraConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'extra-settings', namespace }, data: { A: '1' } };
    const refusedPdb = { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'refused', namespace }, spec: { maxUnavailable: -1, selector: { matchLabels: { a: 'b' } } } };
    const activitiesWith = (dir: string) =>
      createKubernetesActivities({ cluster: CLUSTER, kube, chart: new TenantChart({ helm, chart: { path: dir }, valuesFor: () => [{ file: SANDBOX_VALUES_FILE }] }) });
    const withExtra = activitiesWith(variant('with-extra', { 'extra.yaml': extraConfigMap }));
    const cutShort = activitiesWith(variant('cut-short', { 'refused.yaml': refusedPdb }));
    const current = activitiesWith(TENANT_CHART_DIR);
    const workload: WorkloadSpec = { tenantId, image: 'registry.sandbox.test/tenant-app', version: '1.0.0', replicas: 1, config: { TENANT_ID: tenantId } };
    const objects = async () => (await kubectl('get', 'configmap,serviceaccount,service,deployment,pdb,networkpolicy,role,rolebinding,resourcequota,limitrange', '-n', namespace, '-o', 'jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.uid}{"\\n"}{end}')).split('\n').sort();

    try {
      expect((await withExtra.k8sApplyWorkload({ runtime, workload })).changed).toBe(true);
      expect(await kubectl('get', 'configmap', 'extra-settings', '-n', namespace, '-o', 'jsonpath={.data.A}')).toBe('1');
      // Objects the fleet did not apply: one unlabelled, one carrying the ApplySet's label by hand.
      await kubectl('create', 'configmap', 'someone-else', '-n', namespace, '--from-literal=B=2');
      await kubectl('create', 'configmap', 'labelled-by-hand', '-n', namespace, '--from-literal=C=3');
      const partOf = await kubectl('get', 'configmap', 'extra-settings', '-n', namespace, '-o', 'jsonpath={.metadata.labels.applyset\\.kubernetes\\.io/part-of}');
      expect(partOf).toMatch(/^applyset-[\w-]{43}-v1$/);
      await kubectl('label', 'configmap', 'labelled-by-hand', '-n', namespace, `applyset.kubernetes.io/part-of=${partOf}`);

      // Cut short: the server refuses the last object, so nothing is pruned yet.
      const refused = await failureOf(cutShort.k8sApplyWorkload({ runtime, workload }));
      expect(refused.type).toBe(ErrorType.InvalidInput);
      expect(refused.message).toContain('PodDisruptionBudget tenant-pruned-chart/refused');
      expect(await kubectl('get', 'configmap', 'extra-settings', '-n', namespace, '--ignore-not-found', '-o', 'name')).toBe('configmap/extra-settings');
      const before = (await objects()).filter((line) => !line.startsWith('ConfigMap/extra-settings='));

      // tenantctl tenant diff's preview of that apply names what its prune would delete, and only that; it deletes nothing.
      const all = await objects();
      const preview = await current.k8sPreviewWorkload({ runtime, workload });
      expect(preview.objects!.filter((o) => o.action === 'delete')).toEqual([{ object: `ConfigMap ${namespace}/extra-settings`, action: 'delete' }]);
      expect(await objects()).toEqual(all);

      const [pruned, again] = await twice(current.k8sApplyWorkload, { runtime, workload });
      expect(pruned.changed).toBe(true);
      expect(again).toEqual({ changed: false, revision: pruned.revision });
      expect(await kubectl('get', 'configmap', 'extra-settings', '-n', namespace, '--ignore-not-found', '-o', 'name')).toBe('');
      // Everything else is the same object as before (same UIDs), the refused PDB never existed, and the
      // objects the fleet did not apply are untouched.
      expect(await objects()).toEqual(before);
      expect(before.some((line) => line.startsWith('ConfigMap/someone-else='))).toBe(true);
      expect(before.some((line) => line.startsWith('ConfigMap/labelled-by-hand='))).toBe(true);
      expect(before.some((line) => line.startsWith('Deployment/app='))).toBe(true);
      expect(await kubectl('get', 'configmap', 'tenant-fleet-applyset', '-n', namespace, '-o', 'jsonpath={.metadata.annotations.applyset\\.kubernetes\\.io/contains-group-kinds}')).toBe(
        'ConfigMap,Deployment.apps,LimitRange,NetworkPolicy.networking.k8s.io,PodDisruptionBudget.policy,ResourceQuota,Role.rbac.authorization.k8s.io,RoleBinding.rbac.authorization.k8s.io,Service,ServiceAccount',
      );
    } finally {
      await current.k8sDeleteWorkload({ runtime, tenantId });
    }
  }, 300_000);

  it('deploys a green colour beside blue in its own target group from the recorded workload, keeps it through provisioning, reads both and retires it; every colour activity run twice gives the same outcome', async () => {
    const tenant = kubernetesTenant('wonka');
    const { runtime } = tenant;
    // A tenant of the fleet config (the worker renders its values from there); the first test deleted its namespace.
    const tenantId = tenant.id;
    const namespace = `tenant-${tenantId}`;
    const ref = { runtime, tenantId };
    const elbv2 = h.admin.elbv2(tenant.aws);
    const [blueGroup, greenGroup] = await Promise.all([createTargetGroup(tenant, 'tenant-colours-blue'), createTargetGroup(tenant, 'tenant-colours-green')]);
    const workload: WorkloadSpec = { tenantId, image: tenant.image, version: '1.0.0', replicas: 1, config: { TENANT_ID: tenantId }, targetGroupArn: blueGroup };
    const green = { ...ref, image: tenant.image, colour: 'green' as const, version: '1.1.0', replicas: 1, targetGroupArn: greenGroup };
    const greenField = (path: string) => kubectl('get', 'deployment', 'app-green', '-n', namespace, '-o', `jsonpath=${path}`);
    try {
      expect((await activities.k8sApplyWorkload({ runtime, workload })).changed).toBe(true);
      expect((await activities.k8sWaitForRollout(ref)).ready).toBe(true);

      // Before provisioning recorded a workload, there is nothing to render green from.
      await kubectl('annotate', 'configmap', 'tenant-fleet-applyset', '-n', namespace, 'tenant-fleet.io/applied-workload-');
      const unrecorded = await failureOf(activities.k8sDeployColour(green));
      expect(unrecorded.type).toBe(ErrorType.ResourceNotFound);
      expect(unrecorded.message).toContain(`provision it once (tenantctl tenant provision ${tenantId}) before its first blue/green release`);
      expect(await kubectl('get', 'deployment', 'app-green', '-n', namespace, '--ignore-not-found', '-o', 'name')).toBe('');
      expect((await activities.k8sApplyWorkload({ runtime, workload })).changed).toBe(false);

      const [deployed, deployedAgain] = await twice(activities.k8sDeployColour, green);
      expect(deployed).toEqual({ ready: true, updatedReplicas: 1, readyReplicas: 1, desiredReplicas: 1, changed: true });
      expect(deployedAgain).toEqual({ ...deployed, changed: false });
      // Each colour's pods are targets of its own group only.
      await eventually(() => servingVersions(elbv2, greenGroup), ['1.1.0']);
      expect(await servingVersions(elbv2, blueGroup)).toEqual(['1.0.0']);
      const [colours, coloursAgain] = await twice(activities.k8sReadColours, ref);
      expect(colours).toMatchObject({
        blue: { colour: 'blue', exists: true, version: '1.0.0', targetGroupArn: blueGroup, desiredReplicas: 1, readyReplicas: 1, ready: true },
        green: { colour: 'green', exists: true, version: '1.1.0', targetGroupArn: greenGroup, desiredReplicas: 1, readyReplicas: 1, ready: true },
      });
      expect(coloursAgain).toEqual(colours);
      expect(await activities.k8sCurrentWorkload({ ...ref, colour: 'green' })).toMatchObject({ version: '1.1.0' });
      expect(await activities.k8sCurrentWorkload(ref)).toMatchObject({ version: '1.0.0' });

      // Provisioning (blue's workload, a new config and size): green keeps its image, replicas and
      // group and is not pruned, but gets the config (its pods roll, as blue's do).
      const reprovision = { runtime, workload: { ...workload, replicas: 2, config: { TENANT_ID: tenantId, FEATURE: 'on' } } };
      const checksum = () => greenField('{.spec.template.metadata.annotations.tenant-fleet\\.io/config-checksum}');
      const greenChecksum = await checksum();
      const [reapplied, reappliedAgain] = await twice(activities.k8sApplyWorkload, reprovision);
      expect(reapplied.changed).toBe(true);
      expect(reappliedAgain.changed).toBe(false);
      expect(await greenField('{.spec.replicas} {.spec.template.spec.containers[0].image}')).toBe(`1 ${tenant.image}:1.1.0`);
      expect(await checksum()).not.toBe(greenChecksum);
      expect(await kubectl('get', 'targetgroupbinding', 'app-green', '-n', namespace, '-o', 'jsonpath={.spec.targetGroupARN}')).toBe(greenGroup);
      expect((await activities.k8sWaitForRollout(ref)).ready).toBe(true);
      expect((await activities.k8sDeployColour(green)).ready).toBe(true);
      await eventually(() => servingVersions(elbv2, greenGroup), ['1.1.0']);
      // tenant diff: nothing left to do, green's objects shown unchanged; tenant resources lists them and green's pod.
      const preview = await activities.k8sPreviewWorkload(reprovision);
      expect(preview.state).toBe('unchanged');
      expect(preview.objects!.map((o) => o.object)).toEqual(expect.arrayContaining([`Deployment ${namespace}/app-green`, `Service ${namespace}/app-green`, `TargetGroupBinding ${namespace}/app-green`]));
      const listed = await activities.k8sListWorkload(ref);
      expect(listed.objects.filter((o) => o.kind === 'Deployment').map((o) => [o.name, o.detail])).toEqual([
        ['app', `${tenant.image}:1.0.0`],
        ['app-green', `${tenant.image}:1.1.0`],
      ]);
      expect(listed.objects.filter((o) => o.kind === 'Pod' && o.detail === `${tenant.image}:1.1.0`)).toHaveLength(1);

      // Retired: no pods, no targets; the objects stay, and provisioning does not scale it back up.
      expect(await twice(activities.k8sRetireColour, { ...ref, colour: 'green' })).toEqual([{ changed: true }, { changed: false }]);
      expect(await activities.k8sReadColours(ref)).toMatchObject({ green: { exists: true, version: '1.1.0', desiredReplicas: 0, readyReplicas: 0 } });
      await eventually(() => servingVersions(elbv2, greenGroup), []);
      expect((await activities.k8sApplyWorkload(reprovision)).changed).toBe(false);
      expect(await greenField('{.spec.replicas}')).toBe('0');

      // A broken green fails its rollout (the progress deadline) and blue serves on; retiring it works all the same.
      const broken = await activities.k8sDeployColour({ ...green, version: '1.2.0-broken' });
      expect(broken.ready).toBe(false);
      expect(broken.failureReason).toMatch(/^ProgressDeadlineExceeded: .*\(container app: CrashLoopBackOff\)$/);
      expect(await servingVersions(elbv2, blueGroup)).toEqual(['1.0.0', '1.0.0']);
      expect(await activities.k8sRetireColour({ ...ref, colour: 'green' })).toEqual({ changed: true });
      expect(await kubectl('get', 'pods', '-n', namespace, '-l', 'tenant-fleet.io/colour=green', '-o', 'name')).toBe('');

      // Green live again and blue retired (the next release's end state): provisioning, naming no
      // colour, leaves blue retired at its version instead of scaling it back up, and green as it runs.
      expect((await activities.k8sDeployColour(green)).ready).toBe(true);
      expect(await activities.k8sRetireColour({ ...ref, colour: 'blue' })).toEqual({ changed: true });
      await eventually(() => servingVersions(elbv2, blueGroup), []);
      await activities.k8sApplyWorkload({ runtime, workload: { ...reprovision.workload, version: '1.3.0' } });
      expect(await activities.k8sReadColours(ref)).toMatchObject({
        blue: { exists: true, version: '1.0.0', desiredReplicas: 0 },
        green: { exists: true, version: '1.1.0', desiredReplicas: 1, readyReplicas: 1 },
      });
      // With blue retired, the tenant's current version (tenant list, provisioning) is green's.
      expect(await activities.k8sCurrentWorkload(ref)).toMatchObject({ version: '1.1.0' });
      expect(await activities.k8sCurrentWorkload({ ...ref, colour: 'blue' })).toMatchObject({ version: '1.0.0' });

      // Input naming a colour that does not exist is refused before anything is written.
      const refused = await failureOf(activities.k8sRetireColour({ ...ref, colour: 'purple' as never }));
      expect(refused.type).toBe(ErrorType.InvalidInput);
      expect(refused.message).toContain('colour');
    } finally {
      await activities.k8sDeleteWorkload(ref);
    }
  }, 300_000);

  it('deploys a sandbox tenant from a user chart at a local path, with fleet, environment and tenant values', async () => {
    const tenant = kubernetesTenant('wayne');
    const { runtime } = tenant;
    // A chart of the user's own: another layout, its own values schema, the names the fleet needs.
    const chartDir = join(scratch, 'configs', 'charts', 'acme-tenant');
    mkdirSync(join(chartDir, 'templates'), { recursive: true });
    const write = (file: string, text: string) => writeFileSync(join(chartDir, file), text);
    write('Chart.yaml', 'apiVersion: v2\nname: acme-tenant\nversion: 0.3.0\n');
    write('values.yaml', 'tenant: {}\ngreeting: hello\nbanner: none\nextraLabels: {}\n');
    write(
      'values.schema.json',
      JSON.stringify({ type: 'object', required: ['greeting'], properties: { greeting: { type: 'string', enum: ['hello', 'hi', 'howdy'] }, banner: { type: 'string' } } }),
    );
    write(
      'templates/all.yaml',
      [
        'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {{ .Release.Namespace }}\n  labels:\n    app.kubernetes.io/managed-by: tenant-fleet',
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  GREETING: {{ .Values.greeting | quote }}\n  BANNER: {{ .Values.banner | quote }}\n{{- range $k, $v := .Values.tenant.config }}\n  {{ $k }}: {{ $v | quote }}\n{{- end }}',
        'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  labels:\n    {{- toYaml .Values.extraLabels | nindent 4 }}\nspec:\n  replicas: {{ .Values.tenant.replicas }}\n  progressDeadlineSeconds: 15\n  selector:\n    matchLabels: { app: {{ .Values.tenant.id | quote }} }\n  template:\n    metadata:\n      labels: { app: {{ .Values.tenant.id | quote }} }\n    spec:\n      securityContext: { runAsNonRoot: true, seccompProfile: { type: RuntimeDefault } }\n      containers:\n        - name: app\n          image: {{ .Values.tenant.image | quote }}\n          envFrom: [{ configMapRef: { name: app-config } }]\n          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: [ALL] } }',
      ].join('\n---\n'),
    );
    const configPath = join(scratch, 'configs', 'fleet.yaml');
    const config = {
      ...h.config,
      tenantChart: { path: 'charts/acme-tenant', values: { greeting: 'hi', banner: 'fleet' } },
      environments: h.config.environments.map((e) => (e.name === tenant.environment ? { ...e, chartValues: { banner: `environment ${e.name}` } } : e)),
      tenants: h.config.tenants.map((t) => (t.id === tenant.id ? { ...t, chartValues: { greeting: 'howdy', extraLabels: { 'acme.example/owner': 'wayne' } } } : t)),
    };
    const userActivities = createKubernetesActivities({ cluster: CLUSTER, kube, chart: tenantChartFromConfig({ fleet: { path: configPath, config }, helm }) });
    const workload: WorkloadSpec = { tenantId: tenant.id, image: tenant.image, version: '2.0.0', replicas: 2, config: { TENANT_ID: tenant.id } };
    const ref = { runtime, tenantId: tenant.id };
    try {
      const [applied, again] = await twice(userActivities.k8sApplyWorkload, { runtime, workload });
      expect(applied.changed).toBe(true);
      expect(again).toEqual({ changed: false, revision: applied.revision });
      expect(await userActivities.k8sWaitForRollout(ref)).toEqual({ ready: true, updatedReplicas: 2, readyReplicas: 2, desiredReplicas: 2 });
      expect(await userActivities.k8sCurrentWorkload(ref)).toMatchObject({ image: `${tenant.image}:2.0.0`, version: '2.0.0' });
      // Tenant over environment over fleet over the chart's defaults.
      expect(await kubectl('get', 'configmap', 'app-config', '-n', 'tenant-wayne', '-o', 'jsonpath={.data.GREETING}/{.data.BANNER}/{.data.TENANT_ID}')).toBe(`howdy/environment ${tenant.environment}/wayne`);
      expect(await kubectl('get', 'deployment', 'app', '-n', 'tenant-wayne', '-o', 'jsonpath={.metadata.labels.acme\\.example/owner}')).toBe('wayne');

      // Values the chart's values.schema.json refuses fail before anything is applied, and are not retried.
      const refusing = createKubernetesActivities({
        cluster: CLUSTER,
        kube,
        chart: tenantChartFromConfig({ fleet: { path: configPath, config: { ...config, tenantChart: { ...config.tenantChart, values: { greeting: 'yo' } }, tenants: h.config.tenants } }, helm }),
      });
      const refused = await failureOf(refusing.k8sApplyWorkload({ runtime, workload: { ...workload, version: '3.0.0' } }));
      expect(refused.type).toBe(ErrorType.InvalidInput);
      expect(refused.nonRetryable).toBe(true);
      expect(refused.message).toContain("the values do not match the chart's values.schema.json");
      expect(refused.message).toContain('greeting');
      expect((await userActivities.k8sCurrentWorkload(ref))?.version).toBe('2.0.0');
    } finally {
      await userActivities.k8sDeleteWorkload(ref);
    }
  }, 300_000);
});

describe('a tenant with services on Kubernetes (docs/services.md)', () => {
  type Container = { name: string; image: string; args?: string[]; env?: { name: string; value?: string }[]; resources?: { requests?: Record<string, string> }; livenessProbe?: { exec?: { command: string[] } } };
  type Deployed = { spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: { spec: { serviceAccountName: string; containers: Container[] } } }; status?: { readyReplicas?: number } };
  const deployed = async (name: string) => JSON.parse(await kubectl('get', 'deployment', name, '-n', 'tenant-oscorp', '-o', 'json')) as Deployed;
  const envOf = (deployment: Deployed) => Object.fromEntries((deployment.spec.template.spec.containers[0]!.env ?? []).map((e) => [e.name, e.value]));
  const running = async () =>
    Object.fromEntries(
      await Promise.all(
        ['app', 'worker', 'api'].map(async (name) => {
          const d = await deployed(name);
          const env = envOf(d);
          return [name, runningLine(d.spec.template.spec.containers[0]!.image, env)] as const;
        }),
      ),
    );
  const release = (version: string, manifest?: ReleaseManifest) => releaseOneTenant(h, { tenantId: 'oscorp', releaseIdPrefix: 'jest-k8s-services', version, manifest });

  it('a three-service tenant is provisioned and released, each service getting its own configuration', async () => {
    const tenant = kubernetesTenant('oscorp');
    const { runtime } = tenant;
    const account = tenant.aws.accountId;
    // Fresh also after the traffic test above: its deprovisioning left the bucket, which this provisioning adopts.
    expect(await provisionTenant(h.client, { tenant, initialVersion: '1.0.0', requestedBy: 'jest' })).toMatchObject({ fresh: true, stackOperation: 'create' });
    try {
      // Each service its own Deployment: image, arguments, variables, secret references (ARNs, never values), size.
      const [web, worker, api] = await Promise.all(['app', 'worker', 'api'].map(deployed));
      expect(web!.spec.template.spec.containers[0]!.image).toBe('registry.sandbox.test/tenant-app:1.0.0');
      expect(web!.spec.template.spec.containers[0]!.args).toBeUndefined();
      expect(envOf(web!)).toEqual({ TENANT_FLEET_VERSION: '1.0.0' });
      expect(await kubectl('get', 'configmap', 'app-config', '-n', 'tenant-oscorp', '-o', 'jsonpath={.data.SERVICE_ROLE}')).toBe('web');
      expect(worker!.spec.template.spec.containers[0]).toMatchObject({
        name: 'worker',
        image: 'registry.sandbox.test/tenant-worker:1.0.0',
        args: ['worker', '--queue', 'default'],
        resources: { requests: { cpu: '500m', memory: '1Gi' } },
        livenessProbe: { exec: { command: ['CMD', 'worker', 'ping'] } },
      });
      expect(envOf(worker!)).toMatchObject({
        SERVICE_ROLE: 'worker',
        WORKER_CONCURRENCY: '8',
        TENANT_ID: 'oscorp',
        STRIPE_API_KEY_SECRET_ARN: `arn:aws:ssm:us-east-1:${account}:parameter/tenant-fleet/oscorp/billing/stripe-api-key`,
        TENANT_FLEET_VERSION: '1.0.0',
      });
      expect(envOf(worker!).PARTNER_TOKEN_SECRET_ARN).toBeUndefined();
      expect(api!.spec.template.spec.containers[0]).toMatchObject({ name: 'api', image: 'registry.sandbox.test/tenant-app:1.0.0', args: ['api', '--port', '9090'], resources: { requests: { cpu: '250m', memory: '512Mi' } } });
      expect(envOf(api!)).toMatchObject({ SERVICE_ROLE: 'api', PARTNER_TOKEN_SECRET_ARN: `arn:aws:secretsmanager:us-east-1:${account}:secret:tenant-fleet/oscorp/partner-token` });
      expect([web, worker, api].map((d) => [d!.spec.replicas, d!.status?.readyReplicas, d!.spec.template.spec.serviceAccountName])).toEqual([
        [tenant.replicas, tenant.replicas, 'app'],
        [2, 2, 'app'],
        [1, 1, 'app'],
      ]);
      // The primary's Service (and so its target group) selects the web pods only.
      const selector = (JSON.parse(await kubectl('get', 'service', 'app', '-n', 'tenant-oscorp', '-o', 'jsonpath={.spec.selector}')) as Record<string, string>);
      const selected = (await kubectl('get', 'pods', '-n', 'tenant-oscorp', '-l', Object.entries(selector).map(([k, v]) => `${k}=${v}`).join(','), '-o', 'name')).split('\n');
      expect(selected).toHaveLength(tenant.replicas);
      for (const pod of selected) expect(pod).toMatch(/^pod\/app-/);
      expect((await kubectl('get', 'pods', '-n', 'tenant-oscorp', '-l', 'tenant-fleet.io/service', '-o', 'name')).split('\n')).toHaveLength(3);

      // Released by version: every service to the new tag.
      expect((await release('1.1.0')).status).toBe('succeeded');
      expect(await running()).toEqual({
        app: 'registry.sandbox.test/tenant-app:1.1.0 1.1.0',
        worker: 'registry.sandbox.test/tenant-worker:1.1.0 1.1.0 8',
        api: 'registry.sandbox.test/tenant-app:1.1.0 1.1.0',
      });

      // Released from a manifest: images of their own and a variable changed.
      expect((await release('1.2.0', threeServiceManifest('1.2.0', 'w-77'))).status).toBe('succeeded');
      const good = {
        app: 'registry.sandbox.test/tenant-app:1.2.0 1.2.0',
        worker: 'registry.sandbox.test/tenant-worker:w-77 1.2.0 16',
        api: 'registry.sandbox.test/tenant-api:1.2.0-api 1.2.0',
      };
      expect(await running()).toEqual(good);
      expect(await activities.k8sCurrentWorkload({ runtime, tenantId: 'oscorp', services: ['api', 'worker'] })).toMatchObject({
        version: '1.2.0',
        services: { worker: 'registry.sandbox.test/tenant-worker:w-77', api: 'registry.sandbox.test/tenant-api:1.2.0-api' },
      });

      // A manifest whose worker never becomes ready: the release fails on that service and every service goes back.
      const broken = await release('1.3.0', threeServiceManifest('1.3.0', '1.3.0-broken'));
      expect(broken.status).not.toBe('succeeded');
      expect(broken.tenants).toEqual([expect.objectContaining({ tenantId: 'oscorp', status: 'rolled-back', reason: expect.stringContaining('worker') as unknown })]);
      expect(await running()).toEqual(good);

      // A service no longer declared: the next provisioning's apply prunes its objects (the tenant's ApplySet), and only those.
      await provisionTenant(h.client, { tenant: { ...tenant, services: tenant.services!.filter((s) => s.name !== 'api') }, requestedBy: 'jest' });
      expect(await kubectl('get', 'deployment,pdb', '-n', 'tenant-oscorp', '-l', 'tenant-fleet.io/service', '-o', 'name')).toBe('deployment.apps/worker\npoddisruptionbudget.policy/worker');
      expect(await kubectl('get', 'deployment', 'app', '-n', 'tenant-oscorp', '-o', 'name')).toBe('deployment.apps/app');
    } finally {
      await deprovisionTenant(h.client, { tenant, requestedBy: 'jest', confirmProduction: 'oscorp' });
    }
  }, 900_000);
});

describe('the official client authenticates the way EKS users do', () => {
  const sandboxNamespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } };

  /** The sandbox kubeconfig's cluster with another user: the admin's client certificate is dropped. */
  function kubeconfigWithUser(name: string, user: Record<string, unknown>): string {
    const { config } = loadKubeAccess({ kubeconfig });
    const cluster = config.getCurrentCluster()!;
    const path = join(scratch, `${name}.kubeconfig`);
    const clusterEntry = { server: cluster.server, ...(cluster.caFile ? { 'certificate-authority': cluster.caFile } : { 'certificate-authority-data': cluster.caData }) };
    writeFileSync(
      path,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'sandbox', cluster: clusterEntry }],
        users: [{ name, user }],
        contexts: [{ name, context: { cluster: 'sandbox', user: name } }],
        'current-context': name,
      }),
    );
    return path;
  }

  it('runs an exec credential plugin from the kubeconfig, reuses its token until it expires, and is refused with a token the server does not know', async () => {
    const tokenFile = h.env.TENANT_FLEET_SANDBOX_KUBE_PLUGIN_TOKEN_FILE;
    if (!tokenFile) throw new Error('the sandbox env has no TENANT_FLEET_SANDBOX_KUBE_PLUGIN_TOKEN_FILE');
    const calls = join(scratch, 'plugin-calls');
    const exec = (token: string) => ({
      apiVersion: 'client.authentication.k8s.io/v1beta1',
      command: process.execPath,
      args: [join(repoRoot, 'test/sandbox/kube/credential-plugin.mjs')],
      env: [
        { name: 'PLUGIN_TOKEN', value: token },
        { name: 'PLUGIN_CALLS', value: calls },
      ],
    });
    const viaPlugin = new KubeClient(loadKubeAccess({ kubeconfig: kubeconfigWithUser('plugin', { exec: exec(readFileSync(tokenFile, 'utf8').trim()) }) }));
    expect((await viaPlugin.get(sandboxNamespace))?.metadata.name).toBe('default');
    expect((await viaPlugin.list('v1', 'Namespace', undefined)).items.map((n) => n.metadata.name)).toContain('kube-system');
    expect(readFileSync(calls, 'utf8').trim().split('\n')).toHaveLength(1);

    const refused = new KubeClient(loadKubeAccess({ kubeconfig: kubeconfigWithUser('stranger', { exec: exec('not-a-token-the-server-knows') }) }));
    await expect(refused.get(sandboxNamespace)).rejects.toMatchObject({ name: 'KubeApiError', status: 401 });
  });

  it('signs an EKS token in-process with the fleet access role, which the cluster accepts only for its own name', async () => {
    const clusterName = h.env.TENANT_FLEET_SANDBOX_EKS_CLUSTER_NAME;
    if (!clusterName) throw new Error('the sandbox env has no TENANT_FLEET_SANDBOX_EKS_CLUSTER_NAME');
    const cluster = h.config.kubernetesClusters.find((c) => c.name === CLUSTER)!;
    const account = h.config.accounts[0]!;
    const withToken = (name: string) =>
      new KubeClient(clusterAccess({ ...cluster, eksToken: { clusterName: name, region: account.regions[0]!, account: account.name } }, h.config, { aws: h.aws, awsEndpoint: h.env.AWS_ENDPOINT_URL }));

    const eks = withToken(clusterName);
    expect((await eks.get(sandboxNamespace))?.metadata.name).toBe('default');
    // The x-k8s-aws-id header is signed: a token for another cluster does not open this one.
    await expect(withToken('another-cluster').get(sandboxNamespace)).rejects.toMatchObject({ name: 'KubeApiError', status: 401 });
  });
});
