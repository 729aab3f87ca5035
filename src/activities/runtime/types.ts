import type { RuntimeSpec } from '../../shared/tenant-spec';

/**
 * What a tenant workload should look like, independent of where it runs. The Kubernetes
 * and ECS activities each implement apply / wait / read / delete over this shape.
 */
export interface WorkloadSpec {
  tenantId: string;
  /** Repository without tag, e.g. `ghcr.io/acme/app`. */
  image: string;
  version: string;
  replicas: number;
  /** Non-secret configuration (SSM values), exposed to the app as environment variables. */
  config: Record<string, string>;
  /** The tenant's application role from its stack (IRSA / Pod Identity on Kubernetes, task role on ECS). */
  appRoleArn?: string;
  port?: number;
  /**
   * The load balancer's target group for this tenant (the traffic stack's TargetGroupArn): ECS
   * registers the service's tasks with it, Kubernetes binds the Service to it.
   */
  targetGroupArn?: string;
  /** Blue/green: the colour slot this workload is (absent = blue, every object made before blue/green). */
  colour?: Colour;
  /**
   * The tenant's own security groups, the first being the workload group its database admits (the
   * traffic stack's): ECS runs the tasks in them beside the cluster's groups; Kubernetes (security
   * groups for pods) gives the pods exactly these through a SecurityGroupPolicy.
   */
  securityGroupIds?: string[];
  /** ECS: the task execution role and awslogs log group (traffic stack outputs), and the task size. */
  executionRoleArn?: string;
  logGroupName?: string;
  cpu?: number;
  memory?: number;
  /**
   * Services (docs/services.md), set only for a tenant whose config declares them: this workload
   * is the primary service (`serviceName`), with its own command, secrets and container health
   * check; `services` are the others, each its own ECS service (`tenant-<id>-<name>`) or
   * Kubernetes Deployment (`<name>`), sharing the tenant's role, groups and configuration.
   */
  serviceName?: string;
  command?: string[];
  /** Environment variable → ARN of an SSM parameter or a Secrets Manager secret: the runtime resolves it when a container starts; the worker never reads a value. */
  secrets?: Record<string, string>;
  healthCheck?: ContainerHealthCheck;
  services?: ServiceWorkload[];
  /**
   * The release version when it is not the primary's image tag (a manifest's images carry their own
   * tags): the containers get it as TENANT_FLEET_VERSION, which `current()` reads before the tag.
   */
  releaseVersion?: string;
}

/** A service's container-level health check (config/services.ts `containerHealthCheckSchema`). */
export interface ContainerHealthCheck {
  command: string[];
  intervalSeconds: number;
  timeoutSeconds: number;
  retries: number;
  startPeriodSeconds: number;
}

/** One of a tenant's services other than the primary: no load balancer, no colours. */
export interface ServiceWorkload {
  name: string;
  /** Repository without tag, and the tag it runs (from the release's manifest, else the version). */
  image: string;
  version: string;
  command?: string[];
  /** The tenant's configuration with the service's own environment over it. */
  config: Record<string, string>;
  secrets: Record<string, string>;
  replicas: number;
  cpu: number;
  memory: number;
  healthCheck?: ContainerHealthCheck;
}

/** Where a release's version is recorded on each container when the primary's tag is not it. */
export const VERSION_VARIABLE = 'TENANT_FLEET_VERSION';

/** What a release sets on one service: its image and the manifest's configuration changes. */
export interface ServiceTarget {
  name: string;
  /** `repo:tag`. */
  image: string;
  /** Variables the manifest sets for this service, or removes (null), over its configuration. */
  environment?: Record<string, string | null>;
}

/**
 * A release on a tenant with services or from a manifest (docs/services.md): every service's
 * target, the primary first. A runtime given one sets each service's image and variables, and
 * VERSION_VARIABLE to `version` on every container; without one it sets the primary's tag only.
 */
export interface ReleaseTarget {
  version: string;
  services: ServiceTarget[];
}

export interface ApplyResult {
  /** False when the live workload already matched: nothing was written. */
  changed: boolean;
  revision: string;
}

export interface RolloutStatus {
  ready: boolean;
  /** Set when the rollout can no longer succeed: crash loop, circuit breaker, progress deadline. */
  failureReason?: string;
  updatedReplicas: number;
  readyReplicas: number;
  desiredReplicas: number;
}

/** A deploy's rollout, and whether setting the version wrote anything. */
export type DeployResult = RolloutStatus & { changed: boolean };

export interface CurrentWorkload {
  image: string;
  /** The primary's VERSION_VARIABLE when set, else its image tag. */
  version: string;
  revision: string;
  /** On a tenant with services: each service's running `repo:tag`, by name (absent for one not created yet). */
  services?: Record<string, string>;
}

/** One difference between the live workload and what provisioning would apply. */
export interface WorkloadChange {
  /** `task definition tenant-acme:3`, `service tenant-acme`, `Deployment tenant-acme/app`. */
  object: string;
  /** The field, as a path (`image`, `environment.DATABASE_HOST`, `spec.replicas`). */
  field: string;
  action: 'add' | 'modify' | 'remove';
  before?: unknown;
  after?: unknown;
}

