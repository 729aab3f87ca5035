import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadReleaseManifest } from '../../src/client/release-manifest';
import { planRelease } from '../../src/client/releases';
import { parse, stringify } from 'yaml';
import type { ReleaseTarget } from '../../src/activities/runtime/types';
import { parseFleetConfig } from '../../src/shared/config/load';
import { resolveTenantSpec } from '../../src/shared/config/resolve';
import type { ReleaseTenantInput, ReleaseTenantResult } from '../../src/shared/messages/release';
import { releaseTargetFor, uniformTargetFor, type ReleaseManifest } from '../../src/shared/release/manifest';
import type { ReleaseRecord } from '../../src/shared/release/record';
import type { InputValidationError } from '../../src/shared/validation';
import { TASK_QUEUES } from '../../src/shared/task-queues';
import { workflowBundleOptions } from '../../src/workers/bundle';
import { describeWithTestServer, startTimeSkippingWorkers, type TimeSkippingWorkers } from '../support/time-skipping';
import { refusal } from '../support/refusal';

/**
 * The release side of services and manifests (docs/releases.md, "Release manifests"): the real
 * releaseTenant on the time-skipping test server with stubbed activities, checking what each step
 * is given: the release's target, the previous one on every way back, the record beside the
 * version, and that a release without a target asks no new patch. With
 * TENANT_FLEET_RECORD_HISTORIES=1 the first test saves its history as a replay fixture.
 */
const QUEUE = 'release-services';
const K8S_QUEUE = 'tenant-fleet-k8s-eks-us-east-1';

type Raw = { environments: Record<string, unknown>[]; tenants: Record<string, unknown>[] };
const example = readFileSync(join(__dirname, '..', '..', 'config', 'fleet.example.yaml'), 'utf8');
const raw = parse(example) as Raw;
// globex (Kubernetes, behind a load balancer) runs a web and a worker service; acme (ECS) none.
// The example's own services are dropped, so acme is a tenant without any.
for (const t of [...raw.tenants, ...raw.environments]) delete t.services;
raw.tenants.find((t) => t.id === 'globex')!.services = { web: { traffic: true }, worker: { environment: { QUEUE: 'jobs' } } };
const config = parseFleetConfig(stringify(raw));
const globex = resolveTenantSpec(config, 'globex');
const acme = resolveTenantSpec(config, 'acme');
// globex without its services: a Kubernetes tenant without any, released on the lean path.
const { services: _services, ...globexPlain } = { ...globex, id: 'globex-plain' };
const REPO = globex.image;

const manifest = (version: string, extra: Partial<ReleaseManifest> = {}): ReleaseManifest => ({
  version,
  services: { web: `${REPO}:web-${version}`, worker: `ghcr.io/acme/worker:${version}` },
  ...extra,
});

/** What the stubs answer and what they were asked, per test. */
interface World {
  version: string;
  record?: ReleaseRecord;
  healthy: boolean;
  calls: { name: string; input: Record<string, unknown> }[];
}
let world: World;
const call = <R>(name: string, answer: (input: Record<string, unknown>) => R) => (input: Record<string, unknown>) => {
  world.calls.push({ name, input });
  return Promise.resolve(answer(input));
};
const deployed = (input: Record<string, unknown>) => {
  world.version = input.version as string;
  return { ready: true, changed: true };
};
const activities = {
  loadTenantSpec: call('loadTenantSpec', ({ tenantId }) => (tenantId === 'acme' ? acme : tenantId === 'globex-plain' ? globexPlain : globex)),
  claimTenantLock: call('claimTenantLock', () => ({ claimed: true })),
  releaseClaimedTenantLock: call('releaseClaimedTenantLock', () => undefined),
  getStackOutputs: call('getStackOutputs', () => ({ AppRoleArn: 'arn:aws:iam::123456789012:role/app' })),
  readReleaseRecord: call('readReleaseRecord', () => world.record ?? {}),
  k8sCurrentWorkload: call('k8sCurrentWorkload', () => ({ image: REPO, version: world.version, revision: '1' })),
  k8sDeployVersion: call('k8sDeployVersion', deployed),
  k8sSetVersion: call('k8sSetVersion', (input) => (deployed(input), { changed: true, revision: '2' })),
  k8sWaitForRollout: call('k8sWaitForRollout', () => ({ ready: true })),
  ecsPrepareRelease: call('ecsPrepareRelease', (input) => ({ current: { image: acme.image, version: world.version, revision: '1' }, outputs: {}, ...(input.readRelease && world.record ? { record: world.record } : {}) })),
  ecsInspectForRelease: call('ecsInspectForRelease', () => ({ current: { image: acme.image, version: world.version, revision: '1' }, outputs: {} })),
  ecsDeployAndRecord: call('ecsDeployAndRecord', deployed),
  ecsSetVersion: call('ecsSetVersion', (input) => (deployed(input), { changed: true, revision: '2' })),
  ecsWaitForRollout: call('ecsWaitForRollout', () => ({ ready: true })),
  verifyTenantHealth: call('verifyTenantHealth', () => (world.healthy ? { healthy: true } : { healthy: false, reason: 'alarm globex-5xx in ALARM' })),
  putTenantParameters: call('putTenantParameters', () => ({ written: [], unchanged: [] })),
};

