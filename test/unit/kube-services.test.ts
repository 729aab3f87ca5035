import { ApplicationFailure } from '@temporalio/common';
import type { KubeClient, KubeObject } from '../../src/activities/kube-client/client';
import type { TenantChart } from '../../src/activities/kube-chart/tenant-chart';
import { RELEASE_FIELD_MANAGER, createKubernetesActivities, type KubernetesRuntime } from '../../src/activities/runtime/kubernetes';
import type { ReleaseTarget } from '../../src/activities/runtime/types';

/*
 * The Kubernetes runtime's release activities on a tenant with services (docs/services.md), against
 * a stub of the cluster that keeps Deployments and the ConfigMap and applies the strategic-merge
 * patches these activities send (containers and env merged by name, `$patch: delete`, the
 * resourceVersion precondition). The same activities against a real API server:
 * test/integration/kubernetes.test.ts.
 */

type Env = { name: string; value?: string };
type Container = { name: string; image: string; env?: Env[] };
type Stored = KubeObject & { spec?: { replicas?: number; template: { spec: { containers: Container[] } } }; data?: Record<string, string> };

const runtime: KubernetesRuntime = { kind: 'kubernetes', cluster: 'sandbox', taskQueue: 'kube-sandbox' };
const namespace = 'tenant-wayne';

function deployment(name: string, container: string, image: string, env: Env[] = []): Stored {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, generation: 1, resourceVersion: '1', labels: name === 'app' ? {} : { 'tenant-fleet.io/service': name } },
    spec: { replicas: 1, template: { spec: { containers: [{ name: container, image, env }] } } },
  };
}

