import { z } from 'zod';
import { resolvedServiceSchema } from './config/services';
import { awsAccountIdSchema, awsRegionSchema, hostnameSchema, iamRoleArnSchema, tenantIdSchema } from './ids';

/** Where an AWS call goes: the account's fleet access role and a region. No credentials, ever. */
export const awsTargetSchema = z.strictObject({
  accountId: awsAccountIdSchema,
  roleArn: iamRoleArnSchema,
  externalId: z.string().min(2),
  region: awsRegionSchema,
  /** The account's CloudFormation execution role (accounts[].stackRoleArn); absent in histories recorded before it existed. */
  stackRoleArn: iamRoleArnSchema.optional(),
});
export type AwsTarget = z.infer<typeof awsTargetSchema>;

export const runtimeSpecSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('ecs'),
    cluster: z.string().min(1),
    clusterName: z.string().min(1),
    aws: awsTargetSchema,
    subnetIds: z.array(z.string()).min(1),
    securityGroupIds: z.array(z.string()),
  }),
  z.strictObject({
    kind: z.literal('kubernetes'),
    cluster: z.string().min(1),
    /** Activities for this cluster run on the cluster's own task queue. */
    taskQueue: z.string().min(1),
    /** The cluster's OIDC issuer URL, which the tenant's app role trusts (IRSA); absent in histories recorded before it existed. */
    oidcIssuer: z.string().min(1).optional(),
    /**
     * Set when the cluster gives pods security groups (fleet config securityGroupsForPods): the
     * groups the tenant's pods get besides its workload security group; absent otherwise and in
     * histories recorded before it existed.
     */
    podSecurityGroupIds: z.array(z.string()).optional(),
  }),
]);
export type RuntimeSpec = z.infer<typeof runtimeSpecSchema>;

/**
 * Everything a workflow needs to know about one tenant, resolved from the fleet config by
 * the client and recorded in history, so a workflow never reads config files itself.
 */
export const tenantSpecSchema = z.strictObject({
  id: tenantIdSchema,
  environment: z.string().min(1),
  production: z.boolean(),
  tier: z.string().min(1),
  aws: awsTargetSchema,
  network: z.strictObject({ vpcId: z.string().min(1), subnetIds: z.array(z.string()).min(2) }),
  hostedZoneId: z.string().optional(),
  runtime: runtimeSpecSchema,
  hostnames: z.array(hostnameSchema).min(1),
  database: z.strictObject({
    instanceClass: z.string().min(1),
    engineVersion: z.string().min(1),
    backupRetentionDays: z.number().int().min(1).max(35),
  }),
  image: z.string().min(1),
  replicas: z.number().int().min(1),
  loadBalancer: z
    .strictObject({
      name: z.string(),
      listenerArn: z.string(),
      /** Blue/green's test listener (fleet config loadBalancers[].testListenerArn); absent without one and in older histories. */
      testListenerArn: z.string().optional(),
      dnsName: hostnameSchema,
      aws: awsTargetSchema,
      /** The load balancer's VPC (its target groups'); absent in histories recorded before tenants got traffic. */
      vpcId: z.string().optional(),
    })
    .optional(),
  /**
   * The VPC the workload runs in, where the tenant's traffic stack makes its workload security group,
   * the one its database admits (docs/decisions.md): ECS tenants and Kubernetes tenants on clusters
   * with security groups for pods, when they have a load balancer. Absent otherwise and in
   * histories recorded before it existed.
   */
  workloadVpcId: z.string().optional(),
  /** Port, health check, draining and task size (fleet config `tenants[].service`); absent in older histories. */
  service: z
    .strictObject({
      port: z.number().int(),
      healthCheck: z.strictObject({
        path: z.string(),
        intervalSeconds: z.number().int(),
        timeoutSeconds: z.number().int(),
        healthyThreshold: z.number().int(),
        unhealthyThreshold: z.number().int(),
      }),
      deregistrationDelaySeconds: z.number().int(),
      cpu: z.number().int(),
      memory: z.number().int(),
      logRetentionDays: z.number().int(),
    })
    .optional(),
  /**
   * The tenant's named services (docs/services.md), the primary first (config/services.ts
   * `primaryServiceOf`); absent for a tenant that runs its one default service from `image`,
   * `replicas` and `service`, and in histories recorded before services existed.
   */
  services: z.array(resolvedServiceSchema).optional(),
  healthCheckUrl: z.string().optional(),
  alarmNames: z.array(z.string()),
  /** How many pre-release snapshots of this tenant to keep, and for how long (fleet config `snapshots.preRelease`). */
  snapshotRetention: z.strictObject({ keep: z.number().int().min(1), maxAgeMs: z.number().int().min(1) }).optional(),
});
export type TenantSpec = z.infer<typeof tenantSpecSchema>;
