import { createHash } from 'node:crypto';
import {
  CreateServiceCommand,
  DeleteServiceCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ListServicesCommand,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
  type ContainerDefinition,
  type HealthCheck,
  type LoadBalancer,
  type Service,
  type TaskDefinition,
} from '@aws-sdk/client-ecs';
import { ErrorType, permanentFailure, retryableFailure } from '../../shared/errors';
import type { RuntimeSpec } from '../../shared/tenant-spec';
import type { AwsClients } from '../aws/clients';
import { pollWithHeartbeat } from '../poll';
import {
  imageRef,
  VERSION_VARIABLE,
  versionOf,
  type ApplyResult,
  type ContainerHealthCheck,
  type CurrentWorkload,
  type DeployResult,
  type ReleaseTarget,
  type RolloutStatus,
  type ServiceTarget,
  type ServiceWorkload,
  type WorkloadChange,
  type WorkloadPreview,
  type WorkloadSpec,
} from './types';

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

/**
 * The ECS service, and task definition family, of a tenant's service other than the primary
 * (docs/services.md, "ECS"): a double hyphen, which no tenant ID contains, so it can never be
 * another tenant's primary (`tenant-acme-worker` is tenant `acme-worker`'s).
 */
export const otherServiceName = (tenantId: string, name: string) => `${serviceName(tenantId)}--${name}`;
const otherServicesPrefix = (tenantId: string) => `${serviceName(tenantId)}--`;

/** A task's variables sorted by name, as apply registers them (and so a set-version keeps them). */
const sortedVariables = (variables: Record<string, string>) =>
  Object.entries(variables)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => ({ name, value }));

/** ECS's container health check: the config's command runs as `CMD` unless it names `CMD`/`CMD-SHELL` itself. */
function ecsHealthCheck(check: ContainerHealthCheck): HealthCheck {
  const command = check.command[0] === 'CMD' || check.command[0] === 'CMD-SHELL' ? check.command : ['CMD', ...check.command];
  return { command, interval: check.intervalSeconds, timeout: check.timeoutSeconds, retries: check.retries, startPeriod: check.startPeriodSeconds };
}

/** Fields a container registered without them may read back as empty (and as absent): the same to a comparison. */
const orNull = (value: unknown) => (value === undefined || (Array.isArray(value) && value.length === 0) ? null : value);

