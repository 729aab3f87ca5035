import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { imageRef, type Colour, type ContainerHealthCheck, type ServiceWorkload, type WorkloadSpec } from '../runtime/types';
import { INFRA_DIR } from '../templates';
import type { KubeObject } from '../kube-client/client';
import { inApplyOrder } from '../kube-client/resources';
import { HelmError, describeChart, helmTemplate, type ChartSource, type ValuesLayer } from './helm';

/** The fleet's own tenant chart; the fleet config's `tenantChart` may name another (docs/helm.md). */
export const TENANT_CHART_DIR = join(INFRA_DIR, 'helm', 'tenant');
/** Values for the sandbox's kwok cluster (a short progress deadline); workers elsewhere use their own or none. */
export const SANDBOX_VALUES_FILE = join(TENANT_CHART_DIR, 'values-sandbox.yaml');

/** Names every tenant chart must give these objects: the activities find them by these. */
export const TENANT_OBJECTS = { deployment: 'app', container: 'app', configMap: 'app-config' } as const;
export const tenantNamespace = (tenantId: string) => `tenant-${tenantId}`;
/**
 * Blue/green: each colour's Deployment (and Service, binding) is named after blue's with a
 * "-green" suffix for green, and green's objects carry COLOUR_LABEL; blue's carry none, so the
 * objects every tenant had before colours existed are blue unchanged (infra/helm/tenant/templates/_helpers.tpl).
 */
export const COLOUR_LABEL = 'tenant-fleet.io/colour';
export const colourDeployment = (colour: Colour = 'blue') => (colour === 'green' ? `${TENANT_OBJECTS.deployment}-green` : TENANT_OBJECTS.deployment);
/** The pods of one colour (the chart's selector of that colour's Deployment). */
export const colourPodSelector = (tenantId: string, colour: Colour = 'blue') =>
  colour === 'green' ? `app.kubernetes.io/instance=${tenantId}-green,${COLOUR_LABEL}=green` : `app.kubernetes.io/instance=${tenantId}`;
/** The pods of either colour. */
export const tenantPodSelector = (tenantId: string) => `app.kubernetes.io/instance in (${tenantId},${tenantId}-green)`;

/** What the chart sees as `.Values.tenant`: the workload, composed in code. */
export interface TenantValues {
  id: string;
  image: string;
  replicas: number;
  config: Record<string, string>;
  appRoleArn?: string;
  port?: number;
  targetGroupArn?: string;
  securityGroupIds?: string[];
  colour?: Colour;
  /** Services (docs/services.md, docs/helm.md): set only for a tenant whose config declares them. */
  command?: string[];
  /** Variable → ARN; the chart sets `<NAME>_SECRET_ARN` to the ARN. */
  secrets?: Record<string, string>;
  healthCheck?: ContainerHealthCheck;
  /** TENANT_FLEET_VERSION on every container. */
  releaseVersion?: string;
  services?: ServiceValues[];
}

/**
 * One non-primary service as the chart sees it (`.Values.tenant.services[]`): the workload's
 * fields (config and secrets sorted), except that the image carries its tag and the size is
 * Kubernetes requests.
 */
export type ServiceValues = Pick<ServiceWorkload, 'name' | 'command' | 'config' | 'secrets' | 'replicas' | 'healthCheck'> & {
  /** `repo:tag`. */
  image: string;
  /** Kubernetes quantities: cpu in millicores ("250m" for ECS's 256 units), memory in "Mi". */
  requests: { cpu: string; memory: string };
};

/** The label every non-primary service's objects and pods carry (infra/helm/tenant/templates/_helpers.tpl). */
export const SERVICE_LABEL = 'tenant-fleet.io/service';
/** A non-primary service's pods (its Deployment's selector). */
export const servicePodSelector = (tenantId: string, service: string) =>
  `app.kubernetes.io/name=tenant-service,app.kubernetes.io/instance=${tenantId},${SERVICE_LABEL}=${service}`;

export interface TenantChartOptions {
  helm: string;
  chart: ChartSource;
  /** Values layers for a tenant, lowest first (the worker's values file, then the fleet config's), below the workload's own. */
  valuesFor: (tenantId: string) => ValuesLayer[];
  /** Per render; an OCI chart is pulled within it. Default 60 s. */
  timeoutMs?: number;
}

/** Thrown when the chart cannot be rendered for a tenant; `retryable` only for an OCI pull that may work later. */
export class ChartRenderError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    cause?: Error,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'ChartRenderError';
  }
}

/**
 * The tenant workload's chart: `helm template` for one tenant, parsed into objects in apply
 * order, each checked to live in the tenant's namespace (deprovisioning deletes that namespace,
 * which must take everything the chart made with it).
 */
export class TenantChart {
  constructor(readonly options: TenantChartOptions) {}

  get description(): string {
    return describeChart(this.options.chart);
  }

