import type { DnsRecordsInput } from '../activities/route53';
import type { ReleaseTarget, ServiceWorkload, TrafficWeights, WorkloadSpec } from '../activities/runtime/types';
import { splitImageReference } from '../shared/release/manifest';
import { serviceSchema } from '../shared/config/service';
import { DEFAULT_SERVICE_NAME, primaryServiceOf, type ResolvedService } from '../shared/config/services';
import { ErrorType, permanentFailure } from '../shared/errors';
import { loadBalancerFullName } from '../shared/rule-priority';
import type { TenantSpec } from '../shared/tenant-spec';

/**
 * The tenant stack's parameters (infra/cloudformation/tenant.yaml), derived from the tenant spec,
 * and the workload security group its database admits from the traffic stack's outputs.
 */
export function stackParametersFor(
  tenant: TenantSpec,
  overrides: { deletionProtection?: boolean; databaseRestoredFrom?: string } = {},
  trafficOutputs: Record<string, string> = {},
): Record<string, string> {
  return {
    TenantId: tenant.id,
    Environment: tenant.environment,
    Production: String(tenant.production),
    DeletionProtection: String(overrides.deletionProtection ?? tenant.production),
    Runtime: tenant.runtime.kind,
    VpcId: tenant.network.vpcId,
    SubnetIds: tenant.network.subnetIds.join(','),
    DatabaseInstanceClass: tenant.database.instanceClass,
    DatabaseEngineVersion: tenant.database.engineVersion,
    BackupRetentionDays: String(tenant.database.backupRetentionDays),
    // IRSA: the app role trusts the cluster's OIDC provider, which IAM names by the issuer without its scheme.
    ...(tenant.runtime.kind === 'kubernetes' && tenant.runtime.oidcIssuer ? { OidcProvider: tenant.runtime.oidcIssuer.replace(/^https:\/\//, '') } : {}),
    ...(overrides.databaseRestoredFrom ? { DatabaseRestoredFrom: overrides.databaseRestoredFrom } : {}),
    ...(trafficOutputs.WorkloadSecurityGroupId
      ? { WorkloadSecurityGroupId: trafficOutputs.WorkloadSecurityGroupId, WorkloadSecurityGroupOwnerId: trafficOutputs.WorkloadSecurityGroupOwnerId ?? '' }
      : {}),
  };
}

/**
 * Parameters a redeploy of the tenant stack that does not read the traffic stack (a restore,
 * deletion protection off) keeps at the stack's current values, so the database keeps admitting
 * the tenant's workload.
 */
export const KEPT_STACK_PARAMETERS = ['WorkloadSecurityGroupId', 'WorkloadSecurityGroupOwnerId'];

/** Provisioning deploys the traffic stack (which makes the workload security group) before the tenant stack. */
export const WORKLOAD_GROUP_PATCH = 'tenant-workload-security-group';

/** What the application sees: references to its resources, never a secret value. */
export function workloadConfigFrom(tenant: TenantSpec, outputs: Record<string, string>): Record<string, string> {
  const config: Record<string, string> = {
    TENANT_ID: tenant.id,
    TENANT_ENVIRONMENT: tenant.environment,
    AWS_REGION: tenant.aws.region,
    PARAMETER_PREFIX: outputs.ParameterPrefix ?? `/tenant-fleet/${tenant.id}/`,
  };
  if (outputs.DatabaseEndpoint) config.DATABASE_HOST = outputs.DatabaseEndpoint;
  if (outputs.DatabasePort) config.DATABASE_PORT = outputs.DatabasePort;
  if (outputs.DatabaseSecretArn) config.DATABASE_SECRET_ARN = outputs.DatabaseSecretArn;
  if (outputs.BucketName) config.BUCKET_NAME = outputs.BucketName;
  return config;
}

/** CNAMEs from each hostname to the tenant's load balancer, when both a zone and a load balancer exist. */
export function dnsRecordsFor(tenant: TenantSpec): DnsRecordsInput | undefined {
  if (!tenant.hostedZoneId || !tenant.loadBalancer) return undefined;
  const target = tenant.loadBalancer.dnsName;
  return {
    target: tenant.aws,
    hostedZoneId: tenant.hostedZoneId,
    records: tenant.hostnames.map((name) => ({ name, type: 'CNAME', value: target, ttl: 300 })),
  };
}

/** Tags on the tenant stack (CloudFormation propagates them to the resources). */
export function stackTagsFor(tenant: TenantSpec): Record<string, string> {
  return { TenantId: tenant.id, Environment: tenant.environment, ManagedBy: 'tenant-fleet' };
}

/** Tenants with a load balancer get a traffic stack (target group, listener rule, alarms) before their workload. */
export const TRAFFIC_STACK_PATCH = 'tenant-traffic-stack';
/** Tenants whose load balancer has a test listener: the traffic stack keeps the rule's current weights when updated. */
export const BLUE_GREEN_TRAFFIC_PATCH = 'tenant-traffic-blue-green';

/**
 * The tenant's traffic stack (infra/cloudformation/tenant-traffic.yaml) lives in its load balancer's
 * account and region. Tenant IDs are lowercase, so the capital T keeps the name from ever meeting another
 * tenant's stack (a tenant "acme-traffic"), and the target group name CloudFormation derives from it stays
 * valid (no "--").
 */
export const trafficStackNameFor = (tenantId: string) => `tenant-${tenantId}-Traffic`;

/**
 * What a tenant spec recorded before `service` existed gets: the fleet config's defaults, read
 * from its schema (an empty `service` parsed) so the two cannot drift apart.
 */
export const DEFAULT_SERVICE: NonNullable<TenantSpec['service']> = serviceSchema.parse({});

export const serviceOf = (tenant: TenantSpec) => tenant.service ?? DEFAULT_SERVICE;

/** The traffic stack's parameters; `rulePriority` is allocated once and then read back from the stack. */
export function trafficStackParametersFor(
  tenant: TenantSpec,
  lb: NonNullable<TenantSpec['loadBalancer']>,
  rulePriority: number,
  /** With a test listener: the rule's current weights, so a stack update never moves traffic (default: all on blue). */
  weights: TrafficWeights = { blue: 100, green: 0 },
): Record<string, string> {
  const service = serviceOf(tenant);
  if (!lb.vpcId) {
    throw permanentFailure(ErrorType.InvalidInput, `tenant ${tenant.id}: load balancer ${lb.name} has no VPC in the tenant spec; set accounts[].network.${lb.aws.region} for its account in the fleet config and start again`);
  }
  return {
    TenantId: tenant.id,
    Runtime: tenant.runtime.kind,
    ListenerArn: lb.listenerArn,
    LoadBalancerFullName: loadBalancerFullName(lb.listenerArn),
    VpcId: lb.vpcId,
    Hostnames: tenant.hostnames.join(','),
    RulePriority: String(rulePriority),
    TargetPort: String(service.port),
    HealthCheckPath: service.healthCheck.path,
    HealthCheckIntervalSeconds: String(service.healthCheck.intervalSeconds),
    HealthCheckTimeoutSeconds: String(service.healthCheck.timeoutSeconds),
    HealthyThresholdCount: String(service.healthCheck.healthyThreshold),
    UnhealthyThresholdCount: String(service.healthCheck.unhealthyThreshold),
    DeregistrationDelaySeconds: String(service.deregistrationDelaySeconds),
    LogRetentionDays: String(service.logRetentionDays),
    ...(tenant.workloadVpcId ? { WorkloadVpcId: tenant.workloadVpcId } : {}),
    // Blue/green's green slot and test route, for tenants whose load balancer has a test listener.
    ...(lb.testListenerArn
      ? { BlueGreen: 'true', TestListenerArn: lb.testListenerArn, BlueWeight: String(weights.blue), GreenWeight: String(weights.green) }
      : {}),
  };
}

/**
 * The workload provisioning applies: the tenant's image at `version`, its configuration from the
 * tenant stack's outputs, and, once it has a traffic stack, that stack's target group (and for ECS
 * the execution role, log group and task size). Also what `tenantctl tenant diff` compares against.
 * A tenant with services (docs/services.md), or one whose recorded release came with a manifest
 * (`release`), gets each service's image, command, variables and secrets too.
 */
export function workloadSpecFor(
  tenant: TenantSpec,
  { version, stackOutputs, trafficOutputs, release }: { version: string; stackOutputs: Record<string, string>; trafficOutputs: Record<string, string>; release?: ReleaseTarget },
): WorkloadSpec {
  const config = workloadConfigFrom(tenant, stackOutputs);
  const workload: WorkloadSpec = {
    tenantId: tenant.id,
    image: tenant.image,
    version,
    replicas: tenant.replicas,
    config,
    appRoleArn: stackOutputs.AppRoleArn,
    ...(trafficOutputs.TargetGroupArn ? trafficWorkloadFields(tenant, trafficOutputs) : {}),
  };
  if (!tenant.services && !release) return workload;
  const services: ResolvedService[] = tenant.services ?? [
    { name: DEFAULT_SERVICE_NAME, image: tenant.image, environment: {}, secrets: {}, cpu: serviceOf(tenant).cpu, memory: serviceOf(tenant).memory, replicas: tenant.replicas, traffic: true },
  ];
  const primary = primaryServiceOf(services);
  const running = (service: ResolvedService) => {
    const target = release?.services.find((s) => s.name === service.name);
    const running = target ? splitImageReference(target.image) : { image: service.image, version };
    const environment: Record<string, string> = { ...config, ...service.environment };
    for (const [variable, value] of Object.entries(target?.environment ?? {})) {
      if (value === null) delete environment[variable];
      else environment[variable] = value;
    }
    return { ...running, config: environment };
  };
  const others = services.filter((s) => s !== primary).map(
    (service): ServiceWorkload => ({
      name: service.name,
      ...running(service),
      ...(service.command ? { command: service.command } : {}),
      secrets: service.secrets,
      replicas: service.replicas,
      cpu: service.cpu,
      memory: service.memory,
      ...(service.healthCheck ? { healthCheck: service.healthCheck } : {}),
    }),
  );
  return {
    ...workload,
    ...running(primary),
    replicas: primary.replicas,
    serviceName: primary.name,
    ...(primary.command ? { command: primary.command } : {}),
    ...(Object.keys(primary.secrets).length > 0 ? { secrets: primary.secrets } : {}),
    ...(primary.healthCheck ? { healthCheck: primary.healthCheck } : {}),
    ...(tenant.runtime.kind === 'ecs' ? { cpu: primary.cpu, memory: primary.memory } : {}),
    ...(others.length > 0 ? { services: others } : {}),
    releaseVersion: release?.version ?? version,
  };
}

function trafficWorkloadFields(tenant: TenantSpec, traffic: Record<string, string>) {
  const service = serviceOf(tenant);
  const common = { port: service.port, targetGroupArn: traffic.TargetGroupArn };
  const group = traffic.WorkloadSecurityGroupId;
  if (tenant.runtime.kind !== 'ecs') {
    // A SecurityGroupPolicy replaces the nodes' groups for the pods it selects, so it lists every group they need.
    const pods = tenant.runtime.podSecurityGroupIds;
    return { ...common, ...(group && pods ? { securityGroupIds: [group, ...pods] } : {}) };
  }
  return {
    ...common,
    ...(group ? { securityGroupIds: [group] } : {}),
    ...(traffic.ExecutionRoleArn ? { executionRoleArn: traffic.ExecutionRoleArn } : {}),
    ...(traffic.LogGroupName ? { logGroupName: traffic.LogGroupName } : {}),
    cpu: service.cpu,
    memory: service.memory,
  };
}
