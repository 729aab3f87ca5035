import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parseAllDocuments, parse as parseYaml, stringify } from 'yaml';
import { findHelm } from '../../src/activities/kube-chart/helm';
import { tenantNamespace, tenantValues } from '../../src/activities/kube-chart/tenant-chart';
import type { WorkloadSpec } from '../../src/activities/runtime/types';
import { toolsDir } from '../../test/sandbox/tools';

/** The files each linter reads, as repository paths. */
export interface InfraFiles {
  cloudFormation: string[];
  kubernetes: string[];
  tenantTemplates: string[];
  dockerfiles: string[];
  ciWorkflows: string[];
  shellScripts: string[];
  /** Prometheus rule files (`*.rules.yaml`) and their unit tests (`*.rules.test.yaml`). */
  prometheusRules: string[];
  prometheusRuleTests: string[];
}

const listFiles = (root: string, dir: string, test: (name: string) => boolean): string[] =>
  existsSync(join(root, dir))
    ? readdirSync(join(root, dir))
        .filter(test)
        .sort()
        .map((name) => join(dir, name))
    : [];

const isYaml = (name: string) => /\.ya?ml$/.test(name);

export interface StagedFile {
  repoPath: string;
  rendered: boolean;
}

export function findInfraFiles(root: string): InfraFiles {
  return {
    cloudFormation: listFiles(root, 'infra/cloudformation', isYaml),
    kubernetes: listFiles(root, 'infra/kubernetes/workers', isYaml),
    tenantTemplates: listFiles(root, 'infra/helm/tenant/templates', isYaml),
    dockerfiles: [...listFiles(root, '.', (n) => n === 'Dockerfile'), ...listFiles(root, 'infra/compose', (n) => n.endsWith('.Dockerfile'))],
    ciWorkflows: listFiles(root, 'infra/ci', isYaml),
    shellScripts: [...listFiles(root, 'scripts', (n) => n.endsWith('.sh')), ...listFiles(root, 'infra/compose', (n) => n.endsWith('.sh'))],
    prometheusRules: listFiles(root, 'infra/prometheus', (n) => n.endsWith('.rules.yaml')),
    prometheusRuleTests: listFiles(root, 'infra/prometheus', (n) => n.endsWith('.rules.test.yaml')),
  };
}

/** kubectl for `kubectl kustomize`: the one scripts/setup-kube.sh builds, else one on PATH. */
function kubectlPath(): string {
  const built = join(toolsDir, 'bin', 'kubectl');
  if (existsSync(built)) return built;
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, 'kubectl'))) return join(dir, 'kubectl');
  throw new Error('kubectl not found (to render infra/kubernetes/workers with kustomize): run `npm run setup`, which builds it into .tools/bin');
}

const objectKey = (o: { kind?: unknown; metadata?: { name?: unknown } }) => `${String(o.kind)}/${String(o.metadata?.name)}`;

/**
 * The worker manifests as `kubectl apply -k` sends them (namespace and image set by the
 * kustomization), each object written back under the file that declares it, so findings name
 * the committed file. Files the kustomization does not list are linted as they are.
 */