  async render(workload: WorkloadSpec, signal?: AbortSignal): Promise<KubeObject[]> {
    const namespace = tenantNamespace(workload.tenantId);
    const source = `tenant chart ${this.description} for tenant ${workload.tenantId}`;
    let output: string;
    try {
      output = await helmTemplate({
        helm: this.options.helm,
        chart: this.options.chart,
        releaseName: namespace,
        namespace,
        values: [...this.options.valuesFor(workload.tenantId), { name: 'workload', values: { tenant: tenantValues(workload) } }],
        timeoutMs: this.options.timeoutMs ?? 60_000,
        signal,
      });
    } catch (error) {
      if (!(error instanceof HelmError)) throw error;
      const schema = /values don't meet the specifications of the schema/.test(error.message);
      const message = schema ? `${source}: the values do not match the chart's values.schema.json: ${error.message}` : `${source}: ${error.message}`;
      throw new ChartRenderError(message, error.kind === 'transient', error);
    }
    return inApplyOrder(parseRendered(output, source, namespace));
  }
}

export function tenantValues(workload: WorkloadSpec): TenantValues {
  return {
    id: workload.tenantId,
    image: imageRef(workload),
    replicas: workload.replicas,
    config: sorted(workload.config),
    ...(workload.appRoleArn === undefined ? {} : { appRoleArn: workload.appRoleArn }),
    ...(workload.port === undefined ? {} : { port: workload.port }),
    ...(workload.targetGroupArn === undefined ? {} : { targetGroupArn: workload.targetGroupArn }),
    ...(workload.securityGroupIds === undefined ? {} : { securityGroupIds: workload.securityGroupIds }),
    // Blue renders with no colour at all, so a fleet's own chart without colours renders as before.
    ...(workload.colour === 'green' ? { colour: 'green' as const } : {}),
    ...(workload.command === undefined ? {} : { command: workload.command }),
    ...(workload.secrets === undefined || Object.keys(workload.secrets).length === 0 ? {} : { secrets: sorted(workload.secrets) }),
    ...(workload.healthCheck === undefined ? {} : { healthCheck: workload.healthCheck }),
    ...(workload.releaseVersion === undefined ? {} : { releaseVersion: workload.releaseVersion }),
    ...(workload.services === undefined || workload.services.length === 0 ? {} : { services: workload.services.map(serviceValues) }),
  };
}

function serviceValues(service: ServiceWorkload): ServiceValues {
  return {
    name: service.name,
    image: imageRef(service),
    ...(service.command === undefined ? {} : { command: service.command }),
    config: sorted(service.config),
    secrets: sorted(service.secrets),
    replicas: service.replicas,
    // ECS counts 1,024 units to a vCPU; Kubernetes 1,000 millicores.
    requests: { cpu: `${Math.round((service.cpu * 1000) / 1024)}m`, memory: `${service.memory}Mi` },
    ...(service.healthCheck === undefined ? {} : { healthCheck: service.healthCheck }),
  };
}

const sorted = (record: Record<string, string>) => Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));

/** helm's output, one object per document; a namespaced object without a namespace gets the tenant's, as `helm install` would do. */
export function parseRendered(output: string, source: string, namespace: string): KubeObject[] {
  const objects: KubeObject[] = [];
  parseAllDocuments(output).forEach((doc, i) => {
    const where = `${source}, document ${i + 1}${sourceComment(doc.commentBefore ?? (doc.contents as { commentBefore?: string } | null)?.commentBefore)}`;
    const problem = doc.errors[0];
    if (problem) throw new ChartRenderError(`${where}: not valid YAML: ${problem.message}`, false);
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) return; // a template that rendered nothing
    const object = value as Partial<KubeObject>;
    if (typeof object !== 'object' || Array.isArray(object) || typeof object.apiVersion !== 'string' || typeof object.kind !== 'string' || typeof object.metadata?.name !== 'string') {
      throw new ChartRenderError(`${where}: expected a Kubernetes object with apiVersion, kind and metadata.name (got ${JSON.stringify(value).slice(0, 120)})`, false);
    }
    const metadata = object.metadata;
    if (object.kind === 'Namespace') {
      if (metadata.name !== namespace) throw new ChartRenderError(`${where}: Namespace "${metadata.name}"; expected only the tenant's own namespace "${namespace}"`, false);
    } else {
      metadata.namespace ??= namespace;
      if (metadata.namespace !== namespace) {
        throw new ChartRenderError(`${where}: ${object.kind} ${metadata.name} is in namespace "${metadata.namespace}"; expected every object in the tenant's namespace "${namespace}"`, false);
      }
    }
    objects.push(object as KubeObject);
  });
  return objects;
}

/** helm writes `# Source: <chart>/templates/<file>` before each document: name it in errors. */
function sourceComment(comment: string | null | undefined): string {
  const match = /Source: (\S+)/.exec(comment ?? '');
  return match ? ` (${match[1]})` : '';
}
