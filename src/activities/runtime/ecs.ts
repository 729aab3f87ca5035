import {
  CreateServiceCommand,
  DeleteServiceCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
  type ContainerDefinition,
  type LoadBalancer,
  type Service,
  type TaskDefinition,
} from '@aws-sdk/client-ecs';
import { ErrorType, permanentFailure, retryableFailure } from '../../shared/errors';
import type { RuntimeSpec } from '../../shared/tenant-spec';
import type { AwsClients } from '../aws/clients';
import { pollWithHeartbeat } from '../poll';
import { imageRef, versionOf, type ApplyResult, type CurrentWorkload, type DeployResult, type ReleaseTarget, type RolloutStatus, type WorkloadChange, type WorkloadPreview, type WorkloadSpec } from './types';

export type EcsRuntime = Extract<RuntimeSpec, { kind: 'ecs' }>;

export const CONTAINER = 'app';
/** How long ECS ignores a new task's failing load balancer health checks while the app starts. */
export const HEALTH_CHECK_GRACE_SECONDS = 30;

const loadBalancersOf = (service: Service | undefined): LoadBalancer[] =>
  (service?.loadBalancers ?? []).map((lb) => ({ targetGroupArn: lb.targetGroupArn, containerName: lb.containerName, containerPort: lb.containerPort }));
const securityGroupsOf = (service: Service | undefined): string[] => service?.networkConfiguration?.awsvpcConfiguration?.securityGroups ?? [];
const sameGroups = (a: string[], b: string[]) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
export const serviceName = (tenantId: string) => `tenant-${tenantId}`;
/** Blue/green's second colour slot (runtime/ecs-colours.ts); blue is `serviceName`. */
export const greenServiceName = (tenantId: string) => `${serviceName(tenantId)}-green`;
const revisionNumber = (arn: string | undefined) => Number(/:(\d+)$/.exec(arn ?? '')?.[1] ?? 0);

/**
 * Whether the green service is the live colour, from ECS alone (no load balancer read): it runs
 * while blue is scaled to 0, or both run and green's task definition is the newer revision (a
 * blue/green release deploys into the idle colour, and blue's is retained for a while after).
 */
export function greenIsLive(blue: Service | undefined, green: Service | undefined): boolean {
  if (!green?.taskDefinition || (green.desiredCount ?? 0) === 0) return false;
  if (!blue?.taskDefinition || (blue.desiredCount ?? 0) === 0) return true;
  return revisionNumber(green.taskDefinition) > revisionNumber(blue.taskDefinition);
}
const family = (tenantId: string) => `tenant-${tenantId}`;

