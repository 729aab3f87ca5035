import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applySetId, applySetParent, appliedBy, asMember, recordedGroupKinds } from '../../src/activities/kube-chart/applyset';
import { tenantChartFromConfig } from '../../src/activities/kube-chart/from-config';
import { MAX_CONCURRENT_HELM, findHelm, helmTemplate } from '../../src/activities/kube-chart/helm';
import { ChartRenderError, SANDBOX_VALUES_FILE, TENANT_CHART_DIR, TenantChart, parseRendered } from '../../src/activities/kube-chart/tenant-chart';
import type { KubeObject } from '../../src/activities/kube-client/client';
import type { WorkloadSpec } from '../../src/activities/runtime/types';
import { parseFleetConfig } from '../../src/shared/config/load';
import { InputValidationError } from '../../src/shared/validation';
import { tempDir } from '../support/temp-dir';

const workload: WorkloadSpec = {
  tenantId: 'wayne',
  image: 'registry.sandbox.test/tenant-app',
  version: '1.2.3',
  replicas: 2,
  config: { TENANT_ID: 'wayne', DATABASE_HOST: 'db.wayne.internal', WEIRD: 'a: b # not a comment\n- "quoted"' },
  appRoleArn: 'arn:aws:iam::111111111111:role/tenant-wayne-app',
};

type Json = Record<string, unknown>;
const byKind = (objects: KubeObject[]) => new Map(objects.map((o) => [`${o.kind}/${o.metadata.name}`, o as unknown as Json]));
const at = (value: unknown, ...path: (string | number)[]): unknown =>
  path.reduce<unknown>((v, key) => (v === undefined || v === null ? undefined : (v as Record<string | number, unknown>)[key]), value);

function helmOrUndefined(): string | undefined {
  try {
    return findHelm();
  } catch {
    return undefined;
  }
}
const helm = helmOrUndefined();
// Without helm (a checkout where setup has not run) these skip, saying why; in CI (CI=true) a
// missing helm fails the run instead of hiding the chart's tests.
const describeWithHelm = helm !== undefined || process.env.CI === 'true' ? describe : describe.skip;
const withHelm = helm === undefined ? ' (skipped: helm not found; `npm run setup` builds it into .tools/bin)' : '';

const chartWith = (valuesFor: () => Parameters<typeof helmTemplate>[0]['values'] = () => []) => new TenantChart({ helm: helm ?? findHelm(), chart: { path: TENANT_CHART_DIR }, valuesFor });

