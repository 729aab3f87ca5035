import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseOrThrow } from '../../shared/validation';
import { imageRef, type WorkloadSpec } from '../runtime/types';
import { INFRA_DIR } from '../templates';
import type { KubeObject } from '../kube-client/client';
import { renderManifests } from './render';
import { inApplyOrder } from '../kube-client/resources';

export const TENANT_TEMPLATE_DIR = join(INFRA_DIR, 'kubernetes', 'tenant');
/** Values for the sandbox's kwok cluster (a short progress deadline); workers elsewhere use their own or none. */
export const SANDBOX_VALUES_FILE = join(TENANT_TEMPLATE_DIR, 'values-sandbox.yaml');

/** Names the template gives the tenant's objects; the activities find them by these. */
export const TENANT_OBJECTS = { deployment: 'app', container: 'app', configMap: 'app-config' } as const;
export const tenantNamespace = (tenantId: string) => `tenant-${tenantId}`;

const quantity = z.string().regex(/^[0-9.]+[a-zA-Z]*$/, 'expected a Kubernetes quantity such as "100m" or "128Mi"');

/** values.yaml, after a cluster's overrides: checked before anything is rendered. */
export const tenantChartValuesSchema = z.strictObject({
  progressDeadlineSeconds: z.number().int().min(1, 'expected whole seconds, at least 1'),
  ingressNamespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'expected a namespace name'),
  port: z.number().int().min(1).max(65535),
  readinessProbe: z.strictObject({
    path: z.string().startsWith('/', 'expected an HTTP path starting with "/"'),
    periodSeconds: z.number().int().min(1),
    failureThreshold: z.number().int().min(1),
  }),
  resources: z.strictObject({
    requests: z.record(z.string(), quantity).optional(),
    limits: z.record(z.string(), quantity).optional(),
  }),
  maxUnavailable: z.union([z.number().int().min(0), z.string().regex(/^\d+%$/, 'expected a count or a percentage such as "25%"')]),
});
export type TenantChartValues = z.infer<typeof tenantChartValuesSchema>;

/**
 * Objects rendered only when the tenant has what they refer to (the renderer has no
 * conditionals: a template only places whole values).
 */
const OPTIONAL_OBJECTS: Record<string, (tenant: TenantValues) => boolean> = {
  TargetGroupBinding: (tenant) => tenant.targetGroupArn !== null,
};

/** What the templates see as `.Tenant`: everything composed in code, so templates only place whole values. */
export interface TenantValues {
  id: string;
  namespace: string;
  image: string;
  replicas: number;
  config: Record<string, string>;
  configChecksum: string;
  appRoleArn: string | null;
  port: number;
  targetGroupArn: string | null;
}

/**
 * The per-tenant manifests in infra/kubernetes/tenant (the single source of truth), read once:
 * templates/*.yaml rendered with values.yaml, a cluster's optional values file on top, and the
 * tenant's workload.
 */
export class TenantTemplate {
  private constructor(
    private readonly templates: { file: string; text: string }[],
    readonly values: TenantChartValues,
  ) {}

  static load({ directory = TENANT_TEMPLATE_DIR, valuesFile }: { directory?: string; valuesFile?: string } = {}): TenantTemplate {
    const templatesDir = join(directory, 'templates');
    const files = readdirSync(templatesDir).filter((f) => f.endsWith('.yaml')).sort();
    if (files.length === 0) throw new Error(`no templates (*.yaml) in ${templatesDir}`);
    const templates = files.map((file) => ({ file: join(templatesDir, file), text: readFileSync(join(templatesDir, file), 'utf8') }));
    const defaults = readYaml(join(directory, 'values.yaml'));
    const merged = valuesFile === undefined ? defaults : deepMerge(defaults, readYaml(valuesFile));
    const values = parseOrThrow(tenantChartValuesSchema, merged, `Kubernetes tenant values (${join(directory, 'values.yaml')}${valuesFile ? ` with ${valuesFile}` : ''})`);
    return new TenantTemplate(templates, values);
  }

  /** Every object of the tenant's workload, in apply order. */
  render(workload: WorkloadSpec): KubeObject[] {
    const tenant = tenantValues(workload, this.values);
    const scope = { Values: this.values, Tenant: tenant };
    const objects = this.templates.flatMap(({ file, text }) => renderManifests(text, scope, file));
    return inApplyOrder(objects.filter((object) => OPTIONAL_OBJECTS[object.kind]?.(tenant) ?? true));
  }
}

export function tenantValues(workload: WorkloadSpec, values: Pick<TenantChartValues, 'port'>): TenantValues {
  const config = Object.fromEntries(Object.entries(workload.config).sort(([a], [b]) => a.localeCompare(b)));
  return {
    id: workload.tenantId,
    namespace: tenantNamespace(workload.tenantId),
    image: imageRef(workload),
    replicas: workload.replicas,
    config,
    configChecksum: createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 16),
    appRoleArn: workload.appRoleArn ?? null,
    port: workload.port ?? values.port,
    targetGroupArn: workload.targetGroupArn ?? null,
  };
}

function readYaml(path: string): unknown {
  try {
    return parseYaml(readFileSync(path, 'utf8')) ?? {};
  } catch (cause) {
    throw new Error(`cannot read values file "${path}": ${(cause as Error).message}`, { cause });
  }
}

/** Helm's rule for values files: maps merge key by key, anything else is replaced. */
function deepMerge(base: unknown, override: unknown): unknown {
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isMap(base) || !isMap(override)) return override;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) merged[key] = deepMerge(base[key], value);
  return merged;
}