/** Reads and the task definition revision shared by the tenant's service (here) and its blue/green colours (ecs-colours.ts). */
export function ecsServiceHelpers(aws: AwsClients) {
  /** The named services that exist (not INACTIVE), by name. */
  const describeServices = async (runtime: EcsRuntime, names: string[]): Promise<Map<string, Service>> => {
    const { services = [] } = await aws.ecs(runtime.aws).send(new DescribeServicesCommand({ cluster: runtime.clusterName, services: names }));
    return new Map(services.filter((s) => s.serviceName && s.status !== 'INACTIVE').map((s) => [s.serviceName!, s]));
  };

  const taskDefinitionOf = async (runtime: EcsRuntime, arn: string) => {
    const { taskDefinition } = await aws.ecs(runtime.aws).send(new DescribeTaskDefinitionCommand({ taskDefinition: arn }));
    return taskDefinition;
  };

  /**
   * A revision of the tenant's family that is `running` with only the image changed: the family's
   * latest when it already is (an earlier attempt registered it), else a new one.
   */
  const revisionWithImage = async (runtime: EcsRuntime, tenantId: string, running: TaskDefinition, wanted: string): Promise<string> => {
    const withImage = (definitions: ContainerDefinition[]) => definitions.map((c) => (c.name === CONTAINER ? { ...c, image: wanted } : c));
    const latest = await taskDefinitionOf(runtime, family(tenantId));
    let revision: string | undefined;
    if (
      latest?.taskDefinitionArn &&
      latest.containerDefinitions?.find((c) => c.name === CONTAINER)?.image === wanted &&
      JSON.stringify(latest.containerDefinitions) === JSON.stringify(withImage(running.containerDefinitions ?? []))
    ) {
      revision = latest.taskDefinitionArn;
    } else {
      // Everything the running revision registered with, so only the image changes (volumes, platform, storage...).
      const { taskDefinition } = await aws.ecs(runtime.aws).send(
        new RegisterTaskDefinitionCommand({
          family: family(tenantId),
          networkMode: running.networkMode,
          requiresCompatibilities: running.requiresCompatibilities,
          cpu: running.cpu,
          memory: running.memory,
          taskRoleArn: running.taskRoleArn,
          executionRoleArn: running.executionRoleArn,
          volumes: running.volumes,
          placementConstraints: running.placementConstraints,
          runtimePlatform: running.runtimePlatform,
          ephemeralStorage: running.ephemeralStorage,
          pidMode: running.pidMode,
          ipcMode: running.ipcMode,
          proxyConfiguration: running.proxyConfiguration,
          inferenceAccelerators: running.inferenceAccelerators,
          containerDefinitions: withImage(running.containerDefinitions ?? []),
          tags: [{ key: 'TenantId', value: tenantId }],
        }),
      );
      revision = taskDefinition?.taskDefinitionArn;
    }
    if (!revision) throw retryableFailure(ErrorType.RolloutFailed, `ECS registered no task definition revision for ${family(tenantId)} with image ${wanted}`);
    return revision;
  };

  const rolloutOf = (service: Service): RolloutStatus => {
    const primary = service.deployments?.find((d) => d.status === 'PRIMARY');
    const desired = service.desiredCount ?? 0;
    const failed = primary?.rolloutState === 'FAILED';
    return {
      ready: primary?.rolloutState === 'COMPLETED' && (service.deployments?.length ?? 0) === 1,
      failureReason: failed ? primary?.rolloutStateReason ?? 'ECS deployment failed' : undefined,
      updatedReplicas: primary?.runningCount ?? 0,
      readyReplicas: primary?.runningCount ?? 0,
      desiredReplicas: desired,
    };
  };

  return { describeServices, taskDefinitionOf, revisionWithImage, rolloutOf };
}

