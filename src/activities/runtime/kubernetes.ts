import { z } from 'zod';
import { ErrorType, permanentFailure, retryableFailure } from '../../shared/errors';
import { containerHealthCheckSchema, envVarNameSchema, serviceNameSchema } from '../../shared/config/services';
import { iamRoleArnSchema, imageTagSchema, targetGroupArnSchema, tenantIdSchema } from '../../shared/ids';
import { imageReferenceSchema } from '../../shared/release/manifest';
import { runtimeSpecSchema, type RuntimeSpec } from '../../shared/tenant-spec';
import { parseOrFail } from '../../shared/validation';
import type { KubeClient, KubeObject } from '../kube-client/client';
import { KubeTransientError, kubeStep } from '../kube-client/errors';
import { followObject } from '../kube-client/follow';
import { objectChanges, intentOf } from '../kube-client/object-diff';
import { apiVersionOf, describe, inApplyOrder, objectPath, type ObjectRef } from '../kube-client/resources';
import { containerImage, judgeRollout, type Deployment, type RolloutJudgement } from '../kube-client/rollout';
import { APPLYSET, appliedBy, applySetId, applySetParent, asMember, memberKey, memberKinds, recordedGroupKinds } from '../kube-chart/applyset';
import {
  COLOUR_LABEL, ChartRenderError, SERVICE_LABEL, TENANT_OBJECTS, colourDeployment, colourPodSelector, servicePodSelector, tenantNamespace, tenantPodSelector, type TenantChart,
} from '../kube-chart/tenant-chart';
import { abortSignal } from '../poll';
import { objectStatus } from './kubernetes-objects';
import {
  COLOURS,
  imageRef,
  otherColour,
  versionOf,
  type Colour,
  type ColourDeployInput,
  type ColourReadInput,
  type ColourRetireInput,
  type ColourState,
  type ColourStates,
  type KubernetesColourActivities,
  type ApplyResult,
  type CurrentWorkload,
  type DeployResult,
  type ReleaseTarget,
  type RolloutStatus,
  VERSION_VARIABLE,
  type WorkloadChange,
  type WorkloadObjectPreview,
  type WorkloadObjectStatus,
  type WorkloadPreview,
  type WorkloadSpec,
} from './types';

export type KubernetesRuntime = Extract<RuntimeSpec, { kind: 'kubernetes' }>;

/** Owns every field of the full apply (server-side apply). */
export const FIELD_MANAGER = 'tenant-fleet';
/**
 * Records who moved the image in a release or rollback. It is a plain patch, not an apply:
 * an apply by this manager would own only the image, and an apply by FIELD_MANAGER with only the
 * image would drop every other field FIELD_MANAGER owns. The next full apply (forced) takes the
 * image back with the same value, so the two never disagree.
 */
export const RELEASE_FIELD_MANAGER = 'tenant-fleet-release';
/** Marks namespaces this project created; deletion refuses any other. */
const MANAGED_BY = { key: 'app.kubernetes.io/managed-by', value: 'tenant-fleet' };

// Typed, so reordering the union in tenant-spec.ts is a compile error here rather than a wrong schema.
const kubernetesRuntimeSchema: z.ZodType<KubernetesRuntime> = runtimeSpecSchema.options[1];
const workloadSpecSchema = z.strictObject({
  tenantId: tenantIdSchema,
  image: z.string().regex(/^[^\s@]+$/, 'expected an image repository without a tag, such as "ghcr.io/acme/app"'),
  version: imageTagSchema,
  replicas: z.number().int().min(0).max(1000),
  config: z.record(z.string().regex(/^[-._a-zA-Z0-9]+$/, 'expected a ConfigMap key: letters, digits, "-", "_" or "."'), z.string()),
  appRoleArn: iamRoleArnSchema.optional(),
  port: z.number().int().min(1).max(65535).optional(),
  targetGroupArn: targetGroupArnSchema.optional(),
  securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]+$/, 'expected a security group ID such as "sg-0abc123"')).min(1).max(5).optional(),
  colour: z.enum(['blue', 'green']).optional(),
  // Services (docs/services.md): absent for a tenant without them, whose workload is as before.
  serviceName: z.string().optional(),
  command: z.array(z.string().min(1)).min(1).optional(),
  secrets: z.record(envVarNameSchema, z.string().regex(/^arn:aws[a-z-]*:(ssm|secretsmanager):/, 'expected the ARN of an SSM parameter or a Secrets Manager secret')).optional(),
  healthCheck: containerHealthCheckSchema.optional(),
  services: z
    .array(
      z.strictObject({
        name: serviceNameSchema,
        image: z.string().regex(/^[^\s@]+$/, 'expected an image repository without a tag, such as "ghcr.io/acme/worker"'),
        version: imageTagSchema,
        command: z.array(z.string().min(1)).min(1).optional(),
        config: z.record(z.string(), z.string()),
        secrets: z.record(envVarNameSchema, z.string()),
        replicas: z.number().int().min(0).max(1000),
        cpu: z.number().int().min(1),
        memory: z.number().int().min(1),
        healthCheck: containerHealthCheckSchema.optional(),
      }),
    )
    .optional(),
  releaseVersion: imageTagSchema.optional(),
  // ECS's fields, which a workload built for either runtime may carry; the chart ignores them.
  cpu: z.number().int().optional(),
  memory: z.number().int().optional(),
});
/** A release's target (types.ts ReleaseTarget): the primary first, each service's `repo:tag` and variable changes. */
const releaseTargetSchema = z.strictObject({
  version: imageTagSchema,
  services: z
    .array(z.strictObject({ name: serviceNameSchema, image: imageReferenceSchema, environment: z.record(envVarNameSchema, z.string().nullable()).optional() }))
    .min(1, 'expected at least the primary service'),
});
const serviceNamesSchema = z.array(serviceNameSchema).optional();
const tenantInputSchema = z.object({ runtime: kubernetesRuntimeSchema, tenantId: tenantIdSchema });
const applyInputSchema = z.object({ runtime: kubernetesRuntimeSchema, workload: workloadSpecSchema });
const setVersionInputSchema = tenantInputSchema.extend({ image: workloadSpecSchema.shape.image, version: imageTagSchema, target: releaseTargetSchema.optional() });
const waitInputSchema = tenantInputSchema.extend({ services: serviceNamesSchema, timeoutMs: z.number().int().min(1).optional() });
const colourSchema = z.enum(['blue', 'green']);
const currentInputSchema = tenantInputSchema.extend({ colour: colourSchema.optional(), services: serviceNamesSchema });
const deployColourInputSchema = tenantInputSchema.extend({
  image: workloadSpecSchema.shape.image,
  colour: colourSchema,
  version: imageTagSchema,
  replicas: workloadSpecSchema.shape.replicas,
  targetGroupArn: targetGroupArnSchema,
  timeoutMs: z.number().int().min(1).optional(),
});
const retireColourInputSchema = tenantInputSchema.extend({ colour: colourSchema, timeoutMs: z.number().int().min(1).optional() });