function kustomized(root: string, manifests: string[]): Map<string, unknown[]> {
  const byFile = new Map<string, unknown[]>();
  const kustomization = manifests.find((f) => /(^|\/)kustomization\.ya?ml$/.test(f));
  if (!kustomization) {
    for (const file of manifests) byFile.set(file, parseAllDocuments(readFileSync(join(root, file), 'utf8')).map((d) => d.toJS() as unknown));
    return byFile;
  }
  const declaredIn = new Map<string, string>();
  for (const file of manifests.filter((f) => f !== kustomization)) {
    byFile.set(file, []);
    for (const doc of parseAllDocuments(readFileSync(join(root, file), 'utf8'))) {
      const object = doc.toJS() as { kind?: unknown; metadata?: { name?: unknown } } | null;
      if (object) declaredIn.set(objectKey(object), file);
    }
  }
  const output = execFileSync(kubectlPath(), ['kustomize', dirname(join(root, kustomization))], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const unlisted = new Set(byFile.keys());
  for (const doc of parseAllDocuments(output)) {
    const object = doc.toJS() as { kind?: unknown; metadata?: { name?: unknown } } | null;
    if (!object) continue;
    const file = declaredIn.get(objectKey(object));
    if (!file) throw new Error(`kubectl kustomize ${dirname(kustomization)} rendered ${objectKey(object)}, which no file there declares`);
    byFile.get(file)?.push(object);
    unlisted.delete(file);
  }
  for (const file of unlisted) byFile.set(file, parseAllDocuments(readFileSync(join(root, file), 'utf8')).map((d) => d.toJS() as unknown));
  return byFile;
}

/** The sandbox fleet config as committed; the seeding fills the ${...} placeholders, a stand-in keeps the YAML readable here. */
export function sandboxFleet(root: string): SandboxFleet {
  const text = readFileSync(join(root, 'config', 'fleet.sandbox.yaml'), 'utf8').replace(/\$\{[\w.-]+\}/g, 'seeded');
  const fleet = (parseYaml(text) ?? {}) as Partial<SandboxFleet>;
  return { environments: fleet.environments ?? [], tenants: fleet.tenants ?? [], ...(fleet.tenantChart ? { tenantChart: fleet.tenantChart } : {}) };
}

export interface SandboxFleet {
  tenantChart?: { path?: string; values?: Record<string, unknown> };
  environments: { name: string; chartValues?: Record<string, unknown> }[];
  tenants: { id: string; environment: string; runtime?: string; image?: string; chartValues?: Record<string, unknown> }[];
}

/** A workload for `tenant`, with an application role, so that every optional part of the chart renders. */
export function workloadFor(tenant: { id: string; image?: string }): WorkloadSpec {
  return {
    tenantId: tenant.id,
    image: tenant.image ?? 'registry.sandbox.test/tenant-app',
    version: '1.0.0',
    replicas: 2,
    config: { TENANT_ID: tenant.id, LOG_LEVEL: 'info' },
    appRoleArn: `arn:aws:iam::000000000000:role/tenant-${tenant.id}-app`,
  };
}

/** The tenant the chart is rendered for when checkov reads it: the sandbox fleet's first Kubernetes tenant. */
export function representativeWorkload(root: string): WorkloadSpec {
  const tenant = sandboxFleet(root).tenants.find((t) => t.runtime === 'kubernetes');
  if (!tenant?.image) throw new Error('config/fleet.sandbox.yaml has no Kubernetes tenant with an image to render the tenant chart for');
  return {
    tenantId: tenant.id,
    image: tenant.image,
    version: '1.0.0',
    replicas: 2,
    config: { TENANT_ID: tenant.id, LOG_LEVEL: 'info' },
    appRoleArn: `arn:aws:iam::000000000000:role/tenant-${tenant.id}-app`,
  };
}

/**
 * Copies what checkov reads into `stageDir` under the same repository paths, except:
 * - each tenant template is written rendered (the manifests the activities apply);
 * - the CI example goes under .github/workflows/, the only place checkov's GitHub Actions
 *   checks look at.
 * Returns staged path -> repository path (and whether the staged file was rendered, so that its
 * line numbers are not the committed file's), to name findings by the committed file.
 */
export function stageForCheckov(root: string, files: InfraFiles, stageDir: string): Map<string, StagedFile> {
  const staged = new Map<string, StagedFile>();
  const put = (repoPath: string, stagedPath: string, text?: string) => {
    const target = join(stageDir, stagedPath);
    mkdirSync(dirname(target), { recursive: true });
    if (text === undefined) copyFileSync(join(root, repoPath), target);
    else writeFileSync(target, text);
    staged.set(stagedPath, { repoPath, rendered: text !== undefined });
  };
  for (const file of [...files.cloudFormation, ...files.dockerfiles]) put(file, file);
  for (const [file, objects] of kustomized(root, files.kubernetes)) put(file, file, objects.map((o) => stringify(o)).join('---\n'));
  for (const file of files.ciWorkflows) put(file, join('.github', 'workflows', relative('infra/ci', file)));

  if (files.tenantTemplates.length === 0) return staged;
  for (const [file, objects] of renderedByTemplate(root, representativeWorkload(root), join(stageDir, '..'))) put(file, file, objects.map((o) => stringify(o)).join('---\n'));
  return staged;
}

/**
 * infra/helm/tenant rendered by `helm template` for `workload`, each object under the template
 * file that made it (helm's `# Source:` comment), so findings name the committed file.
 */
function renderedByTemplate(root: string, workload: WorkloadSpec, scratch: string): Map<string, unknown[]> {
  const chartDir = join(root, 'infra', 'helm', 'tenant');
  const valuesFile = join(scratch, 'lint-tenant-values.json');
  writeFileSync(valuesFile, JSON.stringify({ tenant: tenantValues(workload) }));
  const namespace = tenantNamespace(workload.tenantId);
  const output = execFileSync(findHelm(), ['template', namespace, chartDir, '--namespace', namespace, '--values', valuesFile], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const byFile = new Map<string, unknown[]>();
  for (const doc of parseAllDocuments(output)) {
    const object = doc.toJS() as unknown;
    if (!object) continue;
    const comment = doc.commentBefore ?? (doc.contents as { commentBefore?: string } | null)?.commentBefore ?? '';
    const source = /Source: [^/]+\/(\S+)/.exec(comment)?.[1];
    if (!source) throw new Error(`helm template ${relative(root, chartDir)} printed an object without its # Source: comment`);
    const file = join('infra', 'helm', 'tenant', source);
    byFile.set(file, [...(byFile.get(file) ?? []), object]);
  }
  return byFile;
}
