import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ErrorType, permanentFailure } from '../../shared/errors';
import type { FleetConfig } from '../../shared/config/schema';
import type { ChartSource, ValuesLayer } from './helm';
import { TENANT_CHART_DIR, TenantChart } from './tenant-chart';

export interface ChartFromConfigOptions {
  /** The fleet config and the file it came from (relative chart paths are read from its folder). */
  fleet: { path: string; config: FleetConfig };
  helm: string;
  /** The worker's values file (TENANT_FLEET_KUBE_VALUES), below the fleet config's values. */
  valuesFile?: string;
  timeoutMs?: number;
}

/**
 * The tenant chart as the fleet config names it (`tenantChart`, default infra/helm/tenant), with
 * each tenant's values in Helm's order, lowest first: the chart's values.yaml, the worker's values
 * file, `tenantChart.values`, the tenant's `environments[].chartValues`, its
 * `tenants[].chartValues`, and last its workload (TenantChart.render). Values stay on the worker:
 * they never travel through workflow history.
 */
export function tenantChartFromConfig({ fleet, helm, valuesFile, timeoutMs }: ChartFromConfigOptions): TenantChart {
  const { config, path: configPath } = fleet;
  const source = chartSource(config, configPath);
  if (valuesFile !== undefined && !existsSync(valuesFile)) {
    throw new Error(`TENANT_FLEET_KUBE_VALUES is "${valuesFile}", which does not exist; expected a values file for the tenant chart`);
  }
  const valuesFor = (tenantId: string): ValuesLayer[] => {
    const layers = chartValuesLayers(config, tenantId, valuesFile);
    if (layers === undefined) {
      // The client resolved this tenant from its fleet config: the two configs differ.
      throw permanentFailure(
        ErrorType.UnknownTenant,
        `tenant "${tenantId}" is not in the Kubernetes worker's fleet config (${configPath}), so its chart values are unknown; the workers and tenantctl must read the same fleet config`,
      );
    }
    return layers;
  };
  return new TenantChart({ helm, chart: source, valuesFor, timeoutMs });
}

/** The parts of a fleet config the values come from (also read from an unvalidated sandbox config by lint:infra). */
export interface ChartValuesSources {
  tenantChart?: { values?: Record<string, unknown> };
  environments: { name: string; chartValues?: Record<string, unknown> }[];
  tenants: { id: string; environment: string; chartValues?: Record<string, unknown> }[];
}

/** A tenant's values layers, lowest first; undefined when the config does not know the tenant. */
export function chartValuesLayers(config: ChartValuesSources, tenantId: string, valuesFile?: string): ValuesLayer[] | undefined {
  const index = config.tenants.findIndex((t) => t.id === tenantId);
  const tenant = config.tenants[index];
  if (!tenant) return undefined;
  const envIndex = config.environments.findIndex((e) => e.name === tenant.environment);
  const layers: ValuesLayer[] = [];
  if (valuesFile !== undefined) layers.push({ file: valuesFile });
  const fleetValues = config.tenantChart?.values;
  if (fleetValues && Object.keys(fleetValues).length > 0) layers.push({ name: 'tenantChart.values', values: fleetValues });
  const envValues = config.environments[envIndex]?.chartValues;
  if (envValues) layers.push({ name: `environments.${envIndex}.chartValues`, values: envValues });
  if (tenant.chartValues) layers.push({ name: `tenants.${index}.chartValues`, values: tenant.chartValues });
  return layers;
}

function chartSource(config: FleetConfig, configPath: string): ChartSource {
  const chart = config.tenantChart;
  if (chart?.oci !== undefined) return { oci: chart.oci, version: chart.version! };
  if (chart?.path === undefined) return { path: TENANT_CHART_DIR };
  const path = resolve(dirname(configPath), chart.path);
  if (!existsSync(join(path, 'Chart.yaml')) && !path.endsWith('.tgz')) {
    throw new Error(`${configPath}: tenantChart.path is "${chart.path}" (${path}), which holds no Chart.yaml; expected a Helm chart directory or a packaged .tgz`);
  }
  return { path };
}
