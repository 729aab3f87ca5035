import { Worker, type WorkerOptions } from '@temporalio/worker';
import { KubeClient } from '../activities/kube-client/client';
import type { AwsClients } from '../activities/aws/clients';
import { clusterAccess } from '../activities/kube-client/cluster-access';
import { tenantChartFromConfig } from '../activities/kube-chart/from-config';
import { findHelm } from '../activities/kube-chart/helm';
import { createKubernetesActivities } from '../activities/runtime/kubernetes';
import { createKubernetesMigrationActivities } from '../activities/runtime/kubernetes-migration';
import { kubernetesTaskQueue } from '../shared/config/resolve';
import type { FleetConfig } from '../shared/config/schema';

export interface KubernetesWorkersOptions {
  /**
   * The fleet config listing `kubernetesClusters`, as the worker process read it once for every
   * role, and the file it came from (TENANT_FLEET_CONFIG), which error messages name.
   */
  fleet?: { path: string; config: FleetConfig };
  /** Serve only these clusters (TENANT_FLEET_KUBE_CLUSTERS), e.g. for a worker running inside one of them. Default: all. */
  clusters?: string[];
  /** A values file over the tenant chart's values.yaml (TENANT_FLEET_KUBE_VALUES). */
  valuesFile?: string;
  /** The helm binary (TENANT_FLEET_HELM); default: .tools/bin/helm, then helm on PATH. */
  helm?: string;
  /** For clusters with `eksToken`: the worker's AWS clients (fleet access roles) and STS endpoint. */
  aws?: AwsClients;
  awsEndpoint?: string;
}

/**
 * One Worker per Kubernetes cluster, on that cluster's own task queue, with activities built
 * over that cluster's client: a tenant's workload calls can only reach the cluster it lives in.
 */
export async function createKubernetesWorkers(
  common: Pick<WorkerOptions, 'connection' | 'namespace'> & Partial<WorkerOptions>,
  options: KubernetesWorkersOptions,
): Promise<{ workers: Worker[]; close: () => void }> {
  if (!options.fleet) {
    throw new Error('worker role "kubernetes" needs the fleet config (TENANT_FLEET_CONFIG) to know its clusters and their kubeconfigs');
  }
  const { path: fleetConfigPath, config } = options.fleet;
  const known = config.kubernetesClusters.map((c) => c.name);
  const unknown = (options.clusters ?? []).filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new Error(`TENANT_FLEET_KUBE_CLUSTERS names ${unknown.map((n) => `"${n}"`).join(', ')}, not in ${fleetConfigPath}; expected some of: ${known.join(', ') || '(none configured)'}`);
  }
  const clusters = config.kubernetesClusters.filter((c) => options.clusters === undefined || options.clusters.includes(c.name));
  if (clusters.length === 0) {
    throw new Error(`worker role "kubernetes": ${fleetConfigPath} has no kubernetesClusters to serve`);
  }
  // Before any connection: a worker without helm or with a missing chart says so at start.
  const chart = tenantChartFromConfig({ fleet: options.fleet, helm: findHelm(options.helm === undefined ? process.env : { TENANT_FLEET_HELM: options.helm }), valuesFile: options.valuesFile });

  const clients: KubeClient[] = [];
  const close = () => clients.forEach((client) => client.close());
  const workers: Worker[] = [];
  try {
    for (const cluster of clusters) {
      let kube: KubeClient;
      try {
        kube = new KubeClient(clusterAccess(cluster, config, { aws: options.aws, awsEndpoint: options.awsEndpoint }));
      } catch (cause) {
        throw new Error(`Kubernetes cluster "${cluster.name}" (${fleetConfigPath}): ${(cause as Error).message}`, { cause });
      }
      clients.push(kube);
      workers.push(
        await Worker.create({
          ...common,
          taskQueue: cluster.taskQueue ?? kubernetesTaskQueue(cluster.name),
          activities: { ...createKubernetesActivities({ cluster: cluster.name, kube, chart }), ...createKubernetesMigrationActivities({ cluster: cluster.name, kube }) },
          // Mostly waiting on rollouts and namespace deletions: cheap, so many at once.
          maxConcurrentActivityTaskExecutions: 200,
        }),
      );
    }
  } catch (error) {
    close();
    throw error;
  }
  return { workers, close };
}