export interface KubernetesActivityDependencies {
  /** The fleet config's name for the cluster `kube` talks to; inputs naming another cluster are refused. */
  cluster: string;
  kube: KubeClient;
  chart: TenantChart;
}

/** The Kubernetes runtime's activities for one cluster, served on that cluster's own task queue. */
export function createKubernetesActivities({ cluster, kube, chart }: KubernetesActivityDependencies) {
  const where = `in Kubernetes cluster ${cluster}`;

  /** Validates an activity's input, and that it was routed to the worker of the cluster it names. */
  function accept<S extends z.ZodType>(schema: S, input: unknown, activity: string): z.output<S> {
    const parsed = parseOrFail(schema, input, `${activity} input`);
    const runtime = (parsed as { runtime: KubernetesRuntime }).runtime;
    if (runtime.cluster !== cluster) {
      throw permanentFailure(
        ErrorType.InvalidInput,
        `${activity}: runtime.cluster is "${runtime.cluster}" but this worker serves cluster "${cluster}" (task queue "${runtime.taskQueue}" is routed to the wrong worker; check kubernetesClusters[].taskQueue)`,
      );
    }
    return parsed;
  }

  const deploymentRef = (tenantId: string, colour?: Colour) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: colourDeployment(colour), namespace: tenantNamespace(tenantId) },
  });
  // The chart names a colour's binding as its Deployment.
  const bindingRef = (tenantId: string, colour?: Colour) => ({
    apiVersion: 'elbv2.k8s.aws/v1beta1',
    kind: 'TargetGroupBinding',
    metadata: { name: colourDeployment(colour), namespace: tenantNamespace(tenantId) },
  });
  /** A non-primary service's Deployment (docs/services.md): named after the service, as its container. */
  const serviceDeploymentRef = (tenantId: string, service: string) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: service, namespace: tenantNamespace(tenantId) },
  });
  const namespaceRef = (tenantId: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: tenantNamespace(tenantId) } });

  const readDeployment = (tenantId: string, colour?: Colour) => {
    const ref = deploymentRef(tenantId, colour);
    return kubeStep(`reading ${describe(ref)} ${where}`, () => kube.get<Deployment>(ref));
  };
  // The Deployment's generation changes exactly when its spec does: a stable revision for an unchanged workload.
  const revisionOf = (deployment: KubeObject) => `${describe(deployment)} generation ${deployment.metadata.generation ?? 0}`;

  /** Distinct reasons the tenant's containers are waiting (CrashLoopBackOff, ImagePullBackOff), for a failed rollout's message. */
  async function podProblems(tenantId: string, colour?: Colour, service?: string): Promise<string[]> {
    const whose = service !== undefined ? ` (service ${service})` : colour === 'green' ? ' (green)' : '';
    const pods = await kubeStep(`listing the pods of tenant ${tenantId}${whose} ${where}`, () =>
      kube.list<KubeObject & { status?: { containerStatuses?: { name: string; state?: { waiting?: { reason?: string } } }[] } }>('v1', 'Pod', tenantNamespace(tenantId), {
        // Blue's selector is the tenant's instance, which its services' pods carry too: only the primary's here.
        labelSelector: service !== undefined ? servicePodSelector(tenantId, service) : colour === 'green' ? colourPodSelector(tenantId, colour) : `${colourPodSelector(tenantId)},!${SERVICE_LABEL}`,
      }),
    );
    const reasons = pods.items.flatMap((pod) =>
      (pod.status?.containerStatuses ?? []).flatMap((c) => (c.state?.waiting?.reason ? [`container ${c.name}: ${c.state.waiting.reason}`] : [])),
    );
    return [...new Set(reasons)].sort();
  }

  async function renderChart(workload: WorkloadSpec): Promise<KubeObject[]> {
    try {
      return await chart.render(workload, abortSignal());
    } catch (error) {
      if (!(error instanceof ChartRenderError)) throw error;
      // A chart or values that do not render render the same on a retry; only an OCI pull may work later.
      if (error.retryable) throw new KubeTransientError(error.message, error);
      throw permanentFailure(ErrorType.InvalidInput, error.message, { cause: error });
    }
  }

  /** Refuses a kind this worker cannot apply (kube-client/resources.ts), before anything is written. */
  function checkKind(object: ObjectRef, source: string): void {
    try {
      objectPath(object);
    } catch (cause) {
      throw permanentFailure(ErrorType.InvalidInput, `${source}: ${(cause as Error).message}`, { cause });
    }
  }

  /**
   * The members of the tenant's ApplySet that `wanted` no longer holds: listed by the set's label
   * in the tenant's namespace only, and only those the fleet's field manager applied.
   */
  async function prunable(namespace: string, id: string, groupKinds: string[], wanted: Set<string>, keepGreen: boolean): Promise<ObjectRef[]> {
    const found: ObjectRef[] = [];
    for (const groupKind of groupKinds) {
      const apiVersion = apiVersionOf(groupKind);
      if (apiVersion === undefined) {
        throw permanentFailure(ErrorType.InvalidInput, `the ApplySet of ${namespace} ${where} lists kind ${groupKind}, which this worker cannot list to prune; expected a kind of kube-client/resources.ts`);
      }
      const kind = groupKind.split('.')[0]!;
      const listed = await kubeStep(`listing the ${groupKind} objects of ${namespace} ${where} (label ${APPLYSET.partOfLabel})`, () =>
        kube.list(apiVersion, kind, namespace, { labelSelector: `${APPLYSET.partOfLabel}=${id}` }),
      );
      for (const item of listed.items) {
        // A list's items carry no apiVersion and kind of their own.
        const ref = { apiVersion, kind, metadata: { name: item.metadata.name, namespace } };
        if (wanted.has(memberKey(ref)) || item.metadata.deletionTimestamp || !appliedBy(item, FIELD_MANAGER)) continue;
        // A blue/green release's green objects: theirs to keep or scale, whatever this apply rendered.
        if (keepGreen && item.metadata.labels?.[COLOUR_LABEL] === 'green') continue;
        found.push(ref);
      }
    }
    return found;
  }

  /** Deletes what `prunable` finds; true when anything was deleted. */
  async function prune(namespace: string, id: string, groupKinds: string[], wanted: Set<string>, keepGreen: boolean): Promise<boolean> {
    const stale = await prunable(namespace, id, groupKinds, wanted, keepGreen);
    for (const ref of stale) {
      await kubeStep(`pruning ${describe(ref)} ${where} (the tenant chart no longer renders it)`, () => kube.delete(ref, { propagationPolicy: 'Background' }));
    }
    return stale.length > 0;
  }

  /** The chart's objects for a workload, as members of the tenant's ApplySet, every kind checked: what an apply writes. */
  async function renderMembers(workload: WorkloadSpec): Promise<KubeObject[]> {
    const id = applySetId(tenantNamespace(workload.tenantId));
    const objects = (await renderChart(workload)).map((object) => asMember(object, id));
    const name = colourDeployment(workload.colour);
    if (!objects.some((o) => o.kind === 'Deployment' && o.metadata.name === name)) {
      const colour = workload.colour === 'green' ? ' (colour green: a chart for blue/green releases renders it when tenant.colour is "green", docs/releases.md)' : '';
      throw permanentFailure(ErrorType.InvalidInput, `tenant chart ${chart.description} rendered no Deployment "${name}" for tenant ${workload.tenantId}${colour}; the fleet releases and watches that Deployment (docs/helm.md)`);
    }
    // Every kind first: one this worker cannot apply fails before anything is written.
    for (const object of objects) checkKind(object, `tenant chart ${chart.description}`);
    return objects;
  }

  /** A colour's Deployment as it runs, with what a later apply must keep: its image, replicas and target group. */
  async function liveColour(tenantId: string, colour: Colour): Promise<{ deployment: Deployment; image: string; replicas: number; targetGroupArn?: string } | undefined> {
    const deployment = await readDeployment(tenantId, colour);
    const image = deployment && containerImage(deployment, TENANT_OBJECTS.container);
    if (!deployment || image === undefined) return undefined;
    const binding = await kubeStep(`reading ${describe(bindingRef(tenantId, colour))} ${where}`, () =>
      kube.get<KubeObject & { spec?: { targetGroupARN?: string } }>(bindingRef(tenantId, colour)),
    );
    const targetGroupArn = binding?.spec?.targetGroupARN;
    return { deployment, image, replicas: deployment.spec?.replicas ?? 1, ...(targetGroupArn ? { targetGroupArn } : {}) };
  }

  /**
   * What applying `workload` writes: the chart for its colour (absent: blue) with the workload's
   * version and replicas, and, when the other colour's Deployment exists (a blue/green release
   * made it), that colour's own objects rendered with the image, replicas and target group it
   * runs now, so provisioning brings chart and config changes to both colours and never moves
   * the idle (or retired) one's version or size. `keepGreen`: green was not rendered, so pruning
   * must leave objects labelled green alone.
   */
  async function renderWorkload(workload: WorkloadSpec): Promise<{ objects: KubeObject[]; keepGreen: boolean }> {
    const colour = workload.colour ?? 'blue';
    const other = otherColour(colour);
    const kept = await liveColour(workload.tenantId, other);
    let own = workload;
    if (workload.colour === undefined && kept && kept.replicas > 0) {
      // A caller that names no colour means blue; if a release retired blue (0 replicas) while green
      // serves, the version and size it passes are not blue's to take: blue stays retired as it runs.
      const blue = await liveColour(workload.tenantId, 'blue');
      if (blue && blue.replicas === 0) own = asRunning(workload, 'blue', blue);
    }
    const ownObjects = await renderMembers(own);
    if (!kept) return { objects: ownObjects, keepGreen: colour !== 'green' };
    const theirs = await renderMembers(asRunning(workload, other, kept));
    const ownKeys = new Set(ownObjects.map(memberKey));
    return { objects: inApplyOrder([...ownObjects, ...theirs.filter((o) => !ownKeys.has(memberKey(o)))]), keepGreen: false };
  }

  /**
   * One colour's own objects (its Deployment, Service, binding, ...): what the chart renders for
   * that colour and not for the other. The objects both colours share stay provisioning's.
   */
  async function colourObjects(workload: WorkloadSpec & { colour: Colour }): Promise<KubeObject[]> {
    const [own, other] = await Promise.all([renderMembers(workload), renderChart({ ...workload, colour: otherColour(workload.colour) })]);
    const shared = new Set(other.map(memberKey));
    return own.filter((o) => !shared.has(memberKey(o)));
  }

  /** Applies `object` (server-side, forced, as FIELD_MANAGER); whether its intent changed. */
  async function applyObject(object: KubeObject, tenantId: string): Promise<{ changed: boolean; after: KubeObject }> {
    const what = describe(object);
    const before = await kubeStep(`reading ${what} ${where}`, () => kube.get(object));
    if (object.kind === 'Namespace' && before?.metadata.deletionTimestamp) {
      // Objects cannot be created in a terminating namespace; once it is gone, a retry recreates everything.
      throw new KubeTransientError(`${what} ${where} is still being deleted (since ${timestamp(before.metadata.deletionTimestamp)}); tenant ${tenantId} can be applied once it is gone`);
    }
    const after = await kubeStep(`applying ${what} ${where} (server-side apply as ${FIELD_MANAGER})`, () => kube.apply(object, { fieldManager: FIELD_MANAGER, force: true }));
    return { changed: !before || !sameIntent(before, after), after };
  }

  /**
   * Follows a colour's rollout (or a non-primary service's, docs/services.md) until it is settled
   * (ready, or failed for good); a failure carries its pods' reasons.
   */
  async function followRollout(tenantId: string, colour: Colour | undefined, timeoutMs: number, service?: string): Promise<RolloutStatus> {
    const ref = service === undefined ? deploymentRef(tenantId, colour) : serviceDeploymentRef(tenantId, service);
    const what = `${describe(ref)} ${where}`;
    const judged = await kubeStep(`following the rollout of ${what}`, () =>
      followObject<Deployment, RolloutJudgement | undefined>(kube, {
        ref,
        what: `rollout of ${what}`,
        judge: (deployment) => deployment && judgeRollout(deployment),
        done: (state) => state === undefined || state.settled,
        timeoutMs,
        onTimeout: (state) => retryableFailure(ErrorType.Timeout, `rollout of ${what} not finished after ${timeoutMs} ms: waiting for ${state?.waitingFor ?? 'the Deployment'}`),
      }),
    );
    if (!judged) throw permanentFailure(ErrorType.ResourceNotFound, `${what} not found: provision tenant ${tenantId} before waiting for its rollout`);
    const { ready, updatedReplicas, readyReplicas, desiredReplicas } = judged;
    if (judged.failureReason === undefined) return { ready, updatedReplicas, readyReplicas, desiredReplicas };
    const problems = await podProblems(tenantId, colour, service);
    const failureReason = problems.length === 0 ? judged.failureReason : `${judged.failureReason} (${problems.join(', ')})`;
    return { ready, failureReason, updatedReplicas, readyReplicas, desiredReplicas };
  }

  /**
   * A release's target (docs/services.md): each service's Deployment (the primary's is "app") gets
   * its image, the target's variables (set as container env, which outranks the primary's
   * ConfigMap; a removed one is deleted from the env and from that ConfigMap) and
   * TENANT_FLEET_VERSION = target.version. Every Deployment is read before any is written, so a
   * service not provisioned yet fails the release with nothing moved. Each Deployment is patched
   * only where it differs, so a second run, or a retry after some were patched, writes only what
   * is still missing.
   */
  async function setTarget(tenantId: string, target: ReleaseTarget): Promise<ApplyResult> {
    const plans: { ref: ReturnType<typeof deploymentRef>; current: Deployment; container: string; service: string; image?: string; env: Record<string, unknown>[]; dropFromConfig: string[] }[] = [];
    for (const [index, service] of target.services.entries()) {
      const primary = index === 0;
      const ref = primary ? deploymentRef(tenantId) : serviceDeploymentRef(tenantId, service.name);
      const container = primary ? TENANT_OBJECTS.container : service.name;
      const current = await kubeStep(`reading ${describe(ref)} ${where}`, () => kube.get<Deployment>(ref));
      const running = current && containerImage(current, container);
      if (!current || running === undefined) {
        throw permanentFailure(
          ErrorType.ResourceNotFound,
          `tenant ${tenantId} has no ${current ? `container "${container}" in ${describe(ref)}` : describe(ref)} ${where} for its service ${service.name}: provision it first (tenantctl tenant provision ${tenantId}), then release`,
        );
      }
      const live = new Map(containerEnv(current, container).map((e) => [e.name, e]));
      const env: Record<string, unknown>[] = [];
      const variables: [string, string | null][] = [...Object.entries(service.environment ?? {}), [VERSION_VARIABLE, target.version]];
      for (const [name, value] of variables.sort(([a], [b]) => a.localeCompare(b))) {
        const entry = live.get(name);
        if (value === null) {
          if (entry) env.push({ name, $patch: 'delete' });
        } else if (!entry || entry.value !== value) {
          env.push({ name, value });
        }
      }
      const removed = variables.flatMap(([name, value]) => (value === null ? [name] : []));
      plans.push({ ref, current, container, service: service.name, ...(running !== service.image ? { image: service.image } : {}), env, dropFromConfig: primary ? removed : [] });
    }
    let changed = false;
    let revision = revisionOf(plans[0]!.current);
    for (const [index, plan] of plans.entries()) {
      if (plan.dropFromConfig.length > 0) {
        const configRef = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: TENANT_OBJECTS.configMap, namespace: tenantNamespace(tenantId) } };
        const config = await kubeStep(`reading ${describe(configRef)} ${where}`, () => kube.get<KubeObject & { data?: Record<string, string> }>(configRef));
        const present = plan.dropFromConfig.filter((name) => config?.data?.[name] !== undefined);
        if (present.length > 0) {
          await kubeStep(`removing ${present.join(', ')} from ${describe(configRef)} ${where} (the release removes them)`, () =>
            kube.patch(configRef, { data: Object.fromEntries(present.map((name) => [name, null])) }, { type: 'merge', fieldManager: RELEASE_FIELD_MANAGER }),
          );
          changed = true;
        }
      }
      if (plan.image === undefined && plan.env.length === 0) continue;
      const patch = {
        metadata: { resourceVersion: plan.current.metadata.resourceVersion },
        spec: { template: { spec: { containers: [{ name: plan.container, ...(plan.image ? { image: plan.image } : {}), ...(plan.env.length > 0 ? { env: plan.env } : {}) }] } } },
      };
      const what = [plan.image ? `image ${plan.image}` : '', plan.env.length > 0 ? `variables ${plan.env.map((e) => e.name as string).join(', ')}` : ''].filter(Boolean).join(' and ');
      const patched = await kubeStep(`setting the ${what} of ${describe(plan.ref)} (service ${plan.service}) ${where}`, () =>
        kube.patch(plan.ref, patch, { type: 'strategic-merge', fieldManager: RELEASE_FIELD_MANAGER }),
      );
      changed = true;
      if (index === 0) revision = revisionOf(patched);
    }
    return { changed, revision };
  }

  const activities = {
    /**
     * Renders the tenant chart (infra/helm/tenant, or the fleet config's tenantChart) with
     * `helm template`, server-side applies every object (field manager `tenant-fleet`, forced),
     * then prunes what an earlier apply made and the chart no longer renders (the tenant's
     * ApplySet, kube-chart/applyset.ts). `changed` compares each object before and after without
     * its status and server-kept metadata: a controller writing status between the read and the
     * apply bumps the resourceVersion without the workload having changed.
     */
    async k8sApplyWorkload(input: { runtime: KubernetesRuntime; workload: WorkloadSpec }): Promise<ApplyResult> {
      const { workload } = accept(applyInputSchema, input, 'k8sApplyWorkload');
      const namespace = tenantNamespace(workload.tenantId);
      const id = applySetId(namespace);
      const { objects, keepGreen } = await renderWorkload(workload);
      let changed = false;
      let deployment: KubeObject | undefined;
      const applyOne = async (object: KubeObject) => {
        const applied = await applyObject(object, workload.tenantId);
        if (applied.changed) changed = true;
        if (object.kind === 'Deployment' && object.metadata.name === colourDeployment(workload.colour)) deployment = applied.after;
      };

      // The namespace first: the ApplySet's parent lives in it.
      for (const object of objects) if (object.kind === 'Namespace') await applyOne(object);
      // The parent lists the kinds of this apply and of every earlier one before any member is
      // written, so an apply cut short still leaves a record of where to look when pruning.
      const parent = await kubeStep(`reading the ApplySet of tenant ${workload.tenantId} ${where}`, () => kube.get(applySetParent(namespace, [])));
      const recorded = recordedGroupKinds(parent);
      const current = [...new Set(memberKinds(objects))].sort();
      const lookIn = [...new Set([...recorded, ...current])].sort();
      const applied = recordable(workload);
      const writeParent = (kinds: string[]) =>
        kubeStep(`recording the ApplySet of tenant ${workload.tenantId} ${where} (kinds ${kinds.join(', ')})`, () =>
          kube.apply(applySetParent(namespace, kinds, applied), { fieldManager: FIELD_MANAGER, force: true }),
        );
      if (!parent || lookIn.join(',') !== recorded.join(',') || recordedWorkload(parent) !== applied) await writeParent(lookIn);
      for (const object of objects) if (object.kind !== 'Namespace') await applyOne(object);

      if (await prune(namespace, id, lookIn, new Set(objects.map(memberKey)), keepGreen)) changed = true;
      if (lookIn.join(',') !== current.join(',')) await writeParent(current);
      if (!deployment) throw permanentFailure(ErrorType.InvalidInput, `tenant chart ${chart.description} rendered no Deployment for tenant ${workload.tenantId}`);
      return { changed, revision: revisionOf(deployment) };
    },

    /**
     * Moves the app container to `image:version` and touches nothing else (but a TENANT_FLEET_VERSION
     * a release with a target left on it, which would outrank the tag in current()); no write when it
     * already runs that image. With a `target` (docs/services.md): every service's image and the
     * target's variables, and TENANT_FLEET_VERSION on every container (setTarget).
     */
    async k8sSetVersion(input: { runtime: KubernetesRuntime; tenantId: string; image: string; version: string; target?: ReleaseTarget }): Promise<ApplyResult> {
      const { tenantId, image, version, target } = accept(setVersionInputSchema, input, 'k8sSetVersion');
      if (target) return setTarget(tenantId, target);
      const ref = deploymentRef(tenantId);
      const current = await readDeployment(tenantId);
      if (!current) throw permanentFailure(ErrorType.ResourceNotFound, `${describe(ref)} not found ${where}: provision tenant ${tenantId} before releasing to it`);
      const running = containerImage(current, TENANT_OBJECTS.container);
      if (running === undefined) {
        throw permanentFailure(ErrorType.ResourceNotFound, `${describe(ref)} ${where} has no container "${TENANT_OBJECTS.container}"; expected the one from the tenant template`);
      }
      const wanted = imageRef({ image, version });
      const stale = containerEnv(current, TENANT_OBJECTS.container).some((e) => e.name === VERSION_VARIABLE);
      if (running === wanted && !stale) return { changed: false, revision: revisionOf(current) };
      const patch = {
        // A precondition: if someone changed the Deployment since we read it, the server answers 409 and the retry reads again.
        metadata: { resourceVersion: current.metadata.resourceVersion },
        spec: { template: { spec: { containers: [{ name: TENANT_OBJECTS.container, image: wanted, ...(stale ? { env: [{ name: VERSION_VARIABLE, $patch: 'delete' }] } : {}) }] } } },
      };
      const patched = await kubeStep(`setting the image of ${describe(ref)} ${where} from ${running} to ${wanted}${stale ? ` (removing ${VERSION_VARIABLE})` : ''}`, () =>
        kube.patch(ref, patch, { type: 'strategic-merge', fieldManager: RELEASE_FIELD_MANAGER }),
      );
      return { changed: true, revision: revisionOf(patched) };
    },

    /**
     * Waits, heartbeating, until the Deployment's latest generation is fully rolled out or has
     * exceeded its progress deadline. A failed rollout is returned (with the reason) so the
     * caller can roll back; only a wait that outlives `timeoutMs` throws.
     */
    async k8sWaitForRollout(input: { runtime: KubernetesRuntime; tenantId: string; services?: string[]; timeoutMs?: number }): Promise<RolloutStatus> {
      const { tenantId, services = [], timeoutMs = 15 * 60_000 } = accept(waitInputSchema, input, 'k8sWaitForRollout');
      const primary = await followRollout(tenantId, undefined, timeoutMs);
      if (services.length === 0) return primary;
      // Every service's Deployment too (docs/services.md): the first failure, named, fails the whole.
      const deadline = Date.now() + timeoutMs;
      const total = { ...primary };
      let failureReason = primary.failureReason;
      for (const service of services) {
        const status = await followRollout(tenantId, undefined, Math.max(1, deadline - Date.now()), service);
        total.ready &&= status.ready;
        total.updatedReplicas += status.updatedReplicas;
        total.readyReplicas += status.readyReplicas;
        total.desiredReplicas += status.desiredReplicas;
        if (failureReason === undefined && status.failureReason !== undefined) failureReason = `service ${service}: ${status.failureReason}`;
      }
      const { failureReason: _primary, ...counts } = total;
      return { ...counts, ...(failureReason === undefined ? {} : { failureReason }) };
    },

    /**
     * The version a colour runs; undefined when that colour has no Deployment. Without a colour:
     * the live one as Kubernetes alone shows it, green when it runs while blue is at 0 (a blue/green
     * release retired blue), else blue, the Deployment every tenant has. While both run (a
     * retention) that is blue: only the listener rule's weights tell which one users reach.
     */
    async k8sCurrentWorkload(input: { runtime: KubernetesRuntime; tenantId: string; colour?: Colour; services?: string[] }): Promise<CurrentWorkload | undefined> {
      const { tenantId, colour, services } = accept(currentInputSchema, input, 'k8sCurrentWorkload');
      let deployment = await readDeployment(tenantId, colour);
      if (colour === undefined && (deployment?.spec?.replicas ?? 1) === 0) {
        const green = await readDeployment(tenantId, 'green');
        if ((green?.spec?.replicas ?? 0) > 0) deployment = green;
      }
      const image = deployment && containerImage(deployment, TENANT_OBJECTS.container);
      if (!deployment || image === undefined) return undefined;
      // A release with a target records its version on every container: a manifest's images carry their own tags.
      const recorded = containerEnv(deployment, TENANT_OBJECTS.container).find((e) => e.name === VERSION_VARIABLE)?.value;
      const current: CurrentWorkload = { image, version: recorded ?? versionOf(image), revision: revisionOf(deployment) };
      if (services === undefined) return current;
      const running: Record<string, string> = {};
      for (const service of services) {
        const ref = serviceDeploymentRef(tenantId, service);
        const live = await kubeStep(`reading ${describe(ref)} ${where}`, () => kube.get<Deployment>(ref));
        const serviceImage = live && containerImage(live, service);
        if (serviceImage !== undefined) running[service] = serviceImage;
      }
      return { ...current, services: running };
    },

    /**
     * What k8sApplyWorkload would do with this workload, found without writing anything: the same
     * chart render, each object server-side applied by the same field manager with `dryRun=All`
     * (the API server runs defaulting, validation and admission, then persists nothing), compared
     * with the live object field by field; and the ApplySet members a prune would delete.
     */
    async k8sPreviewWorkload(input: { runtime: KubernetesRuntime; workload: WorkloadSpec }): Promise<WorkloadPreview> {
      const { runtime, workload } = accept(applyInputSchema, input, 'k8sPreviewWorkload');
      const namespace = tenantNamespace(workload.tenantId);
      const { objects, keepGreen } = await renderWorkload(workload);
      const base = { kind: 'kubernetes' as const, cluster: runtime.cluster, namespace };
      const live = await kubeStep(`reading ${describe(namespaceRef(workload.tenantId))} ${where}`, () => kube.get(namespaceRef(workload.tenantId)));
      if (!live) {
        // Nothing can be dry-run inside a namespace that does not exist: everything would be created.
        const created = objects.map((o) => ({ object: describe(o), action: 'create' as const }));
        return { ...base, state: 'absent', changes: created.map((o) => ({ object: o.object, field: '(object)', action: 'add' as const })), objects: created };
      }
      const previews: WorkloadObjectPreview[] = [];
      const changes: WorkloadChange[] = [];
      let deployment: KubeObject | undefined;
      for (const object of objects) {
        const what = describe(object);
        const before = await kubeStep(`reading ${what} ${where}`, () => kube.get(object));
        const after = await kubeStep(`dry-running the apply of ${what} ${where} (server-side apply as ${FIELD_MANAGER}, dryRun=All)`, () =>
          kube.apply(object, { fieldManager: FIELD_MANAGER, force: true, dryRun: true }),
        );
        if (object.kind === 'Deployment' && object.metadata.name === colourDeployment(workload.colour)) deployment = before;
        if (!before) {
          previews.push({ object: what, action: 'create' });
          changes.push({ object: what, field: '(object)', action: 'add' });
          continue;
        }
        const differences = objectChanges(what, before, after);
        previews.push(differences.length === 0 ? { object: what, action: 'unchanged' } : { object: what, action: 'modify', fields: differences.map((d) => d.field) });
        changes.push(...differences);
      }
      const parent = await kubeStep(`reading the ApplySet of tenant ${workload.tenantId} ${where}`, () => kube.get(applySetParent(namespace, [])));
      const lookIn = [...new Set([...recordedGroupKinds(parent), ...memberKinds(objects)])].sort();
      for (const ref of await prunable(namespace, applySetId(namespace), lookIn, new Set(objects.map(memberKey)), keepGreen)) {
        previews.push({ object: describe(ref), action: 'delete' });
        changes.push({ object: describe(ref), field: '(object)', action: 'remove' });
      }
      const state = previews.every((p) => p.action === 'unchanged') ? 'unchanged' : 'changes';
      return { ...base, state, ...(deployment ? { revision: revisionOf(deployment) } : {}), changes, objects: previews };
    },

    /**
     * The tenant's objects as they run: every member of its ApplySet (the kinds its parent
     * records) and its pods with their readiness. Read-only.
     */
    async k8sListWorkload(input: { runtime: KubernetesRuntime; tenantId: string }): Promise<{ namespace: string; exists: boolean; objects: WorkloadObjectStatus[] }> {
      const { tenantId } = accept(tenantInputSchema, input, 'k8sListWorkload');
      const namespace = tenantNamespace(tenantId);
      const live = await kubeStep(`reading ${describe(namespaceRef(tenantId))} ${where}`, () => kube.get(namespaceRef(tenantId)));
      if (!live) return { namespace, exists: false, objects: [] };
      const parent = await kubeStep(`reading the ApplySet of tenant ${tenantId} ${where}`, () => kube.get(applySetParent(namespace, [])));
      const objects: WorkloadObjectStatus[] = [];
      for (const groupKind of inApplyOrder(recordedGroupKinds(parent).flatMap((gk) => {
        const apiVersion = apiVersionOf(gk);
        return apiVersion === undefined ? [] : [{ apiVersion, kind: gk.split('.')[0]! }];
      }))) {
        const listed = await kubeStep(`listing the ${groupKind.kind} objects of ${namespace} ${where}`, () =>
          kube.list(groupKind.apiVersion, groupKind.kind, namespace, { labelSelector: `${APPLYSET.partOfLabel}=${applySetId(namespace)}` }),
        );
        for (const item of listed.items) objects.push(objectStatus({ ...item, apiVersion: groupKind.apiVersion, kind: groupKind.kind }, containerOf(item)));
      }
      const pods = await kubeStep(`listing the pods of tenant ${tenantId} ${where}`, () => kube.list('v1', 'Pod', namespace, { labelSelector: tenantPodSelector(tenantId) }));
      for (const pod of pods.items) objects.push(objectStatus({ ...pod, apiVersion: 'v1', kind: 'Pod' }, containerOf(pod)));
      return { namespace, exists: true, objects };
    },

    /**
     * Blue/green: deploys `version` into `colour`, scaled to `replicas` and bound to
     * `targetGroupArn` (that colour's group), and waits until the colour's rollout is settled.
     * The colour is rendered from the workload the last provisioning apply recorded (its config,
     * role, port, security groups), as ECS copies the live task definition, and only that colour's
     * own objects are applied (colourObjects), as members of the tenant's ApplySet; the objects
     * both colours share stay provisioning's. Ready means every pod of the colour is Ready, which
     * its target-health readiness gate allows only once its target is healthy in the colour's
     * group. A failed rollout is returned with its reason. Safe to run twice: a second run applies
     * the same objects (nothing changes) and waits again.
     */
    async k8sDeployColour(input: ColourDeployInput & { runtime: KubernetesRuntime }): Promise<DeployResult> {
      const { tenantId, image, colour, version, replicas, targetGroupArn, timeoutMs = 15 * 60_000 } = accept(deployColourInputSchema, input, 'k8sDeployColour');
      const namespace = tenantNamespace(tenantId);
      const live = await kubeStep(`reading ${describe(namespaceRef(tenantId))} ${where}`, () => kube.get(namespaceRef(tenantId)));
      if (!live || live.metadata.deletionTimestamp) {
        throw permanentFailure(ErrorType.ResourceNotFound, `${describe(namespaceRef(tenantId))} not found ${where}: provision tenant ${tenantId} before deploying its ${colour} colour`);
      }
      const parent = await kubeStep(`reading the ApplySet of tenant ${tenantId} ${where}`, () => kube.get(applySetParent(namespace, [])));
      const base = workloadRecordedIn(parent);
      if (!base) {
        throw permanentFailure(
          ErrorType.ResourceNotFound,
          `tenant ${tenantId} ${where} has no recorded workload (annotation ${APPLYSET.workloadAnnotation} on ConfigMap ${namespace}/${APPLYSET.parentName}: it was last provisioned before blue/green releases existed); provision it once (tenantctl tenant provision ${tenantId}) before its first blue/green release`,
        );
      }
      const objects = await colourObjects({ ...base, tenantId, image, version, replicas, colour, targetGroupArn });
      // The parent must list these kinds before they are written, as k8sApplyWorkload does.
      const recorded = recordedGroupKinds(parent);
      const kinds = [...new Set([...recorded, ...memberKinds(objects)])].sort();
      if (kinds.join(',') !== recorded.join(',')) {
        await kubeStep(`recording the ApplySet of tenant ${tenantId} ${where} (kinds ${kinds.join(', ')})`, () =>
          kube.apply(applySetParent(namespace, kinds, recordedWorkload(parent)), { fieldManager: FIELD_MANAGER, force: true }),
        );
      }
      let changed = false;
      for (const object of objects) if ((await applyObject(object, tenantId)).changed) changed = true;
      return { ...(await followRollout(tenantId, colour, timeoutMs)), changed };
    },

    /**
     * Blue/green: both colours as they run: version, replicas, and (beyond ColourState) rollout
     * state and the target group each is bound to. A colour without a Deployment does not exist. Read-only.
     */
    async k8sReadColours(input: ColourReadInput & { runtime: KubernetesRuntime }): Promise<ColourStates & Record<Colour, KubernetesColourState>> {
      const { tenantId } = accept(tenantInputSchema, input, 'k8sReadColours');
      const read = async (colour: Colour): Promise<KubernetesColourState> => {
        const running = await liveColour(tenantId, colour);
        if (!running) return { colour, exists: false, desiredReplicas: 0, readyReplicas: 0, updatedReplicas: 0, ready: false };
        const { ready, failureReason, updatedReplicas, readyReplicas, desiredReplicas } = judgeRollout(running.deployment);
        return {
          colour,
          exists: true,
          version: versionOf(running.image),
          image: running.image,
          revision: revisionOf(running.deployment),
          desiredReplicas,
          readyReplicas,
          updatedReplicas,
          ready,
          ...(failureReason === undefined ? {} : { failureReason }),
          ...(running.targetGroupArn === undefined ? {} : { targetGroupArn: running.targetGroupArn }),
        };
      };
      const [blue, green] = await Promise.all(COLOURS.map(read));
      return { blue: blue!, green: green! };
    },

    /**
     * Blue/green: scales a colour to 0 and waits until its pods are gone. Its Deployment, Service
     * and binding stay, so deploying it again is a scale-up, not a creation; a colour without a
     * Deployment is already retired. The count is a plain patch by RELEASE_FIELD_MANAGER, as
     * k8sSetVersion's image is, and the next provisioning apply keeps the 0 it finds
     * (renderWorkload). Safe to run twice.
     */
    async k8sRetireColour(input: ColourRetireInput & { runtime: KubernetesRuntime; timeoutMs?: number }): Promise<{ changed: boolean }> {
      const { tenantId, colour, timeoutMs = 10 * 60_000 } = accept(retireColourInputSchema, input, 'k8sRetireColour');
      const ref = deploymentRef(tenantId, colour);
      const what = `${describe(ref)} ${where}`;
      const current = await readDeployment(tenantId, colour);
      if (!current) return { changed: false };
      const changed = current.spec?.replicas !== 0;
      if (changed) {
        await kubeStep(`scaling ${what} from ${current.spec?.replicas ?? 1} to 0 replicas`, () =>
          kube.patch(ref, { spec: { replicas: 0 } }, { type: 'merge', fieldManager: RELEASE_FIELD_MANAGER }),
        );
      }
      // Scaled to 0, a Deployment keeps the condition of its last rollout (a broken one's
      // ProgressDeadlineExceeded too): only the count of its pods matters here.
      await kubeStep(`following ${what} down to 0 replicas`, () =>
        followObject<Deployment, { observed: boolean; replicas: number } | undefined>(kube, {
          ref,
          what: `${what} to scale down to 0`,
          judge: (deployment) =>
            deployment && { observed: (deployment.status?.observedGeneration ?? 0) >= (deployment.metadata.generation ?? 0), replicas: deployment.status?.replicas ?? 0 },
          done: (state) => state === undefined || (state.observed && state.replicas === 0),
          timeoutMs,
          onTimeout: (state) => retryableFailure(ErrorType.Timeout, `${what} still has ${state?.replicas ?? '?'} replicas ${timeoutMs} ms after being scaled to 0`),
        }),
      );
      return { changed };
    },

    /**
     * Deletes the tenant's namespace (and so everything in it) and waits until it is gone. A
     * retry finds it terminating and only waits; a missing namespace is `{ deleted: false }`.
     */
    async k8sDeleteWorkload(input: { runtime: KubernetesRuntime; tenantId: string }): Promise<{ deleted: boolean }> {
      const { tenantId } = accept(tenantInputSchema, input, 'k8sDeleteWorkload');
      const ref = namespaceRef(tenantId);
      const what = `${describe(ref)} ${where}`;
      const existing = await kubeStep(`reading ${what}`, () => kube.get(ref));
      if (!existing) return { deleted: false };
      const owner = existing.metadata.labels?.[MANAGED_BY.key];
      if (owner !== MANAGED_BY.value) {
        throw permanentFailure(
          ErrorType.InvalidInput,
          `${what} is not managed by tenant-fleet (label ${MANAGED_BY.key} is ${JSON.stringify(owner ?? null)}, expected "${MANAGED_BY.value}"); refusing to delete it`,
        );
      }
      if (!existing.metadata.deletionTimestamp) {
        await kubeStep(`deleting ${what}`, () => kube.delete(ref, { propagationPolicy: 'Background' }));
      }
      await kubeStep(`following the deletion of ${what}`, () =>
        followObject<KubeObject & { status?: { phase?: string; conditions?: unknown[] } }, { phase: string; conditions: unknown[] } | undefined>(kube, {
          ref,
          what: `${what} to be deleted`,
          judge: (namespace) => namespace && { phase: namespace.status?.phase ?? 'unknown', conditions: namespace.status?.conditions ?? [] },
          done: (status) => status === undefined,
          timeoutMs: 10 * 60_000,
          onTimeout: (status) => retryableFailure(ErrorType.Timeout, `${what} still terminating after 10 minutes: ${JSON.stringify(status)}`),
        }),
      );
      return { deleted: true };
    },
  };
  return {
    ...activities,
    /**
     * A release's deploy in one activity: set the version, then follow its rollout. Safe to
     * retry as a whole: the set writes only when the image differs, so a retry only waits again.
     */
    async k8sDeployVersion(input: { runtime: KubernetesRuntime; tenantId: string; image: string; version: string; target?: ReleaseTarget; timeoutMs?: number }): Promise<DeployResult> {
      const { runtime, tenantId, image, version, target, timeoutMs } = input;
      const { changed } = await activities.k8sSetVersion({ runtime, tenantId, image, version, ...(target ? { target } : {}) });
      // The target names every service, the primary first: the others' rollouts are waited for too.
      const services = target && target.services.length > 1 ? { services: target.services.slice(1).map((s) => s.name) } : {};
      return { ...(await activities.k8sWaitForRollout({ runtime, tenantId, ...services, ...(timeoutMs !== undefined ? { timeoutMs } : {}) })), changed };
    },
  };
}

