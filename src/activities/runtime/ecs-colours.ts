import { CreateServiceCommand, UpdateServiceCommand, type Service } from '@aws-sdk/client-ecs';
import { DescribeTargetHealthCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ErrorType, permanentFailure, retryableFailure } from '../../shared/errors';
import type { AwsClients } from '../aws/clients';
import { abortSignal, pollWithHeartbeat } from '../poll';
import { CONTAINER, ecsServiceHelpers, greenServiceName, HEALTH_CHECK_GRACE_SECONDS, serviceName, type EcsRuntime } from './ecs';
import {
  imageRef,
  otherColour,
  versionOf,
  type Colour,
  type ColourDeployInput,
  type ColourReadInput,
  type ColourRetireInput,
  type ColourState,
  type ColourStates,
  type DeployResult,
  type EcsColourActivities,
} from './types';

/** Blue is the service every tenant had before blue/green; green is a second one beside it (docs/releases.md, "Blue/green"). */
export const colourServiceName = (tenantId: string, colour: Colour) => (colour === 'blue' ? serviceName(tenantId) : greenServiceName(tenantId));

class NotHealthyInTime extends Error {}

/** How long a colour may take to become ready with healthy targets before its deploy counts as failed. */
const DEFAULT_DEPLOY_TIMEOUT_MS = 10 * 60_000;

/**
 * Blue/green colour slots on ECS: two services of the same task family, each registered with its
 * colour's target group. Every activity compares before it writes, so a retry (also after a
 * partial success: a service created, its rollout not yet awaited) finds the earlier attempt's
 * work and only waits again.
 */