const input = (extra: Partial<ReleaseTenantInput> & Pick<ReleaseTenantInput, 'tenantId' | 'version'>): ReleaseTenantInput => ({
  releaseId: 'r-services',
  mode: 'deploy',
  verifyWindowMs: 0,
  restoreDatabaseOnRollback: false,
  ...extra,
});
const asked = (name: string) => world.calls.filter((c) => c.name === name).map((c) => c.input);
const patchesOf = (history: temporal.api.history.v1.IHistory) =>
  (history.events ?? [])
    .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
    .flatMap((e) => Object.values(e.markerRecordedEventAttributes!.details ?? {}).flatMap((p) => p.payloads ?? []))
    .map((p) => JSON.parse(Buffer.from(p.data!).toString('utf8')) as unknown)
    .flatMap((d) => (typeof d === 'object' && d !== null && 'id' in d ? [String(d.id)] : []));

describeWithTestServer('a release with a target (services, a manifest), on the time-skipping test server', () => {
  let env: TestWorkflowEnvironment;
  let server: TimeSkippingWorkers | undefined;

  beforeAll(async () => {
    server = await startTimeSkippingWorkers({
      workflows: workflowBundleOptions(require.resolve('../../src/workflows')),
      queues: [QUEUE, TASK_QUEUES.aws, TASK_QUEUES.awsWait, K8S_QUEUE].map((taskQueue) => ({ taskQueue, activities })),
    });
    env = server.env;
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
  });

  beforeEach(() => {
    world = { version: '1.0.0', healthy: true, calls: [] };
  });

  const run = async (workflowId: string, args: ReleaseTenantInput) => {
    const handle = await env.client.workflow.start('releaseTenant', { taskQueue: QUEUE, workflowId, args: [args] });
    const result = (await handle.result()) as ReleaseTenantResult;
    return { result, history: await handle.fetchHistory() };
  };

  it("deploys every service's image from the manifest, and records its target beside the version with the one it replaced", async () => {
    const previous: ReleaseTarget = releaseTargetFor(globex, '1.0.0', manifest('1.0.0', { environment: { worker: { FEATURE_X: 'on' } } }))!;
    world.record = { release: previous };
    const { result, history } = await run('release/r-services/tenant/globex', input({ tenantId: 'globex', version: '2.0.0', manifest: manifest('2.0.0') }));
    expect(result).toMatchObject({ status: 'succeeded', previousVersion: '1.0.0', deployed: true });
    const target = releaseTargetFor(globex, '2.0.0', manifest('2.0.0'))!;
    expect(asked('k8sDeployVersion')).toEqual([expect.objectContaining({ version: '2.0.0', target })]);
    expect(asked('readReleaseRecord')).toHaveLength(1);
    expect(asked('putTenantParameters').at(-1)!.parameters).toEqual({
      'workload/version': '2.0.0',
      'workload/release': JSON.stringify(target),
      'workload/release-previous': JSON.stringify(previous),
    });
    expect(patchesOf(history)).toContain('release-tenant-services');
    if (process.env.TENANT_FLEET_RECORD_HISTORIES === '1') {
      const json = temporal.api.history.v1.History.toObject(history as temporal.api.history.v1.History, { longs: String, enums: String, bytes: String });
      writeFileSync(join(__dirname, '..', 'replay', 'histories', 'release-tenant-services.json'), `${JSON.stringify(json, null, 1)}\n`);
    }
  }, 60_000);

  it('rolls a failed verification back to the target recorded for the previous version, whole', async () => {
    const previous = releaseTargetFor(globex, '1.0.0', manifest('1.0.0', { environment: { worker: { FEATURE_X: 'on' } } }))!;
    world.record = { release: previous };
    world.healthy = false;
    const { result } = await run('release/r-services/tenant/globex-fails', input({ tenantId: 'globex', version: '2.0.0', manifest: manifest('2.0.0') }));
    expect(result).toMatchObject({ status: 'rolled-back', previousVersion: '1.0.0' });
    expect(asked('k8sSetVersion')).toEqual([expect.objectContaining({ version: '1.0.0', target: previous })]);
    expect(asked('putTenantParameters').at(-1)!.parameters).toEqual({ 'workload/version': '1.0.0', 'workload/release': JSON.stringify(previous) });
  }, 60_000);

  it("without a record for the previous version, goes back to each service's repository at it, undoing the release's variables", async () => {
    world.healthy = false;
    const release = manifest('2.0.0', { environment: { worker: { FEATURE_X: 'on', QUEUE: 'fast' } } });
    await run('release/r-services/tenant/globex-no-record', input({ tenantId: 'globex', version: '2.0.0', manifest: release }));
    const back = uniformTargetFor(globex, '1.0.0', releaseTargetFor(globex, '2.0.0', release));
    expect(back.services.find((s) => s.name === 'worker')!.environment).toEqual({ FEATURE_X: null, QUEUE: 'jobs' });
    expect(asked('k8sSetVersion')).toEqual([expect.objectContaining({ version: '1.0.0', target: back })]);
  }, 60_000);

  it.each(['revert', 'rollback'] as const)('a %s after the deploy goes back to the previous target recorded beside the release', async (mode) => {
    const previous = releaseTargetFor(globex, '1.0.0', manifest('1.0.0'))!;
    world.version = '2.0.0';
    world.record = { release: releaseTargetFor(globex, '2.0.0', manifest('2.0.0'))!, previous };
    const { result } = await run(`release/r-services/tenant/globex-${mode}`, input({ tenantId: 'globex', version: '2.0.0', mode, revertTo: '1.0.0', manifest: manifest('2.0.0') }));
    expect(result).toMatchObject({ status: 'rolled-back', previousVersion: '1.0.0' });
    expect(asked('k8sSetVersion')).toEqual([expect.objectContaining({ version: '1.0.0', target: previous })]);
  }, 60_000);

  it('on ECS, reads the record in the merged first step and records the target in the deploy', async () => {
    const release = { version: '2.0.0', services: { web: `${acme.image}:2.0.0-rc` } };
    const { result, history } = await run('release/r-services/tenant/acme', input({ tenantId: 'acme', version: '2.0.0', steps: 'merged', manifest: release }));
    expect(result).toMatchObject({ status: 'succeeded' });
    expect(asked('ecsPrepareRelease')).toEqual([expect.objectContaining({ readRelease: true })]);
    expect(asked('ecsDeployAndRecord')).toEqual([
      expect.objectContaining({ release: { version: '2.0.0', services: [{ name: 'web', image: `${acme.image}:2.0.0-rc` }] }, previousRelease: uniformTargetFor(acme, '1.0.0') }),
    ]);
    expect(patchesOf(history)).toEqual(['release-tenant-services']);
  }, 60_000);

  it('on Kubernetes (the lean steps), a release without a target reads no release record and asks no services patch', async () => {
    const { result, history } = await run('release/r-services/tenant/globex-plain', input({ tenantId: 'globex-plain', version: '2.0.0' }));
    expect(result).toMatchObject({ status: 'succeeded', previousVersion: '1.0.0', deployed: true });
    expect(asked('k8sDeployVersion')).toEqual([expect.not.objectContaining({ target: expect.anything() as unknown })]);
    expect(asked('readReleaseRecord')).toEqual([]);
    // The lean steps' own patch only.
    expect(patchesOf(history)).not.toContain('release-tenant-services');
  }, 60_000);

  it('a release without a target (no services, no manifest) asks no new patch and passes nothing new', async () => {
    const { result, history } = await run('release/r-services/tenant/acme-plain', input({ tenantId: 'acme', version: '2.0.0', steps: 'merged' }));
    expect(result).toMatchObject({ status: 'succeeded' });
    expect(patchesOf(history)).toEqual([]);
    expect(asked('readReleaseRecord')).toEqual([]);
    expect(asked('ecsPrepareRelease')[0]).not.toHaveProperty('readRelease');
    expect(asked('ecsDeployAndRecord')[0]).not.toHaveProperty('release');
  }, 60_000);

  it('refuses a manifest that misses a service of the tenant, naming it, before anything is deployed', async () => {
    const handle = await env.client.workflow.start('releaseTenant', {
      taskQueue: QUEUE,
      workflowId: 'release/r-services/tenant/globex-bad',
      args: [input({ tenantId: 'globex', version: '2.0.0', manifest: { version: '2.0.0', services: { web: `${REPO}:2.0.0` } } })],
    });
    const failure = await handle.result().then(() => undefined, (error: { cause?: Error }) => error.cause?.message);
    expect(failure).toContain('manifest.services.worker: tenant globex runs a service "worker"');
    expect(asked('k8sDeployVersion')).toEqual([]);
  }, 60_000);
});