export type KubernetesActivities = ReturnType<typeof createKubernetesActivities>;
// The workflows call the colour activities through types.ts's KubernetesColourActivities: a drift is a compile error here.
const _colourActivitiesFit = (activities: KubernetesActivities): KubernetesColourActivities => activities;

/** One colour of a Kubernetes tenant as k8sReadColours reads it: ColourState and its rollout. */
export interface KubernetesColourState extends ColourState, RolloutStatus {
  image?: string;
  revision?: string;
  /** The target group its TargetGroupBinding registers it in. */
  targetGroupArn?: string;
}

/** `workload` for `colour` with the image, replicas and target group that colour runs now (the rest, config and all, from `workload`). */
function asRunning(workload: WorkloadSpec, colour: Colour, running: { image: string; replicas: number; targetGroupArn?: string }): WorkloadSpec {
  const tag = running.image.lastIndexOf(':') > running.image.lastIndexOf('/') ? running.image.lastIndexOf(':') : running.image.length;
  const { targetGroupArn: _workloadGroup, ...rest } = workload;
  return {
    ...rest,
    colour,
    image: running.image.slice(0, tag),
    version: versionOf(running.image),
    replicas: running.replicas,
    ...(running.targetGroupArn ? { targetGroupArn: running.targetGroupArn } : {}),
  };
}