describeWithHelm(`the tenant chart (infra/helm/tenant), rendered by helm${withHelm}`, () => {
  let objects: KubeObject[];
  const find = (key: string) => {
    const object = byKind(objects).get(key);
    if (!object) throw new Error(`rendered no ${key}; got ${[...byKind(objects).keys()].join(', ')}`);
    return object;
  };
  beforeAll(async () => {
    objects = await chartWith().render(workload);
  });

  it('renders every object in the tenant namespace, namespace first and the Deployment after what it uses', () => {
    expect(objects.map((o) => o.kind)).toEqual([
      'Namespace',
      'ServiceAccount',
      'ConfigMap',
      'Role',
      'RoleBinding',
      'LimitRange',
      'ResourceQuota',
      'NetworkPolicy',
      'Service',
      'Deployment',
      'PodDisruptionBudget',
    ]);
    expect(objects[0]!.metadata.name).toBe('tenant-wayne');
    for (const object of objects.slice(1)) expect(object.metadata.namespace).toBe('tenant-wayne');
  });

  it('runs the workload image with its config and role, and a deadline from values.yaml', () => {
    const deployment = find('Deployment/app');
    const container = at(deployment, 'spec', 'template', 'spec', 'containers', 0) as Json;
    expect(container.name).toBe('app');
    expect(container.image).toBe('registry.sandbox.test/tenant-app:1.2.3');
    expect(container.envFrom).toEqual([{ configMapRef: { name: 'app-config' } }]);
    expect(at(container, 'readinessProbe', 'httpGet')).toEqual({ path: '/healthz', port: 'http' });
    expect(at(container, 'ports', 0, 'containerPort')).toBe(8080);
    expect(at(container, 'resources')).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } });
    expect(at(deployment, 'spec', 'replicas')).toBe(2);
    expect(at(deployment, 'spec', 'progressDeadlineSeconds')).toBe(600);
    expect(at(deployment, 'spec', 'selector', 'matchLabels')).toEqual({ 'app.kubernetes.io/name': 'tenant-app', 'app.kubernetes.io/instance': 'wayne' });
    expect(at(find('ServiceAccount/app'), 'metadata', 'annotations')).toEqual({ 'eks.amazonaws.com/role-arn': workload.appRoleArn });
    // Values that look like YAML stay strings: helm quotes them.
    expect(at(find('ConfigMap/app-config'), 'data')).toEqual(workload.config);
  });

  it('rolls the pods when only the config changes (envFrom is read at start)', async () => {
    const checksum = async (w: WorkloadSpec) =>
      at(byKind(await chartWith().render(w)).get('Deployment/app'), 'spec', 'template', 'metadata', 'annotations', 'tenant-fleet.io/config-checksum');
    const base = await checksum(workload);
    expect(base).toMatch(/^[0-9a-f]{16}$/);
    expect(await checksum({ ...workload, config: Object.fromEntries(Object.entries(workload.config).reverse()) })).toBe(base);
    expect(await checksum({ ...workload, config: { ...workload.config, TENANT_ID: 'other' } })).not.toBe(base);
  });

  it('caps the namespace with a ResourceQuota and gives containers without resources a LimitRange default', () => {
    expect(at(find('ResourceQuota/tenant'), 'spec', 'hard')).toEqual({ pods: '110', 'requests.cpu': '12', 'requests.memory': '16Gi', 'limits.memory': '60Gi' });
    expect(at(find('LimitRange/tenant'), 'spec', 'limits')).toEqual([{ type: 'Container', default: { memory: '512Mi' }, defaultRequest: { cpu: '100m', memory: '128Mi' } }]);
  });

  it('isolates the namespace: ingress only from itself and the ingress controllers; the app reads only its ConfigMap', () => {
    expect(at(find('NetworkPolicy/isolate-tenant'), 'spec')).toEqual({
      podSelector: {},
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: {} }, { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }] }],
    });
    expect(at(find('Role/app-config-reader'), 'rules')).toEqual([{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['app-config'], verbs: ['get'] }]);
    expect(at(find('RoleBinding/app-config-reader'), 'subjects')).toEqual([{ kind: 'ServiceAccount', name: 'app', namespace: 'tenant-wayne' }]);
  });

  it('leaves out what values switch off: the role annotation, the PDB, the quota, and loops over ingress namespaces', async () => {
    const { appRoleArn: _none, ...withoutRole } = workload;
    const values = { podDisruptionBudget: { enabled: false }, resourceQuota: { enabled: false }, networkPolicy: { ingressNamespaces: ['ingress-a', 'ingress-b'] } };
    const rendered = byKind(await chartWith(() => [{ name: 'test', values }]).render(withoutRole));
    expect(at(rendered.get('ServiceAccount/app'), 'metadata', 'annotations')).toBeUndefined();
    expect(rendered.has('PodDisruptionBudget/app')).toBe(false);
    expect(rendered.has('ResourceQuota/tenant')).toBe(false);
    expect(rendered.has('LimitRange/tenant')).toBe(true);
    expect(at(rendered.get('NetworkPolicy/isolate-tenant'), 'spec', 'ingress', 0, 'from')).toEqual([
      { podSelector: {} },
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-a' } } },
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-b' } } },
    ]);
  });

  it('binds the Service to the target group when the stack has one, and renders no binding without it', async () => {
    const targetGroupArn = 'arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/tenant-wayne/0123456789abcdef';
    const bound = await chartWith().render({ ...workload, targetGroupArn });
    const binding = byKind(bound).get('TargetGroupBinding/app');
    expect(binding).toMatchObject({ apiVersion: 'elbv2.k8s.aws/v1beta1', metadata: { namespace: 'tenant-wayne' } });
    expect(at(binding, 'spec')).toEqual({ targetType: 'ip', serviceRef: { name: 'app', port: 'http' }, targetGroupARN: targetGroupArn });
    // After the Service it names, so the controller never sees a binding to a missing Service.
    expect(bound.map((o) => o.kind).indexOf('TargetGroupBinding')).toBeGreaterThan(bound.map((o) => o.kind).indexOf('Service'));
    expect(objects.map((o) => o.kind)).not.toContain('TargetGroupBinding');
    // The pods wait for their target's health in the group (the controller's pod readiness gate), only when bound.
    expect(at(byKind(bound).get('Deployment/app'), 'spec', 'template', 'spec', 'readinessGates')).toEqual([{ conditionType: 'target-health.elbv2.k8s.aws/app' }]);
    expect(at(byKind(objects).get('Deployment/app'), 'spec', 'template', 'spec', 'readinessGates')).toBeUndefined();
  });

  it('gives the pods the tenant\'s security groups (SecurityGroupPolicy) when the workload has them, before the Deployment, and none without', async () => {
    const withGroups = await chartWith().render({ ...workload, securityGroupIds: ['sg-0a1b2c3d', 'sg-0cafe'] });
    const policy = byKind(withGroups).get('SecurityGroupPolicy/app');
    expect(policy).toMatchObject({ apiVersion: 'vpcresources.k8s.aws/v1beta1', metadata: { namespace: 'tenant-wayne' } });
    expect(at(policy, 'spec')).toEqual({
      // The app's pods and a release's migration pods (which the Service does not select).
      podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'wayne' } },
      securityGroups: { groupIds: ['sg-0a1b2c3d', 'sg-0cafe'] },
    });
    // Pods get their groups when created: the policy goes first, and new groups roll the pods.
    const kinds = withGroups.map((o) => o.kind);
    expect(kinds.indexOf('SecurityGroupPolicy')).toBeLessThan(kinds.indexOf('Deployment'));
    expect(at(byKind(withGroups).get('Deployment/app'), 'spec', 'template', 'metadata', 'annotations', 'tenant-fleet.io/security-groups')).toBe('sg-0a1b2c3d,sg-0cafe');
    expect(objects.map((o) => o.kind)).not.toContain('SecurityGroupPolicy');
    expect(at(byKind(objects).get('Deployment/app'), 'spec', 'template', 'metadata', 'annotations', 'tenant-fleet.io/security-groups')).toBeUndefined();
  });

  describe('blue/green colours', () => {
    const targetGroupArn = 'arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/tenant-wayne/0123456789abcdef';
    const greenGroupArn = 'arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/tenant-wayne-green/fedcba9876543210';
    const full = { ...workload, targetGroupArn, securityGroupIds: ['sg-0a1b2c3d'] };
    const matches = (selector: unknown, labels: unknown) =>
      Object.entries(selector as Record<string, string>).every(([key, value]) => (labels as Record<string, string>)[key] === value);

    it('renders blue as today, with or without the colour: no colour label, the same names and selectors', async () => {
      const today = await chartWith().render(full);
      expect(await chartWith().render({ ...full, colour: 'blue' })).toEqual(today);
      for (const object of today) expect(object.metadata.labels?.['tenant-fleet.io/colour']).toBeUndefined();
      expect(at(byKind(today).get('Deployment/app'), 'spec', 'selector', 'matchLabels')).toEqual({ 'app.kubernetes.io/name': 'tenant-app', 'app.kubernetes.io/instance': 'wayne' });
    });

    it("renders green's own Deployment, Service, binding, budget and policy beside the shared objects, selecting only green pods", async () => {
      const blue = byKind(await chartWith().render(full));
      const greenObjects = await chartWith().render({ ...full, colour: 'green', version: '1.3.0', targetGroupArn: greenGroupArn });
      const green = byKind(greenObjects);
      expect([...green.keys()].filter((key) => !blue.has(key)).sort()).toEqual([
        'Deployment/app-green',
        'PodDisruptionBudget/app-green',
        'SecurityGroupPolicy/app-green',
        'Service/app-green',
        'TargetGroupBinding/app-green',
      ]);
      // The shared objects render the same for either colour: applying one colour never changes them.
      for (const [key, object] of green) if (blue.has(key)) expect(object).toEqual(blue.get(key));
      for (const key of ['Deployment/app-green', 'Service/app-green', 'TargetGroupBinding/app-green', 'PodDisruptionBudget/app-green', 'SecurityGroupPolicy/app-green']) {
        expect(at(green.get(key), 'metadata', 'labels', 'tenant-fleet.io/colour')).toBe('green');
      }
      const deployment = green.get('Deployment/app-green');
      expect(at(deployment, 'spec', 'template', 'spec', 'containers', 0, 'image')).toBe('registry.sandbox.test/tenant-app:1.3.0');
      expect(at(deployment, 'spec', 'template', 'spec', 'readinessGates')).toEqual([{ conditionType: 'target-health.elbv2.k8s.aws/app-green' }]);
      expect(at(green.get('TargetGroupBinding/app-green'), 'spec')).toEqual({ targetType: 'ip', serviceRef: { name: 'app-green', port: 'http' }, targetGroupARN: greenGroupArn });

      const greenPod = at(deployment, 'spec', 'template', 'metadata', 'labels');
      const bluePod = at(blue.get('Deployment/app'), 'spec', 'template', 'metadata', 'labels');
      expect(greenPod).toMatchObject({ 'app.kubernetes.io/name': 'tenant-app', 'tenant-fleet.io/tenant-id': 'wayne', 'tenant-fleet.io/colour': 'green' });
      // Each colour's Deployment, Service, budget and policy select its own pods and never the other colour's.
      const selectors = (objects: Map<string, Json>, name: string) => [
        at(objects.get(`Deployment/${name}`), 'spec', 'selector', 'matchLabels'),
        at(objects.get(`Service/${name}`), 'spec', 'selector'),
        at(objects.get(`PodDisruptionBudget/${name}`), 'spec', 'selector', 'matchLabels'),
        at(objects.get(`SecurityGroupPolicy/${name}`), 'spec', 'podSelector', 'matchLabels'),
      ];
      for (const selector of selectors(green, 'app-green')) {
        expect(matches(selector, greenPod)).toBe(true);
        expect(matches(selector, bluePod)).toBe(false);
      }
      for (const selector of selectors(blue, 'app')) {
        expect(matches(selector, bluePod)).toBe(true);
        expect(matches(selector, greenPod)).toBe(false);
      }
    });
  });

  it('takes the sandbox values file over the defaults (a short progress deadline)', async () => {
    const rendered = byKind(await chartWith(() => [{ file: SANDBOX_VALUES_FILE }]).render(workload));
    expect(at(rendered.get('Deployment/app'), 'spec', 'progressDeadlineSeconds')).toBe(30);
  });

  it("refuses values that values.schema.json does not allow, naming the value, as a non-retryable error", async () => {
    const error = await chartWith(() => [{ name: 'wrong', values: { progressDeadlineSeconds: 'soon', maxUnavailable: 1 } }])
      .render(workload)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChartRenderError);
    expect((error as ChartRenderError).retryable).toBe(false);
    expect((error as Error).message).toMatch(/^tenant chart .*infra\/helm\/tenant for tenant wayne: the values do not match the chart's values.schema.json/);
    expect((error as Error).message).toContain("at '/progressDeadlineSeconds': got string, want integer");
    expect((error as Error).message).toContain("additional properties 'maxUnavailable' not allowed");
  });
});