/** Reads and the task definition revision shared by the tenant's service (here) and its blue/green colours (ecs-colours.ts). */
export function ecsServiceHelpers(aws: AwsClients) {
  /** The named services that exist (not INACTIVE), by name. */
  const describeServices = async (runtime: EcsRuntime, names: string[]): Promise<Map<string, Service>> => {
    const found = new Map<string, Service>();
    // DescribeServices takes ten names at most (a tenant with services may have more).
    for (let i = 0; i < names.length; i += 10) {
      const { services = [] } = await aws.ecs(runtime.aws).send(new DescribeServicesCommand({ cluster: runtime.clusterName, services: names.slice(i, i + 10) }));
      for (const s of services) if (s.serviceName && s.status !== 'INACTIVE') found.set(s.serviceName, s);
    }
    return found;
  };

  /** The names of the tenant's services other than the primary that exist in the cluster, declared or not (ListServices knows no prefix: it pages the cluster). */
  const listOtherServices = async (runtime: EcsRuntime, tenantId: string): Promise<string[]> => {
    const names: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await aws.ecs(runtime.aws).send(new ListServicesCommand({ cluster: runtime.clusterName, maxResults: 100, nextToken }));
      for (const arn of page.serviceArns ?? []) {
        const name = arn.split('/').pop() ?? '';
        if (name.startsWith(otherServicesPrefix(tenantId))) names.push(name);
      }
      nextToken = page.nextToken;
    } while (nextToken);
    return names.sort();
  };

  const taskDefinitionOf = async (runtime: EcsRuntime, arn: string) => {
    const { taskDefinition } = await aws.ecs(runtime.aws).send(new DescribeTaskDefinitionCommand({ taskDefinition: arn }));
    return taskDefinition;
  };

  /**
   * A revision of the tenant's family that is `running` with only the image changed: the family's
   * latest when it already is (an earlier attempt registered it), else a new one.
   */
  const revisionWithImage = async (runtime: EcsRuntime, tenantId: string, running: TaskDefinition, wanted: string): Promise<string> =>
    revisionWith(runtime, tenantId, family(tenantId), running, CONTAINER, (c) => ({ ...c, image: wanted }));

  /**
   * A revision of `familyName` that is `running` with only `container` changed by `change` (a
   * release's image and variables): the family's latest when it already is (an earlier attempt
   * registered it), else a new one.
   */
  const revisionWith = async (
    runtime: EcsRuntime,
    tenantId: string,
    familyName: string,
    running: TaskDefinition,
    container: string,
    change: (definition: ContainerDefinition) => ContainerDefinition,
  ): Promise<string> => {
    const changed = (definitions: ContainerDefinition[]) => definitions.map((c) => (c.name === container ? change(c) : c));
    const wanted = changed(running.containerDefinitions ?? []).find((c) => c.name === container)?.image;
    const latest = await taskDefinitionOf(runtime, familyName);
    let revision: string | undefined;
    if (
      latest?.taskDefinitionArn &&
      latest.containerDefinitions?.find((c) => c.name === container)?.image === wanted &&
      JSON.stringify(latest.containerDefinitions) === JSON.stringify(changed(running.containerDefinitions ?? []))
    ) {
      revision = latest.taskDefinitionArn;
    } else {
      // Everything the running revision registered with, so only the image changes (volumes, platform, storage...).
      const { taskDefinition } = await aws.ecs(runtime.aws).send(
        new RegisterTaskDefinitionCommand({
          family: familyName,
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
          containerDefinitions: changed(running.containerDefinitions ?? []),
          tags: [{ key: 'TenantId', value: tenantId }],
        }),
      );
      revision = taskDefinition?.taskDefinitionArn;
    }
    if (!revision) throw retryableFailure(ErrorType.RolloutFailed, `ECS registered no task definition revision for ${familyName} with image ${wanted}`);
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

  /**
   * A failed rollout's reason with why its tasks stopped: ECS's rolloutStateReason says only that tasks
   * failed ("ECS deployment circuit breaker: tasks failed to start."), the cause (a secret the execution
   * role cannot read: `ResourceInitializationError: unable to pull secrets or registry auth: ...`) is
   * on the failed deployment's stopped tasks (their startedBy is the deployment's ID). The newest one's.
   */
  const failedRolloutOf = async (runtime: EcsRuntime, service: Service): Promise<RolloutStatus> => {
    const status = rolloutOf(service);
    const primary = service.deployments?.find((d) => d.status === 'PRIMARY');
    if (status.failureReason === undefined || !primary?.id || !service.serviceName) return status;
    const ecs = aws.ecs(runtime.aws);
    const { taskArns = [] } = await ecs.send(new ListTasksCommand({ cluster: runtime.clusterName, serviceName: service.serviceName, desiredStatus: 'STOPPED' }));
    if (taskArns.length === 0) return status;
    const { tasks = [] } = await ecs.send(new DescribeTasksCommand({ cluster: runtime.clusterName, tasks: taskArns.slice(0, 100) }));
    const stopped = tasks
      .filter((t) => t.startedBy === primary.id && t.stoppedReason)
      .sort((a, b) => (b.stoppedAt?.getTime() ?? 0) - (a.stoppedAt?.getTime() ?? 0))[0];
    if (!stopped) return status;
    return { ...status, failureReason: `${status.failureReason} Task ${stopped.taskArn?.split('/').pop() ?? '?'} stopped: ${stopped.stoppedReason}` };
  };

  return { describeServices, listOtherServices, taskDefinitionOf, revisionWithImage, revisionWith, rolloutOf, failedRolloutOf };
}