export function createEcsActivities({ aws }: { aws: AwsClients }) {
  const { describeServices, taskDefinitionOf, revisionWithImage, rolloutOf } = ecsServiceHelpers(aws);
  const describeService = async (runtime: EcsRuntime, tenantId: string): Promise<Service | undefined> =>
    (await describeServices(runtime, [serviceName(tenantId)])).get(serviceName(tenantId));

  const activities = {
    /** Registers a task definition revision only if the latest differs, then creates or updates the service. */
    async ecsApplyWorkload({ runtime, workload }: { runtime: EcsRuntime; workload: WorkloadSpec }): Promise<ApplyResult> {
      const ecs = aws.ecs(runtime.aws);
      const { container, cpu, memory, loadBalancers, networkConfiguration } = desiredWorkload(runtime, workload);
      const service = await describeService(runtime, workload.tenantId);
      let taskDefinitionArn = service?.taskDefinition;
      const current = taskDefinitionArn ? await taskDefinitionOf(runtime, taskDefinitionArn) : undefined;
      const sameDefinition = current !== undefined && taskDefinitionDifferences(current, runtime, workload).length === 0;
      const sameLoadBalancers = JSON.stringify(loadBalancersOf(service)) === JSON.stringify(loadBalancers);
      const sameNetwork = sameGroups(securityGroupsOf(service), networkConfiguration.awsvpcConfiguration.securityGroups);
      let changed = false;
      if (!sameDefinition) {
        const { taskDefinition } = await ecs.send(
          new RegisterTaskDefinitionCommand({
            family: family(workload.tenantId),
            networkMode: 'awsvpc',
            requiresCompatibilities: ['FARGATE'],
            cpu,
            memory,
            taskRoleArn: workload.appRoleArn,
            // Fargate pulls the image and ships the logs with it (the tenant's traffic stack creates it).
            ...(workload.executionRoleArn ? { executionRoleArn: workload.executionRoleArn } : {}),
            containerDefinitions: [container],
            tags: [{ key: 'TenantId', value: workload.tenantId }],
          }),
        );
        taskDefinitionArn = taskDefinition?.taskDefinitionArn;
        changed = true;
      }
      if (!service) {
        await ecs.send(
          new CreateServiceCommand({
            cluster: runtime.clusterName,
            serviceName: serviceName(workload.tenantId),
            taskDefinition: taskDefinitionArn,
            desiredCount: workload.replicas,
            launchType: 'FARGATE',
            // ECS registers each task with the target group once it runs, and drains it before stopping it.
            ...(loadBalancers.length > 0 ? { loadBalancers, healthCheckGracePeriodSeconds: HEALTH_CHECK_GRACE_SECONDS } : {}),
            networkConfiguration,
            // We roll back ourselves (to the recorded previous version); the breaker only stops a bad rollout early.
            deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: false }, minimumHealthyPercent: 100, maximumPercent: 200 },
            tags: [{ key: 'TenantId', value: workload.tenantId }],
            propagateTags: 'SERVICE',
            // A retried create after a lost response gets the same service, not a second one.
            clientToken: `tf-${workload.tenantId}-${workload.version}`.slice(0, 36),
          }),
        );
        changed = true;
      } else if (changed || service.desiredCount !== workload.replicas || !sameLoadBalancers || !sameNetwork) {
        await ecs.send(
          new UpdateServiceCommand({
            cluster: runtime.clusterName,
            service: serviceName(workload.tenantId),
            taskDefinition: taskDefinitionArn,
            desiredCount: workload.replicas,
            // A tenant provisioned before it had a target group joins it in a rolling deployment.
            ...(sameLoadBalancers ? {} : { loadBalancers, ...(loadBalancers.length > 0 ? { healthCheckGracePeriodSeconds: HEALTH_CHECK_GRACE_SECONDS } : {}) }),
            // A tenant provisioned before it had a workload security group moves its tasks into it.
            ...(sameNetwork ? {} : { networkConfiguration }),
          }),
        );
        changed = true;
      }
      return { changed, revision: taskDefinitionArn ?? '' };
    },

    /**
     * What `ecsApplyWorkload` with this workload would change, without changing anything: each
     * field of the task definition that would make it register a new revision (image, size,
     * roles, environment, logs), and the service's desired count and load balancers.
     */
    async ecsPreviewWorkload({ runtime, workload }: { runtime: EcsRuntime; workload: WorkloadSpec }): Promise<WorkloadPreview> {
      const service = await describeService(runtime, workload.tenantId);
      const { loadBalancers, networkConfiguration } = desiredWorkload(runtime, workload);
      const where = { kind: 'ecs' as const, cluster: runtime.clusterName, service: serviceName(workload.tenantId) };
      if (!service?.taskDefinition) return { ...where, state: 'absent', changes: [{ object: `service ${serviceName(workload.tenantId)}`, field: '(service)', action: 'add' }] };
      const current = await taskDefinitionOf(runtime, service.taskDefinition);
      const changes: WorkloadChange[] = (current ? taskDefinitionDifferences(current, runtime, workload) : [{ field: '(task definition)', action: 'add' as const }]).map((c) => ({
        object: `task definition ${service.taskDefinition?.split('/').pop() ?? ''}`,
        ...c,
      }));
      const serviceObject = `service ${serviceName(workload.tenantId)}`;
      if (service.desiredCount !== workload.replicas) changes.push({ object: serviceObject, field: 'desiredCount', action: 'modify', before: service.desiredCount, after: workload.replicas });
      if (JSON.stringify(loadBalancersOf(service)) !== JSON.stringify(loadBalancers)) {
        changes.push({ object: serviceObject, field: 'loadBalancers', action: 'modify', before: loadBalancersOf(service), after: loadBalancers });
      }
      const groups = networkConfiguration.awsvpcConfiguration.securityGroups;
      if (!sameGroups(securityGroupsOf(service), groups)) {
        changes.push({ object: serviceObject, field: 'networkConfiguration.awsvpcConfiguration.securityGroups', action: 'modify', before: securityGroupsOf(service), after: groups });
      }
      return { ...where, state: changes.length === 0 ? 'unchanged' : 'changes', revision: service.taskDefinition, changes };
    },

    /**
     * Moves the service to another image tag and nothing else: a new task definition revision
     * copied from the running one. A retry reuses the family's latest revision when it already
     * carries the wanted image (the first attempt registered it but did not update the service).
     */
    async ecsSetVersion({ runtime, tenantId, image, version }: { runtime: EcsRuntime; tenantId: string; image: string; version: string; target?: ReleaseTarget }): Promise<ApplyResult> {
      const ecs = aws.ecs(runtime.aws);
      const wanted = imageRef({ image, version });
      const services = await describeServices(runtime, [serviceName(tenantId), greenServiceName(tenantId)]);
      const service = services.get(serviceName(tenantId));
      if (greenIsLive(service, services.get(greenServiceName(tenantId)))) {
        // A rolling update of blue would change the idle colour and leave users on green's version.
        throw permanentFailure(ErrorType.InvalidInput, `tenant ${tenantId} runs on its green colour after a blue/green release: release it with a blueGreen plan (docs/releases.md, "Blue/green")`);
      }
      if (!service?.taskDefinition) {
        throw permanentFailure(ErrorType.ResourceNotFound, `ECS service ${serviceName(tenantId)} not found in cluster ${runtime.clusterName}: provision tenant ${tenantId} first`);
      }
      const running = await taskDefinitionOf(runtime, service.taskDefinition);
      if (!running?.containerDefinitions?.some((c) => c.name === CONTAINER)) {
        throw permanentFailure(ErrorType.ResourceNotFound, `task definition ${service.taskDefinition} has no container "${CONTAINER}"`);
      }
      if (running.containerDefinitions.find((c) => c.name === CONTAINER)?.image === wanted) {
        return { changed: false, revision: service.taskDefinition };
      }
      const revision = await revisionWithImage(runtime, tenantId, running, wanted);
      await ecs.send(new UpdateServiceCommand({ cluster: runtime.clusterName, service: serviceName(tenantId), taskDefinition: revision }));
      return { changed: true, revision };
    },

    /** Waits until the primary deployment completes; a failed rollout is returned, not thrown, so the caller can roll back. */
    async ecsWaitForRollout({ runtime, tenantId, timeoutMs }: { runtime: EcsRuntime; tenantId: string; services?: string[]; timeoutMs?: number }): Promise<RolloutStatus> {
      const service = await pollWithHeartbeat({
        what: `ECS service ${serviceName(tenantId)} rollout`,
        read: () => describeService(runtime, tenantId),
        done: (s) => !s || rolloutOf(s).ready || rolloutOf(s).failureReason !== undefined,
        intervalMs: 1_000,
        // A rollout takes seconds to minutes, and the release waits on it: ask more often than for a stack.
        maxIntervalMs: 10_000,
        timeoutMs: timeoutMs ?? 15 * 60_000,
        onTimeout: (s) =>
          retryableFailure(ErrorType.Timeout, `ECS service ${serviceName(tenantId)} rollout not finished: ${JSON.stringify(s ? rolloutOf(s) : 'missing')}`),
      });
      if (!service) throw permanentFailure(ErrorType.ResourceNotFound, `ECS service ${serviceName(tenantId)} disappeared during its rollout`);
      return rolloutOf(service);
    },

    async ecsCurrentWorkload({ runtime, tenantId }: { runtime: EcsRuntime; tenantId: string; services?: string[] }): Promise<CurrentWorkload | undefined> {
      const services = await describeServices(runtime, [serviceName(tenantId), greenServiceName(tenantId)]);
      const blue = services.get(serviceName(tenantId));
      const green = services.get(greenServiceName(tenantId));
      // After a blue/green release the green service may be the live one (docs/releases.md, "Blue/green").
      const service = greenIsLive(blue, green) ? green : blue;
      if (!service?.taskDefinition) return undefined;
      const definition = await taskDefinitionOf(runtime, service.taskDefinition);
      const image = definition?.containerDefinitions?.find((c) => c.name === CONTAINER)?.image;
      if (!image) return undefined;
      return { image, version: versionOf(image), revision: service.taskDefinition };
    },

    /** Scales to zero and deletes the service; a missing service counts as deleted. */
    async ecsDeleteWorkload({ runtime, tenantId }: { runtime: EcsRuntime; tenantId: string }): Promise<{ deleted: boolean }> {
      // Blue/green's green service goes too: its target group (the traffic stack's) cannot be deleted while it is registered.
      const names = [serviceName(tenantId), greenServiceName(tenantId)];
      const existing = [...(await describeServices(runtime, names)).keys()];
      if (existing.length === 0) return { deleted: false };
      for (const name of existing) {
        try {
          await aws.ecs(runtime.aws).send(new DeleteServiceCommand({ cluster: runtime.clusterName, service: name, force: true }));
        } catch (error) {
          if ((error as Error).name !== 'ServiceNotFoundException') throw error;
        }
      }
      await pollWithHeartbeat({
        what: `ECS services ${existing.join(', ')} to drain`,
        read: () => describeServices(runtime, existing),
        done: (left) => [...left.values()].every((s) => s.status === 'INACTIVE'),
        intervalMs: 1_000,
        // A rollout takes seconds to minutes, and the release waits on it: ask more often than for a stack.
        maxIntervalMs: 10_000,
        timeoutMs: 10 * 60_000,
        onTimeout: () => retryableFailure(ErrorType.Timeout, `ECS services ${existing.join(', ')} still draining`),
      });
      return { deleted: true };
    },
  };
  return {
    ...activities,
    /**
     * A release's deploy in one activity: set the version, then wait for its rollout. Safe to
     * retry as a whole: the set compares before it writes, so a retry only waits again.
     */
    async ecsDeployVersion(input: { runtime: EcsRuntime; tenantId: string; image: string; version: string; target?: ReleaseTarget; timeoutMs?: number }): Promise<DeployResult> {
      const { changed } = await activities.ecsSetVersion(input);
      return { ...(await activities.ecsWaitForRollout(input)), changed };
    },
  };
}