export function createEcsColourActivities({ aws }: { aws: AwsClients }) {
  const { describeServices, taskDefinitionOf, revisionWithImage, rolloutOf } = ecsServiceHelpers(aws);

  const bothColours = async (runtime: EcsRuntime, tenantId: string) => {
    const services = await describeServices(runtime, [colourServiceName(tenantId, 'blue'), colourServiceName(tenantId, 'green')]);
    return { blue: services.get(colourServiceName(tenantId, 'blue')), green: services.get(colourServiceName(tenantId, 'green')) };
  };

  const healthyTargets = async (runtime: EcsRuntime, targetGroupArn: string): Promise<number> => {
    const { TargetHealthDescriptions = [] } = await aws
      .elbv2(runtime.aws)
      .send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }), { abortSignal: abortSignal() });
    return TargetHealthDescriptions.filter((d) => d.TargetHealth?.State === 'healthy').length;
  };

  const stateOf = async (runtime: EcsRuntime, colour: Colour, service: Service | undefined): Promise<ColourState> => {
    if (!service?.taskDefinition) return { colour, exists: false, desiredReplicas: 0, readyReplicas: 0 };
    const image = (await taskDefinitionOf(runtime, service.taskDefinition))?.containerDefinitions?.find((c) => c.name === CONTAINER)?.image;
    return { colour, exists: true, ...(image ? { version: versionOf(image) } : {}), desiredReplicas: service.desiredCount ?? 0, readyReplicas: service.runningCount ?? 0 };
  };

  const activities: EcsColourActivities = {
    async ecsReadColours({ runtime, tenantId }: ColourReadInput & { runtime: EcsRuntime }): Promise<ColourStates> {
      const services = await bothColours(runtime, tenantId);
      const [blue, green] = await Promise.all([stateOf(runtime, 'blue', services.blue), stateOf(runtime, 'green', services.green)]);
      return { blue, green };
    },

    /**
     * Puts `version` on `colour` at `replicas`, then waits until its rollout is complete and
     * `replicas` targets are healthy in its group. Green's service is created the first time from
     * blue's (same task family, network and settings, its own target group). A rollout the circuit
     * breaker stops, or one not healthy within the timeout, is returned as not ready.
     */
    async ecsDeployColour(input: ColourDeployInput & { runtime: EcsRuntime }): Promise<DeployResult> {
      const { runtime, tenantId, colour, replicas, targetGroupArn } = input;
      const ecs = aws.ecs(runtime.aws);
      const name = colourServiceName(tenantId, colour);
      const wanted = imageRef({ image: input.image, version: input.version });
      const services = await bothColours(runtime, tenantId);
      const own = services[colour];
      // The task definition and network to copy: the colour's own service, else the other colour's.
      const source = own?.taskDefinition ? own : services[otherColour(colour)];
      if (!source?.taskDefinition) {
        throw permanentFailure(ErrorType.ResourceNotFound, `tenant ${tenantId} has no ECS service in cluster ${runtime.clusterName} to make its ${colour} colour from: provision it first`);
      }
      const running = await taskDefinitionOf(runtime, source.taskDefinition);
      if (!running?.containerDefinitions?.some((c) => c.name === CONTAINER)) {
        throw permanentFailure(ErrorType.ResourceNotFound, `task definition ${source.taskDefinition} has no container "${CONTAINER}"`);
      }
      const onImage = running.containerDefinitions.find((c) => c.name === CONTAINER)?.image === wanted;
      const revision = onImage ? source.taskDefinition : await revisionWithImage(runtime, tenantId, running, wanted);
      let changed = false;
      if (!own) {
        const port = running.containerDefinitions.find((c) => c.name === CONTAINER)?.portMappings?.[0]?.containerPort ?? 8080;
        await ecs.send(
          new CreateServiceCommand({
            cluster: runtime.clusterName,
            serviceName: name,
            taskDefinition: revision,
            desiredCount: replicas,
            launchType: 'FARGATE',
            loadBalancers: [{ targetGroupArn, containerName: CONTAINER, containerPort: port }],
            healthCheckGracePeriodSeconds: HEALTH_CHECK_GRACE_SECONDS,
            networkConfiguration: source.networkConfiguration,
            deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: false }, minimumHealthyPercent: 100, maximumPercent: 200 },
            tags: [{ key: 'TenantId', value: tenantId }, { key: 'Colour', value: colour }],
            propagateTags: 'SERVICE',
            // A retried create after a lost response gets the same service, not a second one.
            clientToken: `tf-${tenantId}-${colour}`.slice(0, 36),
          }),
          { abortSignal: abortSignal() },
        );
        changed = true;
      } else {
        const groups = (own.loadBalancers ?? []).map((lb) => lb.targetGroupArn);
        if (!groups.includes(targetGroupArn)) {
          // A service's load balancers are its colour's for life: another group means the slots were mixed up.
          throw permanentFailure(ErrorType.InvalidInput, `ECS service ${name} is registered with ${groups.join(', ') || 'no target group'}, not ${colour}'s ${targetGroupArn}`);
        }
        if (own.taskDefinition !== revision || own.desiredCount !== replicas) {
          await ecs.send(new UpdateServiceCommand({ cluster: runtime.clusterName, service: name, taskDefinition: revision, desiredCount: replicas }), { abortSignal: abortSignal() });
          changed = true;
        }
      }
      let healthy = 0;
      const service = await pollWithHeartbeat({
        what: `ECS service ${name} (${colour}) rollout and target health`,
        read: async () => {
          const current = (await describeServices(runtime, [name])).get(name);
          if (current && rolloutOf(current).ready) healthy = await healthyTargets(runtime, targetGroupArn);
          return current;
        },
        done: (s) => !s || rolloutOf(s).failureReason !== undefined || (rolloutOf(s).ready && healthy >= replicas),
        intervalMs: 1_000,
        maxIntervalMs: 5_000,
        timeoutMs: input.timeoutMs ?? DEFAULT_DEPLOY_TIMEOUT_MS,
        onTimeout: (s) => new NotHealthyInTime(`${colour} not ready with ${replicas} healthy targets in ${Math.round((input.timeoutMs ?? DEFAULT_DEPLOY_TIMEOUT_MS) / 1000)} s: ${JSON.stringify(s ? { ...rolloutOf(s), healthy } : 'missing')}`),
      }).catch((error: unknown) => {
        // Not healthy in time is the colour's verdict, not a reason to retry: the release switches back.
        if (error instanceof NotHealthyInTime) return error;
        throw error;
      });
      if (service instanceof NotHealthyInTime) return { ready: false, failureReason: service.message, updatedReplicas: 0, readyReplicas: 0, desiredReplicas: replicas, changed };
      if (!service) throw retryableFailure(ErrorType.ResourceNotFound, `ECS service ${name} disappeared during its rollout`);
      return { ...rolloutOf(service), changed };
    },

    /** Scales the colour's service to 0 and keeps it (and its task definition), so switching back within the retention is instant. */
    async ecsRetireColour({ runtime, tenantId, colour }: ColourRetireInput & { runtime: EcsRuntime }): Promise<{ changed: boolean }> {
      const name = colourServiceName(tenantId, colour);
      const service = (await describeServices(runtime, [name])).get(name);
      if (!service || service.desiredCount === 0) return { changed: false };
      await aws.ecs(runtime.aws).send(new UpdateServiceCommand({ cluster: runtime.clusterName, service: name, desiredCount: 0 }), { abortSignal: abortSignal() });
      return { changed: true };
    },
  };
  return { ...activities };
}
