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
  version: string;
  revision: string;
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
