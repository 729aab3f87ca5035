import type { DnsRecordsInput } from '../activities/route53';
import type { TenantSpec } from '../shared/tenant-spec';

/** The tenant stack's parameters (infra/cloudformation/tenant.yaml), derived from the tenant spec. */
export function stackParametersFor(tenant: TenantSpec, overrides: { deletionProtection?: boolean; databaseRestoredFrom?: string } = {}): Record<string, string> {
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
  };
}

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
