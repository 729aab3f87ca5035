import { awsTargetFor } from '../config/resolve';
import type { FleetConfig } from '../config/schema';
import type { CertificatesInput, TenantCertificates } from '../messages/certificates';

/**
 * The full start input of `certs/<group>` from the fleet config: every tenant on the group's
 * load balancer, the policy and which environments allow wildcards. Pure, so the CLI's future
 * `certs plan` dry run and the tests build the same input the workers would see.
 */
export function certificatesInputFromConfig(config: FleetConfig, group: string): CertificatesInput {
  const lb = config.loadBalancers.find((l) => l.name === group);
  if (!lb) throw new Error(`unknown certificate group "${group}": expected one of the fleet's load balancers: ${config.loadBalancers.map((l) => l.name).join(', ') || '(none)'}`);
  const lbAccount = config.accounts.find((a) => a.name === lb.account);
  if (!lbAccount) throw new Error(`fleet config is inconsistent: account ${lb.account} not found`);
  const tenants: Record<string, TenantCertificates> = {};
  for (const tenant of config.tenants.filter((t) => t.loadBalancer === group)) {
    const account = config.accounts.find((a) => a.name === tenant.account);
    tenants[tenant.id] = {
      hostnames: tenant.hostnames,
      environment: tenant.environment,
      dns: account?.hostedZoneId ? { aws: awsTargetFor(account, tenant.region), hostedZoneId: account.hostedZoneId } : undefined,
    };
  }
  return {
    group,
    loadBalancer: { listenerArn: lb.listenerArn, aws: awsTargetFor(lbAccount, lb.region) },
    policy: config.certificates,
    wildcardEnvironments: config.environments.filter((e) => e.allowWildcardCertificates).map((e) => e.name),
    tenants,
  };
}