export type EcsActivities = ReturnType<typeof createEcsActivities>;

/** The task definition and service settings a workload asks for. */
function desiredWorkload(runtime: EcsRuntime, workload: WorkloadSpec) {
  const port = workload.port ?? 8080;
  const container: ContainerDefinition = {
    name: CONTAINER,
    image: imageRef(workload),
    essential: true,
    portMappings: [{ containerPort: port, protocol: 'tcp' }],
    environment: Object.entries(workload.config)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, value]) => ({ name, value })),
    ...(workload.logGroupName
      ? {
          logConfiguration: {
            logDriver: 'awslogs',
            options: { 'awslogs-group': workload.logGroupName, 'awslogs-region': runtime.aws.region, 'awslogs-stream-prefix': CONTAINER },
          },
        }
      : {}),
  };
  const loadBalancers: LoadBalancer[] = workload.targetGroupArn ? [{ targetGroupArn: workload.targetGroupArn, containerName: CONTAINER, containerPort: port }] : [];
  // The cluster's groups (what every task needs: the load balancer's health checks, egress) and the
  // tenant's own, the one its database admits.
  const securityGroups = [...new Set([...runtime.securityGroupIds, ...(workload.securityGroupIds ?? [])])];
  const networkConfiguration = { awsvpcConfiguration: { subnets: runtime.subnetIds, securityGroups, assignPublicIp: 'DISABLED' as const } };
  return { container, cpu: String(workload.cpu ?? 256), memory: String(workload.memory ?? 512), loadBalancers, networkConfiguration };
}