function cluster(objects: Stored[]) {
  const store = new Map(objects.map((o) => [`${o.kind}/${o.metadata.name}`, structuredClone(o)]));
  const patches: { object: string; patch: unknown; fieldManager?: string }[] = [];
  let failNext: string | undefined;
  let version = 10;
  const key = (ref: { kind: string; metadata: { name: string } }) => `${ref.kind}/${ref.metadata.name}`;
  const kube = {
    get: (ref: KubeObject) => Promise.resolve(structuredClone(store.get(key(ref)))),
    patch: (ref: KubeObject, patch: Record<string, unknown>, options: { type: string; fieldManager?: string }) => Promise.resolve().then(() => {
      if (failNext === key(ref)) {
        failNext = undefined;
        throw new Error(`connection reset while patching ${key(ref)}`);
      }
      const object = store.get(key(ref));
      if (!object) throw new Error(`${key(ref)} not found`);
      const wanted = (patch.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
      if (wanted !== undefined && wanted !== object.metadata.resourceVersion) throw new Error(`409 Conflict on ${key(ref)}`);
      patches.push({ object: key(ref), patch, fieldManager: options.fieldManager });
      if (options.type === 'merge') {
        for (const [k, v] of Object.entries((patch.data ?? {}) as Record<string, string | null>)) {
          if (v === null) delete object.data?.[k];
          else object.data = { ...object.data, [k]: v };
        }
      } else {
        const containers = (patch as { spec: { template: { spec: { containers: (Container & { env?: (Env & { $patch?: string })[] })[] } } } }).spec.template.spec.containers;
        for (const change of containers) {
          const live = object.spec!.template.spec.containers.find((c) => c.name === change.name)!;
          if (change.image) live.image = change.image;
          for (const entry of change.env ?? []) {
            const rest = (live.env ?? []).filter((e) => e.name !== entry.name);
            live.env = entry.$patch === 'delete' ? rest : [...rest, { name: entry.name, value: entry.value! }];
          }
        }
        object.metadata.generation = (object.metadata.generation ?? 0) + 1;
      }
      object.metadata.resourceVersion = String(++version);
      return structuredClone(object);
    }),
  };
  const activities = createKubernetesActivities({ cluster: 'sandbox', kube: kube as unknown as KubeClient, chart: {} as TenantChart });
  const container = (name: string) => store.get(`Deployment/${name}`)!.spec!.template.spec.containers[0]!;
  return { activities, patches, container, store, failOnce: (object: string) => (failNext = object) };
}

const threeServices = () => [
  deployment('app', 'app', 'registry.test/web:1.0', [{ name: 'TENANT_FLEET_VERSION', value: '1.0' }]),
  deployment('worker', 'worker', 'registry.test/worker:1.0', [{ name: 'QUEUE', value: 'jobs' }, { name: 'TENANT_FLEET_VERSION', value: '1.0' }]),
  deployment('api', 'api', 'registry.test/api:1.0', [{ name: 'TENANT_FLEET_VERSION', value: '1.0' }]),
  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app-config', namespace }, data: { LOG_LEVEL: 'info', OLD_FLAG: 'on' } } as Stored,
];

const target: ReleaseTarget = {
  version: '2.0',
  services: [
    { name: 'web', image: 'registry.test/web:2.0', environment: { OLD_FLAG: null, FEATURE: 'on' } },
    { name: 'worker', image: 'registry.test/worker:2.0-rc1', environment: { QUEUE: null, BATCH: '50' } },
    { name: 'api', image: 'registry.test/api:2.0' },
  ],
};
const setVersion = (activities: ReturnType<typeof cluster>['activities'], t?: ReleaseTarget) =>
  activities.k8sSetVersion({ runtime, tenantId: 'wayne', image: 'registry.test/web', version: '2.0', ...(t ? { target: t } : {}) });

describe('k8sSetVersion with a release target (services)', () => {
  it("sets every service's image, its variables and the version, as the release's field manager; a second run writes nothing", async () => {
    const { activities, patches, container, store } = cluster(threeServices());
    expect(await setVersion(activities, target)).toMatchObject({ changed: true });
    expect(container('app')).toEqual({ name: 'app', image: 'registry.test/web:2.0', env: [{ name: 'FEATURE', value: 'on' }, { name: 'TENANT_FLEET_VERSION', value: '2.0' }] });
    expect(container('worker')).toEqual({ name: 'worker', image: 'registry.test/worker:2.0-rc1', env: [{ name: 'BATCH', value: '50' }, { name: 'TENANT_FLEET_VERSION', value: '2.0' }] });
    expect(container('api')).toEqual({ name: 'api', image: 'registry.test/api:2.0', env: [{ name: 'TENANT_FLEET_VERSION', value: '2.0' }] });
    // A variable the release removes from the primary leaves its ConfigMap too (env only outranks envFrom).
    expect(store.get('ConfigMap/app-config')!.data).toEqual({ LOG_LEVEL: 'info' });
    expect(new Set(patches.map((p) => p.fieldManager))).toEqual(new Set([RELEASE_FIELD_MANAGER]));
    const written = patches.length;
    expect(await setVersion(activities, target)).toMatchObject({ changed: false });
    expect(patches).toHaveLength(written);
  });

  it('after a partial success (one Deployment patched, the next not), a retry writes only what is missing', async () => {
    const { activities, patches, container, failOnce } = cluster(threeServices());
    failOnce('Deployment/worker');
    await expect(setVersion(activities, target)).rejects.toThrow(/connection reset/);
    expect(container('app').image).toBe('registry.test/web:2.0');
    expect(container('worker').image).toBe('registry.test/worker:1.0');
    const before = patches.length;
    expect(await setVersion(activities, target)).toMatchObject({ changed: true });
    expect(patches.slice(before).map((p) => p.object)).toEqual(['Deployment/worker', 'Deployment/api']);
    expect(container('worker').image).toBe('registry.test/worker:2.0-rc1');
    expect(await setVersion(activities, target)).toMatchObject({ changed: false });
  });

  it('fails for good, naming tenant and service, when a service has no Deployment yet; nothing is written', async () => {
    const { activities, patches } = cluster(threeServices().filter((o) => o.metadata.name !== 'api'));
    const failure = await setVersion(activities, target).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'ResourceNotFound', nonRetryable: true });
    expect((failure as Error).message).toMatch(/tenant wayne .*service api: provision it first/);
    expect(patches).toHaveLength(0);
  });

  it('without a target moves only the primary\'s tag, and removes a version a target left (twice: one write)', async () => {
    const { activities, patches, container } = cluster(threeServices());
    expect(await setVersion(activities)).toMatchObject({ changed: true });
    expect(container('app')).toEqual({ name: 'app', image: 'registry.test/web:2.0', env: [] });
    expect(container('worker').image).toBe('registry.test/worker:1.0');
    expect(await setVersion(activities)).toMatchObject({ changed: false });
    expect(patches).toHaveLength(1);
  });

  it('without a target and without a version variable writes exactly what it wrote before services existed', async () => {
    const { activities, patches } = cluster([deployment('app', 'app', 'registry.test/web:1.0')]);
    await setVersion(activities);
    expect(patches).toEqual([
      { object: 'Deployment/app', fieldManager: RELEASE_FIELD_MANAGER, patch: { metadata: { resourceVersion: '1' }, spec: { template: { spec: { containers: [{ name: 'app', image: 'registry.test/web:2.0' }] } } } } },
    ]);
  });
});

describe('k8sCurrentWorkload on a tenant with services', () => {
  it("reads the version from TENANT_FLEET_VERSION, else the tag, and each service's image", async () => {
    const { activities } = cluster(threeServices());
    await setVersion(activities, { ...target, version: 'release-7' });
    expect(await activities.k8sCurrentWorkload({ runtime, tenantId: 'wayne', services: ['worker', 'api', 'cron'] })).toMatchObject({
      image: 'registry.test/web:2.0',
      version: 'release-7',
      services: { worker: 'registry.test/worker:2.0-rc1', api: 'registry.test/api:2.0' },
    });
    const plain = cluster([deployment('app', 'app', 'registry.test/web:1.0')]);
    const current = await plain.activities.k8sCurrentWorkload({ runtime, tenantId: 'wayne' });
    expect(current).toEqual({ image: 'registry.test/web:1.0', version: '1.0', revision: 'Deployment tenant-wayne/app generation 1' });
  });
});