/** Kubernetes: what applying the chart would do to one object (found by a server-side dry run). */
export interface WorkloadObjectPreview {
  /** `Deployment tenant-acme/app`. */
  object: string;
  /** `delete`: an earlier apply made it and the chart no longer renders it, so the apply's prune deletes it. */
  action: 'create' | 'modify' | 'unchanged' | 'delete';
  /** For `modify`: the changed fields, as paths. */
  fields?: string[];
}

/** A runtime object as `tenantctl tenant resources` lists it. */
export interface WorkloadObjectStatus {
  kind: string;
  name: string;
  /** One line: desired/running counts, rollout state, readiness. */
  status: string;
  /** ECS: the task definition; Kubernetes: the image, the target group. */
  detail?: string;
}

/** What provisioning would change in a tenant's workload; nothing is written to find out. */
export interface WorkloadPreview {
  kind: 'ecs' | 'kubernetes';
  /** `absent`: no workload yet, provisioning creates it. */
  state: 'absent' | 'unchanged' | 'changes';
  /** ECS: the service's current task definition; Kubernetes: the Deployment's generation. */
  revision?: string;
  cluster?: string;
  service?: string;
  namespace?: string;
  changes: WorkloadChange[];
  /** Kubernetes: every object the chart renders, and those a prune would delete. */
  objects?: WorkloadObjectPreview[];
}

export const imageRef = (spec: Pick<WorkloadSpec, 'image' | 'version'>) => `${spec.image}:${spec.version}`;

export function versionOf(imageReference: string): string {
  const lastColon = imageReference.lastIndexOf(':');
  return lastColon > imageReference.lastIndexOf('/') ? imageReference.slice(lastColon + 1) : 'latest';
}

/**
 * Blue/green releases (docs/releases.md, "Blue/green"): each tenant with a load balancer has two
 * fixed colour slots. The slot every tenant had before is `blue` (ECS service `tenant-<id>`, the
 * chart's Deployment, the traffic stack's TargetGroup); `green` is the second one (ECS service
 * `tenant-<id>-green`, Deployment `<name>-green`, GreenTargetGroup). A release deploys into the
 * idle slot, so the live colour alternates from release to release.
 */
export type Colour = 'blue' | 'green';

export const COLOURS: readonly Colour[] = ['blue', 'green'];

export const otherColour = (colour: Colour): Colour => (colour === 'blue' ? 'green' : 'blue');

/** The listener rule's forward weights, in percent of the tenant's traffic (they sum to 100). */
export interface TrafficWeights {
  blue: number;
  green: number;
}

/** One colour slot as a runtime sees it. */
export interface ColourState {
  colour: Colour;
  /** False when the slot's service / Deployment does not exist (green before its first release). */
  exists: boolean;
  /** The image tag it runs (or would run when scaled up); absent when it does not exist. */
  version?: string;
  desiredReplicas: number;
  readyReplicas: number;
}

export type ColourStates = Record<Colour, ColourState>;

/**
 * Deploy `version` into `colour`, registered with `targetGroupArn` (that colour's group), scaled
 * to `replicas`; the activity waits until the rollout is ready AND every target is healthy in the
 * group, and returns a failed rollout rather than throwing. Idempotent: a retry finds what an
 * earlier attempt created (the green service / Deployment) and only waits again.
 */
export interface ColourDeployInput {
  tenantId: string;
  image: string;
  colour: Colour;
  version: string;
  replicas: number;
  targetGroupArn: string;
  timeoutMs?: number;
}

/** Scale `colour` to 0 and keep its object, so a switch back within the retention is instant. */
export interface ColourRetireInput {
  tenantId: string;
  colour: Colour;
}

export interface ColourReadInput {
  tenantId: string;
}

/**
 * The colour activities each runtime implements (ECS: runtime/ecs-colours.ts; Kubernetes: its own
 * module, on the cluster's task queue), each taking the tenant spec's runtime beside its input.
 * `deploy` returns `ready: false` with a `failureReason` when the colour cannot become healthy.
 */
export interface EcsColourActivities {
  ecsDeployColour(input: ColourDeployInput & { runtime: Extract<RuntimeSpec, { kind: 'ecs' }> }): Promise<DeployResult>;
  ecsReadColours(input: ColourReadInput & { runtime: Extract<RuntimeSpec, { kind: 'ecs' }> }): Promise<ColourStates>;
  ecsRetireColour(input: ColourRetireInput & { runtime: Extract<RuntimeSpec, { kind: 'ecs' }> }): Promise<{ changed: boolean }>;
}

export interface KubernetesColourActivities {
  k8sDeployColour(input: ColourDeployInput & { runtime: Extract<RuntimeSpec, { kind: 'kubernetes' }> }): Promise<DeployResult>;
  k8sReadColours(input: ColourReadInput & { runtime: Extract<RuntimeSpec, { kind: 'kubernetes' }> }): Promise<ColourStates>;
  k8sRetireColour(input: ColourRetireInput & { runtime: Extract<RuntimeSpec, { kind: 'kubernetes' }> }): Promise<{ changed: boolean }>;
}