/**
 * Each field in which the registered task definition differs from the workload's: any one of them
 * makes `ecsApplyWorkload` register a new revision. Environment variables are compared one by one
 * (an order that alone differs is one change of `environment`).
 */
export function taskDefinitionDifferences(current: TaskDefinition, runtime: EcsRuntime, workload: WorkloadSpec): Omit<WorkloadChange, 'object'>[] {
  const { container, cpu, memory } = desiredWorkload(runtime, workload);
  const running = current.containerDefinitions?.find((c) => c.name === CONTAINER);
  const changes: Omit<WorkloadChange, 'object'>[] = [];
  const compare = (field: string, before: unknown, after: unknown) => {
    if (JSON.stringify(before ?? null) !== JSON.stringify(after ?? null)) {
      changes.push({ field, action: before === undefined || before === null ? 'add' : after === undefined || after === null ? 'remove' : 'modify', before, after });
    }
  };
  compare('image', running?.image, container.image);
  compare('cpu', current.cpu, cpu);
  compare('memory', current.memory, memory);
  compare('taskRoleArn', current.taskRoleArn, workload.appRoleArn);
  compare('executionRoleArn', current.executionRoleArn, workload.executionRoleArn);
  const before = new Map((running?.environment ?? []).map((e) => [e.name ?? '', e.value]));
  const after = new Map((container.environment ?? []).map((e) => [e.name ?? '', e.value]));
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  for (const name of names) compare(`environment.${name}`, before.get(name), after.get(name));
  if (!names.some((n) => before.get(n) !== after.get(n)) && JSON.stringify(running?.environment ?? []) !== JSON.stringify(container.environment)) {
    changes.push({ field: 'environment', action: 'modify', before: 'registered in another order', after: 'sorted by name' });
  }
  compare('logConfiguration', running?.logConfiguration, container.logConfiguration);
  return changes;
}