export function createEcsActivities({ aws }: { aws: AwsClients }) {
  const { describeServices, listOtherServices, taskDefinitionOf, revisionWithImage, revisionWith, rolloutOf, failedRolloutOf } = ecsServiceHelpers(aws);
  const describeService = async (runtime: EcsRuntime, tenantId: string): Promise<Service | undefined> =>
    (await describeServices(runtime, [serviceName(tenantId)])).get(serviceName(tenantId));

  /**
   * Registers an ECS service's task definition when it differs from `desired`, then creates the
   * service or updates what differs (task definition, replicas, load balancers, security groups):
   * the primary (`ecsApplyWorkload`) and each other service of a tenant alike. Nothing is written
   * when everything already matches.
   */
  const applyEcsService = async (runtime: EcsRuntime, workload: WorkloadSpec, spec: EcsServiceSpec, existing: Service | undefined): Promise<{ changed: boolean; taskDefinitionArn: string | undefined }> => {
    const ecs = aws.ecs(runtime.aws);
    const { desired, networkConfiguration, loadBalancers } = spec;
    // A service not created yet: the family's latest revision, which an attempt that failed before the create registered.
    const latest = async () => {
      try {
        return await taskDefinitionOf(runtime, spec.family);
      } catch (error) {
        if ((error as Error).name === 'ClientException') return undefined;
        throw error;
      }
    };
    const current = existing?.taskDefinition ? await taskDefinitionOf(runtime, existing.taskDefinition) : spec.reuseLatestRevision ? await latest() : undefined;
    let taskDefinitionArn = existing?.taskDefinition ?? current?.taskDefinitionArn;
    const sameDefinition = current !== undefined && definitionDifferences(current, desired).length === 0;
    // Without load balancers of its own (a service other than the primary), none are compared or sent.
    const sameLoadBalancers = loadBalancers === undefined || JSON.stringify(loadBalancersOf(existing)) === JSON.stringify(loadBalancers);
    const sameNetwork = sameGroups(securityGroupsOf(existing), networkConfiguration.awsvpcConfiguration.securityGroups);
    const withLoadBalancers = loadBalancers !== undefined && loadBalancers.length > 0;
    let changed = false;
    if (!sameDefinition) {
      const { taskDefinition } = await ecs.send(
        new RegisterTaskDefinitionCommand({
          family: spec.family,
          networkMode: 'awsvpc',
          requiresCompatibilities: ['FARGATE'],
          cpu: desired.cpu,
          memory: desired.memory,
          taskRoleArn: workload.appRoleArn,
          // Fargate pulls the image and ships the logs with it (the tenant's traffic stack creates it).
          ...(workload.executionRoleArn ? { executionRoleArn: workload.executionRoleArn } : {}),
          containerDefinitions: [desired.container],
          tags: spec.tags,
        }),
      );
      taskDefinitionArn = taskDefinition?.taskDefinitionArn;
      changed = true;
    }
    if (!existing) {
      await ecs.send(
        new CreateServiceCommand({
          cluster: runtime.clusterName,
          serviceName: spec.name,
          taskDefinition: taskDefinitionArn,
          desiredCount: spec.replicas,
          launchType: 'FARGATE',
          // ECS registers each task with the target group once it runs, and drains it before stopping it.
          ...(withLoadBalancers ? { loadBalancers, healthCheckGracePeriodSeconds: HEALTH_CHECK_GRACE_SECONDS } : {}),
          networkConfiguration,
          // We roll back ourselves (to the recorded previous version); the breaker only stops a bad rollout early.
          deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: false }, minimumHealthyPercent: 100, maximumPercent: 200 },
          tags: spec.tags,
          propagateTags: 'SERVICE',
          // A retried create after a lost response gets the same service, not a second one.
          clientToken: spec.clientToken,
        }),
      );
      changed = true;
    } else if (changed || existing.desiredCount !== spec.replicas || !sameLoadBalancers || !sameNetwork) {
      await ecs.send(
        new UpdateServiceCommand({
          cluster: runtime.clusterName,
          service: spec.name,
          taskDefinition: taskDefinitionArn,
          desiredCount: spec.replicas,
          // A tenant provisioned before it had a target group joins it in a rolling deployment.
          ...(sameLoadBalancers ? {} : { loadBalancers, ...(withLoadBalancers ? { healthCheckGracePeriodSeconds: HEALTH_CHECK_GRACE_SECONDS } : {}) }),
          // A tenant provisioned before it had a workload security group moves its tasks into it.
          ...(sameNetwork ? {} : { networkConfiguration }),
        }),
      );
      changed = true;
    }
    return { changed, taskDefinitionArn };
  };

  /** A service other than the primary (docs/services.md, "ECS"): no load balancer, its own family, size and replicas. */
  const applyService = async (runtime: EcsRuntime, workload: WorkloadSpec, service: ServiceWorkload, existing: Service | undefined): Promise<boolean> => {
    const name = otherServiceName(workload.tenantId, service.name);
    const tags = [{ key: 'TenantId', value: workload.tenantId }, { key: 'Service', value: service.name }];
    const { changed } = await applyEcsService(
      runtime,
      workload,
      {
        name,
        family: name,
        desired: desiredServiceDefinition(runtime, workload, service),
        replicas: service.replicas,
        networkConfiguration: desiredWorkload(runtime, workload).networkConfiguration,
        tags,
        // The hash keeps the services of one tenant apart within the token's 36 characters.
        clientToken: `tf-${createHash('sha256').update(`${name}/${service.version}`).digest('hex').slice(0, 33)}`,
        reuseLatestRevision: true,
      },
      existing,
    );
    return changed;
  };

  /** Scales a service the tenant no longer declares to 0 and deletes it (DeleteService with force does both; the scale first stops its tasks even if the delete is retried). */
  const removeService = async (runtime: EcsRuntime, name: string, service: Service) => {
    const ecs = aws.ecs(runtime.aws);
    if ((service.desiredCount ?? 0) > 0) await ecs.send(new UpdateServiceCommand({ cluster: runtime.clusterName, service: name, desiredCount: 0 }));
    try {
      await ecs.send(new DeleteServiceCommand({ cluster: runtime.clusterName, service: name, force: true }));
    } catch (error) {
      if ((error as Error).name !== 'ServiceNotFoundException') throw error;
    }
  };

  /** The tenant's services the workload no longer declares, still active in the cluster (only looked for when it declares services: docs/services.md). */
  const undeclaredServices = async (runtime: EcsRuntime, workload: WorkloadSpec): Promise<Map<string, Service>> => {
    if (workload.serviceName === undefined) return new Map();
    const declared = new Set((workload.services ?? []).map((s) => otherServiceName(workload.tenantId, s.name)));
    const names = (await listOtherServices(runtime, workload.tenantId)).filter((n) => !declared.has(n));
    if (names.length === 0) return new Map();
    return new Map([...(await describeServices(runtime, names))].filter(([, s]) => s.status === 'ACTIVE'));
  };

  /**
   * The revision `service` gets for `target`: its container's image and the target's variables,
   * VERSION_VARIABLE included; unchanged (no registration) when it already runs them.
   */
  const targetRevision = async (runtime: EcsRuntime, tenantId: string, familyName: string, container: string, service: Service, target: ServiceTarget, version: string) => {
    const running = await taskDefinitionOf(runtime, service.taskDefinition!);
    const current = running?.containerDefinitions?.find((c) => c.name === container);
    if (!running || !current) throw permanentFailure(ErrorType.ResourceNotFound, `task definition ${service.taskDefinition} of tenant ${tenantId} has no container "${container}"`);
    const change = (definition: ContainerDefinition): ContainerDefinition => ({ ...definition, image: target.image, environment: withVariables(definition.environment, { ...target.environment, [VERSION_VARIABLE]: version }) });
    // Only the image and the variables change: compared as values (ECS may read a definition back with its keys in another order).
    const moving = (c: ContainerDefinition) => JSON.stringify([c.image, (c.environment ?? []).map((e) => [e.name, e.value])]);
    if (moving(change(current)) === moving(current)) return { changed: false, revision: service.taskDefinition! };
    return { changed: true, revision: await revisionWith(runtime, tenantId, familyName, running, container, change) };
  };

  const activities = {
    /**
     * Registers a task definition revision only if the latest differs, then creates or updates the
     * service; a tenant with services (docs/services.md) gets each of the others the same way, and
     * loses those it no longer declares.
     */
    async ecsApplyWorkload({ runtime, workload }: { runtime: EcsRuntime; workload: WorkloadSpec }): Promise<ApplyResult> {
      const { loadBalancers, networkConfiguration } = desiredWorkload(runtime, workload);
      const others = workload.services ?? [];
      const described = await describeServices(runtime, [serviceName(workload.tenantId), ...others.map((s) => otherServiceName(workload.tenantId, s.name))]);
      const applied = await applyEcsService(
        runtime,
        workload,
        {
          name: serviceName(workload.tenantId),
          family: family(workload.tenantId),
          desired: desiredDefinition(runtime, workload),
          replicas: workload.replicas,
          networkConfiguration,
          loadBalancers,
          tags: [{ key: 'TenantId', value: workload.tenantId }],
          clientToken: `tf-${workload.tenantId}-${workload.version}`.slice(0, 36),
          // The primary's family is registered anew when its service is missing, as it always was.
          reuseLatestRevision: false,
        },
        described.get(serviceName(workload.tenantId)),
      );
      let changed = applied.changed;
      const taskDefinitionArn = applied.taskDefinitionArn;
      // One service at a time: a retry after a partial success finds the ones done unchanged.
      for (const other of others) {
        if (await applyService(runtime, workload, other, described.get(otherServiceName(workload.tenantId, other.name)))) changed = true;
      }
      for (const [name, undeclared] of await undeclaredServices(runtime, workload)) {
        await removeService(runtime, name, undeclared);
        changed = true;
      }
      return { changed, revision: taskDefinitionArn ?? '' };
    },

    /**
     * What `ecsApplyWorkload` with this workload would change, without changing anything: each
     * field of the task definition that would make it register a new revision (image, size,
     * roles, environment, logs), and the service's desired count and load balancers; on a tenant
     * with services, the same for each of them, and the services it would delete.
     */
    async ecsPreviewWorkload({ runtime, workload }: { runtime: EcsRuntime; workload: WorkloadSpec }): Promise<WorkloadPreview> {
      const others = workload.services ?? [];
      const described = await describeServices(runtime, [serviceName(workload.tenantId), ...others.map((s) => otherServiceName(workload.tenantId, s.name))]);
      const service = described.get(serviceName(workload.tenantId));
      const { loadBalancers, networkConfiguration } = desiredWorkload(runtime, workload);
      const where = { kind: 'ecs' as const, cluster: runtime.clusterName, service: serviceName(workload.tenantId) };
      const groups = networkConfiguration.awsvpcConfiguration.securityGroups;
      const changes: WorkloadChange[] = [];
      if (!service?.taskDefinition) {
        changes.push({ object: `service ${serviceName(workload.tenantId)}`, field: '(service)', action: 'add' });
      } else {
        const current = await taskDefinitionOf(runtime, service.taskDefinition);
        changes.push(
          ...(current ? taskDefinitionDifferences(current, runtime, workload) : [{ field: '(task definition)', action: 'add' as const }]).map((c) => ({
            object: `task definition ${service.taskDefinition?.split('/').pop() ?? ''}`,
            ...c,
          })),
        );
        const serviceObject = `service ${serviceName(workload.tenantId)}`;
        if (service.desiredCount !== workload.replicas) changes.push({ object: serviceObject, field: 'desiredCount', action: 'modify', before: service.desiredCount, after: workload.replicas });
        if (JSON.stringify(loadBalancersOf(service)) !== JSON.stringify(loadBalancers)) {
          changes.push({ object: serviceObject, field: 'loadBalancers', action: 'modify', before: loadBalancersOf(service), after: loadBalancers });
        }
        if (!sameGroups(securityGroupsOf(service), groups)) {
          changes.push({ object: serviceObject, field: 'networkConfiguration.awsvpcConfiguration.securityGroups', action: 'modify', before: securityGroupsOf(service), after: groups });
        }
      }
      for (const other of others) {
        const name = otherServiceName(workload.tenantId, other.name);
        const existing = described.get(name);
        if (!existing?.taskDefinition) {
          changes.push({ object: `service ${name}`, field: '(service)', action: 'add' });
          continue;
        }
        const current = await taskDefinitionOf(runtime, existing.taskDefinition);
        changes.push(
          ...(current ? definitionDifferences(current, desiredServiceDefinition(runtime, workload, other)) : [{ field: '(task definition)', action: 'add' as const }]).map((c) => ({
            object: `task definition ${existing.taskDefinition?.split('/').pop() ?? ''}`,
            ...c,
          })),
        );
        if (existing.desiredCount !== other.replicas) changes.push({ object: `service ${name}`, field: 'desiredCount', action: 'modify', before: existing.desiredCount, after: other.replicas });
        if (!sameGroups(securityGroupsOf(existing), groups)) {
          changes.push({ object: `service ${name}`, field: 'networkConfiguration.awsvpcConfiguration.securityGroups', action: 'modify', before: securityGroupsOf(existing), after: groups });
        }
      }
      for (const name of (await undeclaredServices(runtime, workload)).keys()) changes.push({ object: `service ${name}`, field: '(service)', action: 'remove' });
      if (!service?.taskDefinition) return { ...where, state: 'absent', changes };
      return { ...where, state: changes.length === 0 ? 'unchanged' : 'changes', revision: service.taskDefinition, changes };
    },

    /**
     * Moves the service to another image tag and nothing else: a new task definition revision
     * copied from the running one. A retry reuses the family's latest revision when it already
     * carries the wanted image (the first attempt registered it but did not update the service).
     * With a target (docs/services.md): every service of the target gets its image and variables,
     * and VERSION_VARIABLE, the same way; without one, a VERSION_VARIABLE the primary still
     * carries from such a release goes.
     */
    async ecsSetVersion({ runtime, tenantId, image, version, target }: { runtime: EcsRuntime; tenantId: string; image: string; version: string; target?: ReleaseTarget }): Promise<ApplyResult> {
      const ecs = aws.ecs(runtime.aws);
      const wanted = target ? target.services[0]!.image : imageRef({ image, version });
      const others = target?.services.slice(1) ?? [];
      const services = await describeServices(runtime, [serviceName(tenantId), greenServiceName(tenantId), ...others.map((s) => otherServiceName(tenantId, s.name))]);
      const service = services.get(serviceName(tenantId));
      if (greenIsLive(service, services.get(greenServiceName(tenantId)))) {
        // A rolling update of blue would change the idle colour and leave users on green's version.
        throw permanentFailure(ErrorType.InvalidInput, `tenant ${tenantId} runs on its green colour after a blue/green release: release it with a blueGreen plan (docs/releases.md, "Blue/green")`);
      }
      if (!service?.taskDefinition) {
        throw permanentFailure(ErrorType.ResourceNotFound, `ECS service ${serviceName(tenantId)} not found in cluster ${runtime.clusterName}: provision tenant ${tenantId} first`);
      }
      const missing = others.filter((s) => !services.get(otherServiceName(tenantId, s.name))?.taskDefinition);
      if (missing.length > 0) {
        throw permanentFailure(
          ErrorType.ResourceNotFound,
          `tenant ${tenantId} has no ECS service ${missing.map((s) => `${otherServiceName(tenantId, s.name)} (service "${s.name}")`).join(', ')} in cluster ${runtime.clusterName}: provision it first`,
        );
      }
      if (target) {
        // Each service moves on its own; a retry after a partial success finds the ones done unchanged.
        let changed = false;
        let revision = service.taskDefinition;
        for (const [index, serviceTarget] of target.services.entries()) {
          const primary = index === 0;
          const name = primary ? serviceName(tenantId) : otherServiceName(tenantId, serviceTarget.name);
          const current = services.get(name)!;
          const moved = await targetRevision(runtime, tenantId, primary ? family(tenantId) : name, primary ? CONTAINER : serviceTarget.name, current, serviceTarget, target.version);
          if (primary) revision = moved.revision;
          if (!moved.changed && current.taskDefinition === moved.revision) continue;
          await ecs.send(new UpdateServiceCommand({ cluster: runtime.clusterName, service: name, taskDefinition: moved.revision }));
          changed = true;
        }
        return { changed, revision };
      }
      const running = await taskDefinitionOf(runtime, service.taskDefinition);
      if (!running?.containerDefinitions?.some((c) => c.name === CONTAINER)) {
        throw permanentFailure(ErrorType.ResourceNotFound, `task definition ${service.taskDefinition} has no container "${CONTAINER}"`);
      }
      const container = running.containerDefinitions.find((c) => c.name === CONTAINER)!;
      const stale = container.environment?.some((e) => e.name === VERSION_VARIABLE) ?? false;
      if (container.image === wanted && !stale) {
        return { changed: false, revision: service.taskDefinition };
      }
      const revision = stale
        ? await revisionWith(runtime, tenantId, family(tenantId), running, CONTAINER, (c) => ({ ...c, image: wanted, environment: withVariables(c.environment, { [VERSION_VARIABLE]: null }) }))
        : await revisionWithImage(runtime, tenantId, running, wanted);
      await ecs.send(new UpdateServiceCommand({ cluster: runtime.clusterName, service: serviceName(tenantId), taskDefinition: revision }));
      return { changed: true, revision };
    },

    /**
     * Waits until the primary deployment completes (on a tenant with services, each service's); a
     * failed rollout is returned, not thrown, so the caller can roll back, its reason naming the service.
     */
    async ecsWaitForRollout({ runtime, tenantId, services, timeoutMs }: { runtime: EcsRuntime; tenantId: string; services?: string[]; timeoutMs?: number }): Promise<RolloutStatus> {
      if (!services?.length) {
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
        return failedRolloutOf(runtime, service);
      }
      const names = [serviceName(tenantId), ...services.map((s) => otherServiceName(tenantId, s))];
      const label = (name: string) => (name === serviceName(tenantId) ? `ECS service ${name}` : `ECS service ${name} (service "${name.slice(otherServicesPrefix(tenantId).length)}")`);
      const finished = (found: Map<string, Service>) => names.every((n) => !found.get(n) || rolloutOf(found.get(n)!).ready) || names.some((n) => !found.get(n) || rolloutOf(found.get(n)!).failureReason !== undefined);
      const found = await pollWithHeartbeat({
        what: `ECS services ${names.join(', ')} rollout`,
        read: () => describeServices(runtime, names),
        done: finished,
        intervalMs: 1_000,
        maxIntervalMs: 10_000,
        timeoutMs: timeoutMs ?? 15 * 60_000,
        onTimeout: (s) =>
          retryableFailure(ErrorType.Timeout, `ECS services of tenant ${tenantId} rollout not finished: ${JSON.stringify(Object.fromEntries(names.map((n) => [n, s?.get(n) ? rolloutOf(s.get(n)!) : 'missing'])))}`),
      });
      const gone = names.find((n) => !found.get(n));
      if (gone) throw permanentFailure(ErrorType.ResourceNotFound, `${label(gone)} of tenant ${tenantId} disappeared during its rollout`);
      const primary = rolloutOf(found.get(names[0]!)!);
      const failed = names.find((n) => rolloutOf(found.get(n)!).failureReason !== undefined);
      return {
        ...primary,
        ready: names.every((n) => rolloutOf(found.get(n)!).ready),
        failureReason: failed ? `${label(failed)}: ${(await failedRolloutOf(runtime, found.get(failed)!)).failureReason}` : undefined,
      };
    },

    /** The primary's image and version (VERSION_VARIABLE when set, else its tag) and, given `services`, each one's running image. */
    async ecsCurrentWorkload({ runtime, tenantId, services: others }: { runtime: EcsRuntime; tenantId: string; services?: string[] }): Promise<CurrentWorkload | undefined> {
      const services = await describeServices(runtime, [serviceName(tenantId), greenServiceName(tenantId), ...(others ?? []).map((s) => otherServiceName(tenantId, s))]);
      const blue = services.get(serviceName(tenantId));
      const green = services.get(greenServiceName(tenantId));
      // After a blue/green release the green service may be the live one (docs/releases.md, "Blue/green").
      const service = greenIsLive(blue, green) ? green : blue;
      if (!service?.taskDefinition) return undefined;
      const definition = await taskDefinitionOf(runtime, service.taskDefinition);
      const container = definition?.containerDefinitions?.find((c) => c.name === CONTAINER);
      const image = container?.image;
      if (!image) return undefined;
      const recorded = container.environment?.find((e) => e.name === VERSION_VARIABLE)?.value;
      const current: CurrentWorkload = { image, version: recorded ?? versionOf(image), revision: service.taskDefinition };
      if (others === undefined) return current;
      const images: Record<string, string> = {};
      for (const name of others) {
        const arn = services.get(otherServiceName(tenantId, name))?.taskDefinition;
        const running = arn ? (await taskDefinitionOf(runtime, arn))?.containerDefinitions?.find((c) => c.name === name)?.image : undefined;
        if (running) images[name] = running;
      }
      return { ...current, services: images };
    },

    /**
     * Scales to zero and deletes the service, and every other service of the tenant (found by
     * listing, so also the ones its config no longer declares); a missing service counts as deleted.
     */
    async ecsDeleteWorkload({ runtime, tenantId }: { runtime: EcsRuntime; tenantId: string }): Promise<{ deleted: boolean }> {
      // Blue/green's green service goes too: its target group (the traffic stack's) cannot be deleted while it is registered.
      // The other services' tasks run in the traffic stack's workload security group, which cannot be deleted while they do.
      const names = [serviceName(tenantId), greenServiceName(tenantId), ...(await listOtherServices(runtime, tenantId))];
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
      // The target's services are the ones whose rollouts it started.
      const services = input.target && input.target.services.length > 1 ? { services: input.target.services.slice(1).map((s) => s.name) } : {};
      return { ...(await activities.ecsWaitForRollout({ ...input, ...services })), changed };
    },
  };
}