describeWithHelm(`the tenant chart with services (docs/services.md)${withHelm}`, () => {
  const ssm = 'arn:aws:ssm:eu-west-1:111111111111:parameter/tenant-fleet/wayne/stripe/key';
  const secret = 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:tenant-fleet/wayne/token';
  const healthCheck = { command: ['CMD', 'worker', 'check'], intervalSeconds: 20, timeoutSeconds: 4, retries: 2, startPeriodSeconds: 10 };
  const withServices: WorkloadSpec = {
    ...workload,
    securityGroupIds: ['sg-0abc123'],
    targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:111111111111:targetgroup/tenant-wayne/0123456789abcdef',
    serviceName: 'web',
    command: ['serve'],
    secrets: { STRIPE_KEY: ssm },
    healthCheck,
    releaseVersion: '1.2.3',
    services: [
      { name: 'worker', image: 'registry.sandbox.test/worker', version: '7', command: ['work', '--queue', 'jobs'], config: { TENANT_ID: 'wayne', QUEUE: 'jobs' }, secrets: { API_TOKEN: secret }, replicas: 3, cpu: 512, memory: 1024, healthCheck },
      { name: 'api', image: 'registry.sandbox.test/tenant-app', version: '1.2.3', config: { TENANT_ID: 'wayne' }, secrets: {}, replicas: 1, cpu: 256, memory: 512 },
    ],
  };
  let objects: Map<string, Json>;
  beforeAll(async () => {
    objects = byKind(await chartWith().render(withServices));
  });
  const get = (key: string) => {
    const object = objects.get(key);
    if (!object) throw new Error(`rendered no ${key}; got ${[...objects.keys()].join(', ')}`);
    return object;
  };

  it('renders exactly the objects of before for a tenant without services, whatever the new fields left out', async () => {
    const plain = await chartWith().render(workload);
    expect(await chartWith().render({ ...workload, services: [] })).toEqual(plain);
    expect(plain.some((o) => o.metadata.labels?.['tenant-fleet.io/service'] !== undefined)).toBe(false);
  });

  it('gives every other service its own Deployment: image, args, env with secret references and the version, probe, requests, replicas', () => {
    const worker = get('Deployment/worker');
    const container = at(worker, 'spec', 'template', 'spec', 'containers', 0) as Json;
    expect(container.name).toBe('worker');
    expect(container.image).toBe('registry.sandbox.test/worker:7');
    expect(container.args).toEqual(['work', '--queue', 'jobs']);
    expect(container.env).toEqual([
      { name: 'QUEUE', value: 'jobs' },
      { name: 'TENANT_ID', value: 'wayne' },
      { name: 'API_TOKEN_SECRET_ARN', value: secret },
      { name: 'TENANT_FLEET_VERSION', value: '1.2.3' },
    ]);
    expect(container.livenessProbe).toEqual({ exec: { command: healthCheck.command }, periodSeconds: 20, timeoutSeconds: 4, failureThreshold: 2, initialDelaySeconds: 10 });
    expect(container.resources).toEqual({ requests: { cpu: '500m', memory: '1024Mi' }, limits: { memory: '1024Mi' } });
    expect(container.readinessProbe).toBeUndefined();
    expect(at(worker, 'spec', 'replicas')).toBe(3);
    expect(at(worker, 'spec', 'template', 'spec', 'serviceAccountName')).toBe('app');
    expect(at(worker, 'spec', 'template', 'spec', 'readinessGates')).toBeUndefined();
    expect(at(get('Deployment/api'), 'spec', 'template', 'spec', 'containers', 0, 'args')).toBeUndefined();
    expect(at(get('Deployment/api'), 'spec', 'template', 'spec', 'containers', 0, 'resources', 'requests')).toEqual({ cpu: '250m', memory: '512Mi' });
  });

  it('keeps service pods out of the primary Service, binding and Deployment selectors, inside the tenant policies', () => {
    const podLabels = at(get('Deployment/worker'), 'spec', 'template', 'metadata', 'labels') as Record<string, string>;
    expect(podLabels).toEqual({ 'app.kubernetes.io/name': 'tenant-service', 'app.kubernetes.io/instance': 'wayne', 'tenant-fleet.io/service': 'worker' });
    const matches = (selector: unknown) => Object.entries(selector as Record<string, string>).every(([k, v]) => podLabels[k] === v);
    expect(matches(at(get('Service/app'), 'spec', 'selector'))).toBe(false);
    expect(matches(at(get('Deployment/app'), 'spec', 'selector', 'matchLabels'))).toBe(false);
    expect(matches(at(get('PodDisruptionBudget/app'), 'spec', 'selector', 'matchLabels'))).toBe(false);
    expect(at(get('TargetGroupBinding/app'), 'spec', 'serviceRef', 'name')).toBe('app');
    // Covered like a migration Job's pods: the security group policy selects the instance, the network policy every pod.
    expect(matches(at(get('SecurityGroupPolicy/app'), 'spec', 'podSelector', 'matchLabels'))).toBe(true);
    expect(at(get('NetworkPolicy/isolate-tenant'), 'spec', 'podSelector')).toEqual({});
    expect(at(get('Deployment/worker'), 'spec', 'template', 'metadata', 'annotations')).toEqual({ 'tenant-fleet.io/security-groups': 'sg-0abc123' });
    expect(at(get('PodDisruptionBudget/worker'), 'spec', 'selector', 'matchLabels')).toEqual(podLabels);
  });

  it('gives the primary its command, secret references, exec probe and version', () => {
    const container = at(get('Deployment/app'), 'spec', 'template', 'spec', 'containers', 0) as Json;
    expect(container.args).toEqual(['serve']);
    expect(container.envFrom).toEqual([{ configMapRef: { name: 'app-config' } }]);
    expect(container.env).toEqual([{ name: 'STRIPE_KEY_SECRET_ARN', value: ssm }, { name: 'TENANT_FLEET_VERSION', value: '1.2.3' }]);
    expect(at(container, 'livenessProbe', 'exec', 'command')).toEqual(healthCheck.command);
    expect(at(container, 'readinessProbe', 'httpGet')).toEqual({ path: '/healthz', port: 'http' });
  });

  it("leaves the quota room for the services' pods (their replicas and a surge each)", () => {
    // worker: 4 x 500m / 1024Mi, api: 2 x 250m / 512Mi on top of the defaults.
    expect(at(get('ResourceQuota/tenant'), 'spec', 'hard')).toEqual({ pods: '116', 'requests.cpu': '14500m', 'requests.memory': '21504Mi', 'limits.memory': '66560Mi' });
  });
});

