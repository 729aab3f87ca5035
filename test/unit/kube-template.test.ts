import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderManifests } from '../../src/activities/kube-template/render';
import { TENANT_TEMPLATE_DIR, TenantTemplate } from '../../src/activities/kube-template/tenant-template';
import type { WorkloadSpec } from '../../src/activities/runtime/types';
import { InputValidationError } from '../../src/shared/validation';

const workload: WorkloadSpec = {
  tenantId: 'wayne',
  image: 'registry.sandbox.test/tenant-app',
  version: '1.2.3',
  replicas: 2,
  config: { TENANT_ID: 'wayne', DATABASE_HOST: 'db.wayne.internal', WEIRD: 'a: b # not a comment\n- "quoted"' },
  appRoleArn: 'arn:aws:iam::111111111111:role/tenant-wayne-app',
};

type Json = Record<string, unknown>;
const byKind = (objects: Json[]) => new Map(objects.map((o) => [`${String(o.kind)}/${String((o.metadata as Json).name)}`, o]));
const at = (value: unknown, ...path: (string | number)[]): unknown =>
  path.reduce<unknown>((v, key) => (v === undefined || v === null ? undefined : (v as Record<string | number, unknown>)[key]), value);

describe('renderManifests', () => {
  it('places whole values of any type and parses every document', () => {
    const template = ['apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: {{ .Tenant.name }}', 'data: {{ .Tenant.data }}', '---', 'apiVersion: v1', 'kind: List', 'metadata:', '  name: x', 'items:', '  - {{ .Values.n }}  # trailing comment'].join('\n');
    const [configMap, list] = renderManifests(template, { Tenant: { name: 'cm', data: { A: '1' } }, Values: { n: 3 } }, 't.yaml');
    expect(configMap).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' }, data: { A: '1' } });
    expect(list?.items).toEqual([3]);
  });

  it('cannot be broken out of by a value: YAML syntax inside a string stays inside the string', () => {
    const hostile = 'x\n  injected: true\nkind: Secret';
    const [object] = renderManifests('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .T.v }}\n', { T: { v: hostile } }, 't.yaml');
    expect(object?.kind).toBe('ConfigMap');
    expect(object?.metadata.name).toBe(hostile);
  });

  it('leaves out a key whose value is null or absent, keeping empty maps', () => {
    const template = 'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n  annotations:\n    role: {{ .T.role }}\nspec:\n  podSelector: {}\n';
    const [object] = renderManifests(template, { T: { role: undefined } }, 't.yaml');
    expect(object?.metadata.annotations).toEqual({});
    expect(object?.spec).toEqual({ podSelector: {} });
  });

  it('refuses an unknown value, naming the file, line and the values it knows', () => {
    expect(() => renderManifests('a: 1\nname: {{ .Tenant.nmae }}\n', { Tenant: { name: 'x', id: 'y' } }, 'dep.yaml')).toThrow(
      'dep.yaml:2: unknown value .Tenant.nmae; expected one of: name, id',
    );
  });

  it('refuses a placeholder inside a string, and two on one line', () => {
    expect(() => renderManifests('name: tenant-{{ .T.id }}\n', { T: { id: 'a' } }, 'x.yaml')).toThrow(/x\.yaml:1: a placeholder must be a whole value/);
    expect(() => renderManifests('a: [{{ .T.id }}, {{ .T.id }}]\n', { T: { id: 'a' } }, 'x.yaml')).toThrow(/x\.yaml:1: one placeholder per line/);
    expect(() => renderManifests('a: {{ T.id }}\n', { T: { id: 'a' } }, 'x.yaml')).toThrow(/x\.yaml:1: malformed placeholder/);
  });

  it('refuses a document that is not a Kubernetes object', () => {
    expect(() => renderManifests('kind: ConfigMap\n', {}, 'x.yaml')).toThrow(/x\.yaml, document 1: expected a Kubernetes object with apiVersion, kind and metadata.name/);
  });
});