describe('a release request with a manifest (tenantctl release start --manifest)', () => {
  const request = { releaseId: 'r-m', version: '2.0.0', plan: 'standard', requestedBy: 'unit' };
  const problems = refusal;

  it('carries the manifest whole to the release', () => {
    const planned = planRelease(config, { ...request, manifest: manifest('2.0.0', { services: { web: `${REPO}:2.0.0`, worker: `${REPO}:2.0.0` } }) });
    expect(planned.manifest?.services).toEqual({ web: `${REPO}:2.0.0`, worker: `${REPO}:2.0.0` });
  });

  it("is refused before anything starts when it misses a selected tenant's service, names one it does not run, or has another version", () => {
    expect(problems(() => planRelease(config, { ...request, manifest: { version: '2.0.1', services: { web: `${REPO}:2.0.0`, cron: 'x/cron:1' } } }))).toEqual([
      'manifest.version: expected the release\'s version 2.0.0 (got "2.0.1")',
      'manifest.services.worker: tenant globex runs a service "worker"; expected an image for it (got none)',
    ]);
    expect(problems(() => planRelease(config, { ...request, manifest: { version: '2.0.0', services: { web: `${REPO}:2.0.0`, worker: 'w:1' }, environment: { cron: { A: '1' } } } }))).toEqual([
      'manifest.environment.cron: tenant globex runs no service "cron"; expected one of: web, worker',
      'manifest.environment.cron: tenant acme runs no service "cron"; expected one of: web',
    ]);
  });

  it('reads a file and refuses an image without a tag, naming the file, the field and the value', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'manifest-'));
    const path = join(dir, 'release.yaml');
    writeFileSync(path, stringify({ version: '2.0.0', services: { web: `${REPO}:2.0.0`, worker: 'ghcr.io/acme/worker' } }));
    await expect(loadReleaseManifest(path).catch((error: InputValidationError) => error.problems)).resolves.toEqual([
      expect.stringMatching(new RegExp(`^manifest ${path}: services.worker: expected an image reference with a tag.* \\(got "ghcr.io/acme/worker"\\)$`)),
    ]);
    writeFileSync(path, stringify({ version: '2.0.0', services: { web: `${REPO}:2.0.0` } }));
    await expect(loadReleaseManifest(path)).resolves.toEqual({ version: '2.0.0', services: { web: `${REPO}:2.0.0` } });
  });
});