describe('helm runs', () => {
  it('passes values in private files, never on the command line, and removes them afterwards', async () => {
    const dir = tempDir('fake-helm-');
    // A stand-in that records how it was called and what its values files held.
    const fake = join(dir, 'helm');
    writeFileSync(fake, `#!/bin/sh\necho "$@" > ${dir}/args\nfor f in "$@"; do case "$f" in *.json) cat "$f" >> ${dir}/values; stat -c %a "$f" >> ${dir}/modes;; esac; done\n`);
    chmodSync(fake, 0o755);
    await helmTemplate({ helm: fake, chart: { oci: 'oci://registry.example.com/charts/tenant', version: '1.4.2' }, releaseName: 'tenant-a', namespace: 'tenant-a', values: [{ file: '/etc/values.yaml' }, { name: 'secret', values: { password: 'hunter2' } }], timeoutMs: 10_000 });
    const args = readFileSync(join(dir, 'args'), 'utf8');
    expect(args).toMatch(/^template tenant-a oci:\/\/registry.example.com\/charts\/tenant --namespace tenant-a --version 1.4.2 --values \/etc\/values.yaml --values \S+secret.json\n$/);
    expect(args).not.toContain('hunter2');
    expect(readFileSync(join(dir, 'values'), 'utf8')).toBe('{"password":"hunter2"}');
    expect(readFileSync(join(dir, 'modes'), 'utf8').trim()).toBe('600');
    const valuesFile = /--values (\S+secret.json)/.exec(args)![1]!;
    expect(() => readFileSync(valuesFile)).toThrow(/ENOENT/);
  });

  it(`runs at most ${MAX_CONCURRENT_HELM} helm processes at once, and a cancelled wait gives up its place`, async () => {
    const dir = tempDir('fake-helm-');
    const fake = join(dir, 'helm');
    // Each fake helm holds its place until the test lets them all go: how far they overlap then
    // depends on the limit alone, not on how fast a loaded machine starts processes.
    writeFileSync(fake, `#!/bin/sh\necho + >> ${dir}/log\nwhile [ ! -e ${dir}/go ]; do sleep 0.05; done\necho - >> ${dir}/log\n`);
    chmodSync(fake, 0o755);
    const marks = () => (existsSync(join(dir, 'log')) ? readFileSync(join(dir, 'log'), 'utf8').trim().split('\n') : []);
    const render = (signal?: AbortSignal) => helmTemplate({ helm: fake, chart: { path: '/charts/x' }, releaseName: 'r', namespace: 'n', values: [], timeoutMs: 30_000, signal });
    const cancelled = new AbortController();
    const runs = [...Array.from({ length: MAX_CONCURRENT_HELM + 2 }, () => render()), render(cancelled.signal)];
    const settled = Promise.allSettled(runs);
    cancelled.abort(new Error('activity cancelled'));
    while (marks().length < MAX_CONCURRENT_HELM) await new Promise((resolve) => setTimeout(resolve, 20));
    // Room for a process the limit failed to hold back to show up before they are let go.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(marks()).toHaveLength(MAX_CONCURRENT_HELM);
    writeFileSync(join(dir, 'go'), '');
    const outcomes = await settled;
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(MAX_CONCURRENT_HELM + 2);
    expect(outcomes.at(-1)).toMatchObject({ status: 'rejected', reason: new Error('activity cancelled') });
    let running = 0;
    let most = 0;
    for (const mark of marks()) {
      running += mark === '+' ? 1 : -1;
      most = Math.max(most, running);
    }
    expect(most).toBe(MAX_CONCURRENT_HELM);
  });

  it('names the missing binary', () => {
    expect(() => findHelm({ TENANT_FLEET_HELM: '/nowhere/helm' })).toThrow('TENANT_FLEET_HELM is "/nowhere/helm", which is not an executable file');
  });
});

