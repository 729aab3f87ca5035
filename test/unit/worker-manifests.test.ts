import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { workerEnvFrom } from '../../src/workers/settings';

/**
 * The invariants of infra/kubernetes/workers that a reviewer would otherwise have to re-check
 * on every change. (test/integration/worker-manifests.test.ts has the API server validate them.)
 */
const dir = join(__dirname, '..', '..', 'infra', 'kubernetes', 'workers');
interface Probe {
  httpGet?: { path: string; port: string | number };
  tcpSocket?: { port: string | number };
}
interface Container {
  image: string;
  env?: { name: string; value?: string }[];
  ports?: { name: string; containerPort: number }[];
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  securityContext?: Record<string, unknown>;
}
interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: {
    serviceAccountName: string;
    automountServiceAccountToken?: boolean;
    terminationGracePeriodSeconds?: number;
    securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; fsGroup?: number };
    containers: Container[];
    volumes?: { name: string; secret?: { secretName: string; defaultMode?: number } }[];
  };
}
interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; template: PodTemplate };
  data?: Record<string, string>;
}

const kustomization = readYaml('kustomization.yaml')[0] as { resources: string[]; images: { name: string; newTag?: string }[] };
const objects = kustomization.resources.flatMap((file) => readYaml(file) as Obj[]);
const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
const deployments = byKind('Deployment');
const workerDeployments = deployments.filter((d) => d.metadata.labels?.['app.kubernetes.io/name'] === 'tenant-fleet-worker');
const config = byKind('ConfigMap').find((c) => c.metadata.name === 'tenant-fleet-worker')!;

function readYaml(file: string): unknown[] {
  return parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS() as unknown;
  });
}

const container = (d: Obj): Container => d.spec.template.spec.containers[0]!;
const envOf = (d: Obj) => Object.fromEntries((container(d).env ?? []).map((e) => [e.name, e.value]));

describe('infra/kubernetes/workers', () => {
  it('has one Deployment per task queue role', () => {
    expect(workerDeployments.map((d) => envOf(d).TENANT_FLEET_WORKER_ROLES).sort()).toEqual(['aws', 'kubernetes', 'workflows']);
  });

  it('sizes the workflows worker from its memory limit, with room for what V8 keeps outside the capped heap', () => {
    const workflows = workerDeployments.find((d) => envOf(d).TENANT_FLEET_WORKER_ROLES === 'workflows')!;
    const limitMiB = /^(\d+)Mi$/.exec(container(workflows).resources.limits?.memory ?? '')?.[1];
    const setting = workerEnvFrom(envOf(workflows)).TENANT_FLEET_WORKER_MEMORY_MIB;
    expect(Number(limitMiB)).toBeGreaterThanOrEqual(setting * 1.2);
    expect(Number(limitMiB)).toBeLessThanOrEqual(setting * 1.5);
  });

  it.each(deployments.map((d) => [d.metadata.name, d]))('%s: resources, probes, hardened container, pinned image', (_name, d) => {
    const c = container(d);
    expect(c.resources.requests?.cpu).toBeDefined();
    expect(c.resources.requests?.memory).toBeDefined();
    expect(c.resources.limits?.memory).toBeDefined();
    expect(c.readinessProbe).toBeDefined();
    expect(c.livenessProbe).toBeDefined();
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(d.spec.template.spec.securityContext?.runAsNonRoot).toBe(true);
    // The image is a name that kustomize pins to a tag, never `latest`.
    const image = kustomization.images.find((i) => i.name === c.image);
    expect(image?.newTag).toMatch(/\d/);
    expect(image?.newTag).not.toBe('latest');
  });

  it.each(workerDeployments.map((d) => [d.metadata.name, d]))('%s: probes hit the health endpoint, drain fits in the termination grace', (_name, d) => {
    const c = container(d);
    expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
    const healthPort = c.ports?.find((p) => p.name === c.readinessProbe?.httpGet?.port)?.containerPort;
    expect(String(healthPort)).toBe(config.data!.TENANT_FLEET_HEALTH_PORT);
    expect(config.data!.TENANT_FLEET_HEALTH_HOST).toBe('0.0.0.0'); // the kubelet probes the pod IP
    const grace = /^(\d+)s$/.exec(config.data!.TENANT_FLEET_SHUTDOWN_GRACE!);
    expect(grace).not.toBeNull();
    expect(d.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(Number(grace![1]) + 10);
    expect(d.spec.replicas).toBeGreaterThanOrEqual(2);
  });

  it.each(deployments.map((d) => [d.metadata.name, d]))('%s: its non-root user can read the Secrets it mounts owner-only (fsGroup)', (_name, d) => {
    const pod = d.spec.template.spec;
    const ownerOnly = (pod.volumes ?? []).filter((v) => v.secret && ((v.secret.defaultMode ?? 0o644) & 0o044) === 0);
    // Secret files belong to root; with an fsGroup the kubelet makes them group-readable for the pod's user.
    if (ownerOnly.length > 0 && pod.securityContext?.runAsUser !== 0) expect(pod.securityContext?.fsGroup).toBe(pod.securityContext?.runAsUser);
  });

  it('covers every Deployment with a PodDisruptionBudget whose selector matches its pods', () => {
    for (const d of deployments) {
      const labels = d.spec.template.metadata.labels;
      const pdbs = byKind('PodDisruptionBudget').filter((p) =>
        Object.entries(p.spec.selector.matchLabels).every(([k, v]) => labels[k] === v),
      );
      expect({ deployment: d.metadata.name, pdbs: pdbs.length }).toEqual({ deployment: d.metadata.name, pdbs: 1 });
    }
  });

  it('gives only the AWS workers the IRSA role, and only the Kubernetes workers an API token', () => {
    const accounts = new Map(byKind('ServiceAccount').map((sa) => [sa.metadata.name, sa]));
    for (const d of workerDeployments) {
      const role = envOf(d).TENANT_FLEET_WORKER_ROLES;
      const sa = accounts.get(d.spec.template.spec.serviceAccountName);
      expect(sa).toBeDefined();
      const irsa = sa!.metadata.annotations?.['eks.amazonaws.com/role-arn'];
      if (role === 'aws') expect(irsa).toMatch(/^arn:aws:iam::\d{12}:role\/.+/);
      else expect(irsa).toBeUndefined();
      expect(d.spec.template.spec.automountServiceAccountToken).toBe(role === 'kubernetes');
    }
  });

  it('keeps secrets out: keys, API keys and certificates come from Secrets, not the ConfigMap', () => {
    expect(Object.keys(config.data!).filter((k) => /KEY(S)?$|TOKEN|PASSWORD|SECRET/.test(k) && !k.endsWith('_FILE'))).toEqual([]);
    expect(byKind('Secret')).toEqual([]);
  });

  const kubectl = join(__dirname, '..', '..', '.tools', 'bin', 'kubectl');
  (existsSync(kubectl) ? it : it.skip)('renders with kustomize (kubectl kustomize), image pinned', () => {
    const rendered = execFileSync(kubectl, ['kustomize', dir], { encoding: 'utf8' });
    expect(rendered).toMatch(/image: registry\.example\.com\/tenant-fleet:0\.1\.0/);
    expect(rendered).not.toMatch(/image: tenant-fleet\s*$/m);
  });
});