/** The workload a provisioning apply records on the ApplySet's parent: stable JSON, config sorted. */
function recordable(workload: WorkloadSpec): string {
  return JSON.stringify({ ...workload, config: Object.fromEntries(Object.entries(workload.config).sort(([a], [b]) => a.localeCompare(b))) });
}

const recordedWorkload = (parent: KubeObject | undefined) => parent?.metadata.annotations?.[APPLYSET.workloadAnnotation];

/** The recorded workload, if there is one the schema accepts (a hand-edited one is treated as none). */
function workloadRecordedIn(parent: KubeObject | undefined): WorkloadSpec | undefined {
  const text = recordedWorkload(parent);
  if (text === undefined) return undefined;
  try {
    const parsed = workloadSpecSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** A container's env as the Deployment runs it (the chart's, and a release's patches). */
function containerEnv(deployment: Deployment, container: string): { name: string; value?: string }[] {
  return deployment.spec?.template?.spec?.containers?.find((c) => c.name === container)?.env ?? [];
}

/** The container `tenantctl tenant resources` shows for an object: a service's own (docs/services.md), else the app's. */
const containerOf = (object: KubeObject) => object.metadata.labels?.[SERVICE_LABEL] ?? TENANT_OBJECTS.container;

/** Whether an apply left the object's intent as it was (kube-client/object-diff.ts). */
const sameIntent = (before: KubeObject, after: KubeObject) => JSON.stringify(intentOf(before)) === JSON.stringify(intentOf(after));

/** The official client hands timestamps over as Dates; messages show them as the server wrote them. */
function timestamp(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : value;
}