describe('rendered output', () => {
  it("gives a namespaced object without a namespace the tenant's, and refuses objects outside it", () => {
    const [object] = parseRendered('---\n# Source: x/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n', 'chart', 'tenant-a');
    expect(object!.metadata.namespace).toBe('tenant-a');
    expect(() => parseRendered('---\n# Source: x/templates/b.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: kube-system\n', 'chart', 'tenant-a')).toThrow(
      'chart, document 1 (x/templates/b.yaml): ConfigMap b is in namespace "kube-system"; expected every object in the tenant\'s namespace "tenant-a"',
    );
    expect(() => parseRendered('apiVersion: v1\nkind: Namespace\nmetadata:\n  name: other\n', 'chart', 'tenant-a')).toThrow(/expected only the tenant's own namespace "tenant-a"/);
  });
});

describe('the ApplySet', () => {
  it('labels members with the ID the ApplySet convention derives from the parent, never the namespace', () => {
    const id = applySetId('tenant-a');
    expect(id).toMatch(/^applyset-[A-Za-z0-9_-]{43}-v1$/);
    expect(applySetId('tenant-b')).not.toBe(id);
    const member = asMember({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', labels: { a: 'b' } } }, id);
    expect(member.metadata.labels).toEqual({ a: 'b', 'applyset.kubernetes.io/part-of': id });
    expect(asMember({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'tenant-a' } }, id).metadata.labels).toBeUndefined();
    const parent = applySetParent('tenant-a', ['Service', 'ConfigMap', 'Service']);
    expect(parent.metadata.labels?.['applyset.kubernetes.io/id']).toBe(id);
    expect(recordedGroupKinds(parent)).toEqual(['ConfigMap', 'Service']);
    expect(recordedGroupKinds(undefined)).toEqual([]);
  });

  it('records the applied workload on the parent only when given (a blue/green colour is rendered from it)', () => {
    const workloadJson = JSON.stringify({ tenantId: 'a', image: 'r/app', version: '1', replicas: 1, config: {} });
    expect(applySetParent('tenant-a', ['Service'], workloadJson).metadata.annotations?.['tenant-fleet.io/applied-workload']).toBe(workloadJson);
    expect(Object.keys(applySetParent('tenant-a', ['Service']).metadata.annotations ?? {})).not.toContain('tenant-fleet.io/applied-workload');
  });

  it("prunes only objects the fleet's field manager applied", () => {
    const object = (managedFields: { manager: string; operation: string }[]) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', managedFields } });
    expect(appliedBy(object([{ manager: 'tenant-fleet', operation: 'Apply' }]), 'tenant-fleet')).toBe(true);
    expect(appliedBy(object([{ manager: 'kubectl-label', operation: 'Update' }]), 'tenant-fleet')).toBe(false);
    expect(appliedBy(object([{ manager: 'tenant-fleet', operation: 'Update' }]), 'tenant-fleet')).toBe(false);
  });
});

describe('the fleet config names the chart and its values', () => {
  const base = readFileSync(join(__dirname, '..', '..', 'config', 'fleet.example.yaml'), 'utf8');
  const problemsOf = (extra: string): string[] => {
    try {
      parseFleetConfig(`${base}\n${extra}`, 'fleet.yaml');
      return [];
    } catch (error) {
      if (error instanceof InputValidationError) return error.problems;
      throw error;
    }
  };

  it('refuses a chart with both or neither source, an OCI chart without an exact version, and values that set tenant', () => {
    expect(problemsOf('tenantChart: { path: a, oci: "oci://r.example.com/c" }')).toEqual(expect.arrayContaining([expect.stringMatching(/^tenantChart\.path: give exactly one of "path" \(a chart directory\) or "oci"/)]));
    expect(problemsOf('tenantChart: { values: {} }')).toEqual([expect.stringMatching(/^tenantChart\.path: give exactly one of/)]);
    expect(problemsOf('tenantChart: { oci: "oci://r.example.com/charts/tenant" }')).toEqual([expect.stringMatching(/^tenantChart\.version: an OCI chart needs a pinned version/)]);
    expect(problemsOf('tenantChart: { oci: "oci://r.example.com/charts/tenant", version: "^1.2" }')).toEqual([
      expect.stringMatching(/^tenantChart\.version: expected one exact chart version such as "1\.4\.2".*\(got "\^1\.2"\)/),
    ]);
    expect(problemsOf('tenantChart: { oci: "https://r.example.com/charts/tenant", version: "1.2.3" }')).toEqual([expect.stringMatching(/^tenantChart\.oci: expected an OCI chart reference/)]);
    expect(problemsOf('tenantChart: { path: charts/tenant, values: { tenant: { id: x } } }')).toEqual([expect.stringMatching(/^tenantChart\.values: "tenant" is set by the fleet/)]);
    expect(problemsOf('tenantChart: { oci: "oci://r.example.com:5000/charts/tenant", version: "1.2.3", values: { port: 9000 } }')).toEqual([]);
  });

  it('layers the values lowest first: worker file, fleet, environment, tenant', () => {
    const config = parseFleetConfig(`${base}\ntenantChart: { path: ../infra/helm/tenant, values: { port: 9000 } }`, 'fleet.yaml');
    const tenantIndex = config.tenants.findIndex((t) => t.runtime === 'kubernetes');
    const tenant = config.tenants[tenantIndex]!;
    const envIndex = config.environments.findIndex((e) => e.name === tenant.environment);
    config.environments[envIndex]!.chartValues = { progressDeadlineSeconds: 120 };
    tenant.chartValues = { progressDeadlineSeconds: 60 };
    const chart = tenantChartFromConfig({ fleet: { path: join(__dirname, '..', '..', 'config', 'fleet.yaml'), config }, helm: '/bin/true', valuesFile: SANDBOX_VALUES_FILE });
    expect(chart.options.chart).toEqual({ path: TENANT_CHART_DIR });
    expect(chart.options.valuesFor(tenant.id)).toEqual([
      { file: SANDBOX_VALUES_FILE },
      { name: 'tenantChart.values', values: { port: 9000 } },
      { name: `environments.${envIndex}.chartValues`, values: { progressDeadlineSeconds: 120 } },
      { name: `tenants.${tenantIndex}.chartValues`, values: { progressDeadlineSeconds: 60 } },
    ]);
    expect(() => chart.options.valuesFor('nobody')).toThrow(/tenant "nobody" is not in the Kubernetes worker's fleet config/);
    expect(() => tenantChartFromConfig({ fleet: { path: '/etc/fleet.yaml', config: { ...config, tenantChart: { path: 'charts/none', values: {} } } }, helm: '/bin/true' })).toThrow(
      '/etc/fleet.yaml: tenantChart.path is "charts/none" (/etc/charts/none), which holds no Chart.yaml',
    );
  });
});