describe('the tenant template (infra/kubernetes/tenant)', () => {
  const objects = TenantTemplate.load().render(workload) as unknown as Json[];
  const find = (key: string) => {
    const object = byKind(objects).get(key);
    if (!object) throw new Error(`rendered no ${key}; got ${[...byKind(objects).keys()].join(', ')}`);
    return object;
  };

  it('renders every object in the tenant namespace, namespace first and Deployment after what it uses', () => {
    expect(objects.map((o) => o.kind)).toEqual([
      'Namespace',
      'ServiceAccount',
      'ConfigMap',
      'Role',
      'RoleBinding',
      'NetworkPolicy',
      'Service',
      'Deployment',
      'PodDisruptionBudget',
    ]);
    expect(at(objects[0], 'metadata', 'name')).toBe('tenant-wayne');
    for (const object of objects.slice(1)) expect(at(object, 'metadata', 'namespace')).toBe('tenant-wayne');
  });

  it('runs the workload image with its config and role, and a deadline from values.yaml', () => {
    const deployment = find('Deployment/app');
    const container = at(deployment, 'spec', 'template', 'spec', 'containers', 0) as Json;
    expect(container.name).toBe('app');
    expect(container.image).toBe('registry.sandbox.test/tenant-app:1.2.3');
    expect(container.envFrom).toEqual([{ configMapRef: { name: 'app-config' } }]);
    expect(at(container, 'readinessProbe', 'httpGet')).toEqual({ path: '/healthz', port: 'http' });
    expect(at(container, 'ports', 0, 'containerPort')).toBe(8080);
    expect(at(deployment, 'spec', 'replicas')).toBe(2);
    expect(at(deployment, 'spec', 'progressDeadlineSeconds')).toBe(600);
    expect(at(deployment, 'spec', 'template', 'spec', 'serviceAccountName')).toBe('app');
    expect(at(find('ServiceAccount/app'), 'metadata', 'annotations')).toEqual({ 'eks.amazonaws.com/role-arn': workload.appRoleArn });
    expect(at(find('ConfigMap/app-config'), 'data')).toEqual(workload.config);
  });

  it('rolls the pods when only the config changes (envFrom is read at start)', () => {
    const checksum = (w: WorkloadSpec) =>
      at(byKind(TenantTemplate.load().render(w)).get('Deployment/app'), 'spec', 'template', 'metadata', 'annotations', 'tenant-fleet.io/config-checksum');
    expect(checksum(workload)).toMatch(/^[0-9a-f]{16}$/);
    expect(checksum({ ...workload, config: { ...workload.config } })).toBe(checksum(workload));
    expect(checksum({ ...workload, config: { ...workload.config, TENANT_ID: 'other' } })).not.toBe(checksum(workload));
  });

  it('isolates the namespace: ingress only from itself and the ingress controller; the app reads only its ConfigMap', () => {
    expect(at(find('NetworkPolicy/isolate-tenant'), 'spec')).toEqual({
      podSelector: {},
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: {} }, { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }] }],
    });
    expect(at(find('Role/app-config-reader'), 'rules')).toEqual([{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['app-config'], verbs: ['get'] }]);
    expect(at(find('RoleBinding/app-config-reader'), 'subjects')).toEqual([{ kind: 'ServiceAccount', name: 'app', namespace: 'tenant-wayne' }]);
  });

  it('leaves the role annotation out for a workload without an app role', () => {
    const { appRoleArn: _none, ...withoutRole } = workload;
    const rendered = byKind(TenantTemplate.load().render(withoutRole));
    expect(at(rendered.get('ServiceAccount/app'), 'metadata', 'annotations')).toEqual({});
  });

  it('binds the Service to the target group when the stack has one, and renders no binding without it', () => {
    const targetGroupArn = 'arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/tenant-wayne/0123456789abcdef';
    const bound = TenantTemplate.load().render({ ...workload, targetGroupArn }) as unknown as Json[];
    const binding = byKind(bound).get('TargetGroupBinding/app');
    expect(binding).toMatchObject({ apiVersion: 'elbv2.k8s.aws/v1beta1', metadata: { namespace: 'tenant-wayne' } });
    expect(at(binding, 'spec')).toEqual({ targetType: 'ip', serviceRef: { name: 'app', port: 'http' }, targetGroupARN: targetGroupArn });
    // After the Service it names, so the controller never sees a binding to a missing Service.
    expect(bound.map((o) => o.kind).indexOf('TargetGroupBinding')).toBeGreaterThan(bound.map((o) => o.kind).indexOf('Service'));
    expect(objects.map((o) => o.kind)).not.toContain('TargetGroupBinding');
  });

  it('takes a cluster values file over the defaults, and refuses a wrong value naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tenant-values-'));
    writeFileSync(join(dir, 'fast.yaml'), 'progressDeadlineSeconds: 15\nreadinessProbe:\n  path: /ready\n');
    const fast = TenantTemplate.load({ valuesFile: join(dir, 'fast.yaml') });
    expect(fast.values.progressDeadlineSeconds).toBe(15);
    // Maps merge key by key: the rest of readinessProbe keeps its defaults.
    expect(fast.values.readinessProbe).toEqual({ path: '/ready', periodSeconds: 5, failureThreshold: 3 });

    writeFileSync(join(dir, 'wrong.yaml'), 'progressDeadlineSeconds: soon\n');
    let refusal: unknown;
    try {
      TenantTemplate.load({ valuesFile: join(dir, 'wrong.yaml') });
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(InputValidationError);
    expect((refusal as InputValidationError).problems).toEqual([expect.stringMatching(/^progressDeadlineSeconds: .* \(got "soon"\)$/)]);
  });

  it('ships the sandbox values file with a short progress deadline', () => {
    const sandbox = TenantTemplate.load({ valuesFile: join(TENANT_TEMPLATE_DIR, 'values-sandbox.yaml') });
    expect(sandbox.values.progressDeadlineSeconds).toBeLessThan(60);
  });
});