export type EcsActivities = ReturnType<typeof createEcsActivities>;

/** `environment` with `changes` applied (a value set, null removed), sorted by name as apply registers it. */
function withVariables(environment: ContainerDefinition['environment'], changes: Record<string, string | null>) {
  const variables = new Map((environment ?? []).map((e) => [e.name ?? '', e.value ?? '']));
  for (const [name, value] of Object.entries(changes)) {
    if (value === null) variables.delete(name);
    else variables.set(name, value);
  }
  return sortedVariables(Object.fromEntries(variables));
}

/** The variables, secrets and checks a container of the workload (the primary or another service) carries. */
function containerSettings(runtime: EcsRuntime, workload: WorkloadSpec, own: { config: Record<string, string>; command?: string[]; secrets?: Record<string, string>; healthCheck?: ContainerHealthCheck }, logPrefix: string) {
  const secrets = Object.entries(own.secrets ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return {
    ...(own.command ? { command: own.command } : {}),
    environment: sortedVariables({ ...own.config, ...(workload.releaseVersion !== undefined ? { [VERSION_VARIABLE]: workload.releaseVersion } : {}) }),
    // The execution role reads them when the task starts (docs/services.md, "ECS"); the worker never sees a value.
    ...(secrets.length > 0 ? { secrets: secrets.map(([name, valueFrom]) => ({ name, valueFrom })) } : {}),
    ...(own.healthCheck ? { healthCheck: ecsHealthCheck(own.healthCheck) } : {}),
    ...(workload.logGroupName
      ? {
          logConfiguration: {
            logDriver: 'awslogs' as const,
            options: { 'awslogs-group': workload.logGroupName, 'awslogs-region': runtime.aws.region, 'awslogs-stream-prefix': logPrefix },
          },
        }
      : {}),
  };
}

/** The task definition and service settings a workload asks for. */
function desiredWorkload(runtime: EcsRuntime, workload: WorkloadSpec) {
  const port = workload.port ?? 8080;
  const { environment, logConfiguration, ...settings } = containerSettings(runtime, workload, workload, CONTAINER);
  const container: ContainerDefinition = {
    name: CONTAINER,
    image: imageRef(workload),
    essential: true,
    portMappings: [{ containerPort: port, protocol: 'tcp' }],
    environment,
    ...(logConfiguration ? { logConfiguration } : {}),
    ...settings,
  };
  const loadBalancers: LoadBalancer[] = workload.targetGroupArn ? [{ targetGroupArn: workload.targetGroupArn, containerName: CONTAINER, containerPort: port }] : [];
  // The cluster's groups (what every task needs: the load balancer's health checks, egress) and the
  // tenant's own, the one its database admits.
  const securityGroups = [...new Set([...runtime.securityGroupIds, ...(workload.securityGroupIds ?? [])])];
  const networkConfiguration = { awsvpcConfiguration: { subnets: runtime.subnetIds, securityGroups, assignPublicIp: 'DISABLED' as const } };
  return { container, cpu: String(workload.cpu ?? 256), memory: String(workload.memory ?? 512), loadBalancers, networkConfiguration };
}

interface DesiredDefinition {
  container: ContainerDefinition;
  cpu: string;
  memory: string;
  taskRoleArn?: string;
  executionRoleArn?: string;
}

/** One ECS service as `applyEcsService` makes it: the primary or another service of a tenant. */
interface EcsServiceSpec {
  name: string;
  family: string;
  desired: DesiredDefinition;
  replicas: number;
  networkConfiguration: ReturnType<typeof desiredWorkload>['networkConfiguration'];
  /** The primary's target group binding; undefined for a service that has none to keep in step. */
  loadBalancers?: LoadBalancer[];
  tags: { key: string; value: string }[];
  clientToken: string;
  /**
   * Whether a service not created yet may take its family's latest revision when it matches (one an
   * attempt that failed before the create registered) instead of registering another.
   */
  reuseLatestRevision: boolean;
}

/** The primary's task definition as the workload asks for it. */
function desiredDefinition(runtime: EcsRuntime, workload: WorkloadSpec): DesiredDefinition {
  const { container, cpu, memory } = desiredWorkload(runtime, workload);
  return { container, cpu, memory, ...(workload.appRoleArn ? { taskRoleArn: workload.appRoleArn } : {}), ...(workload.executionRoleArn ? { executionRoleArn: workload.executionRoleArn } : {}) };
}

/** A service other than the primary: its own container (named after it, no port: nothing routes to it), size and log stream prefix; the tenant's roles. */
function desiredServiceDefinition(runtime: EcsRuntime, workload: WorkloadSpec, service: ServiceWorkload): DesiredDefinition {
  const { environment, logConfiguration, ...settings } = containerSettings(runtime, workload, service, service.name);
  return {
    container: { name: service.name, image: imageRef(service), essential: true, environment, ...(logConfiguration ? { logConfiguration } : {}), ...settings },
    cpu: String(service.cpu),
    memory: String(service.memory),
    ...(workload.appRoleArn ? { taskRoleArn: workload.appRoleArn } : {}),
    ...(workload.executionRoleArn ? { executionRoleArn: workload.executionRoleArn } : {}),
  };
}

/**
 * Each field in which the registered task definition differs from the workload's: any one of them
 * makes `ecsApplyWorkload` register a new revision. Environment variables are compared one by one
 * (an order that alone differs is one change of `environment`).
 */
export function taskDefinitionDifferences(current: TaskDefinition, runtime: EcsRuntime, workload: WorkloadSpec): Omit<WorkloadChange, 'object'>[] {
  return definitionDifferences(current, desiredDefinition(runtime, workload));
}

function definitionDifferences(current: TaskDefinition, { container, cpu, memory, taskRoleArn, executionRoleArn }: DesiredDefinition): Omit<WorkloadChange, 'object'>[] {
  const running = current.containerDefinitions?.find((c) => c.name === container.name);
  const changes: Omit<WorkloadChange, 'object'>[] = [];
  const compare = (field: string, before: unknown, after: unknown) => {
    if (JSON.stringify(before ?? null) !== JSON.stringify(after ?? null)) {
      changes.push({ field, action: before === undefined || before === null ? 'add' : after === undefined || after === null ? 'remove' : 'modify', before, after });
    }
  };
  compare('image', running?.image, container.image);
  compare('cpu', current.cpu, cpu);
  compare('memory', current.memory, memory);
  compare('taskRoleArn', current.taskRoleArn, taskRoleArn);
  compare('executionRoleArn', current.executionRoleArn, executionRoleArn);
  const before = new Map((running?.environment ?? []).map((e) => [e.name ?? '', e.value]));
  const after = new Map((container.environment ?? []).map((e) => [e.name ?? '', e.value]));
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  for (const name of names) compare(`environment.${name}`, before.get(name), after.get(name));
  if (!names.some((n) => before.get(n) !== after.get(n)) && JSON.stringify(running?.environment ?? []) !== JSON.stringify(container.environment)) {
    changes.push({ field: 'environment', action: 'modify', before: 'registered in another order', after: 'sorted by name' });
  }
  compare('logConfiguration', running?.logConfiguration, container.logConfiguration);
  // Absent on every container registered before services (docs/services.md): an empty read-back is the same.
  compare('command', orNull(running?.command), orNull(container.command));
  compare('secrets', orNull(running?.secrets), orNull(container.secrets));
  compare('healthCheck', orNull(running?.healthCheck), orNull(container.healthCheck));
  return changes;
}
