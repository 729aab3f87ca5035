import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseFleetConfig } from '../../src/shared/config/load';
import { SANDBOX_KUBE_OIDC_ISSUER, type SandboxBaseline } from './aws-baseline';
import { repoRoot } from './tools';

export const SANDBOX_FLEET_TEMPLATE = join(repoRoot, 'config', 'fleet.sandbox.yaml');

/** Fills config/fleet.sandbox.yaml's placeholders with the seeded IDs, validates it, writes it. */
export function writeSandboxFleetConfig(baseline: SandboxBaseline, path: string, kubeconfigPath?: string, { blueGreen = false }: { blueGreen?: boolean } = {}): string {
  const values = new Map<string, string>();
  for (const a of baseline.accounts) {
    const prefix = a.account.name;
    values.set(`${prefix}.roleArn`, a.roleArn);
    values.set(`${prefix}.stackRoleArn`, a.stackRoleArn);
    values.set(`${prefix}.externalId`, a.externalId);
    values.set(`${prefix}.hostedZoneId`, a.hostedZoneId);
    values.set(`${prefix}.vpcId`, a.vpcId);
    values.set(`${prefix}.subnetIds`, a.subnetIds.join(', '));
    values.set(`${prefix}.securityGroupId`, a.securityGroupId);
  }
  values.set('ecs.clusterName', baseline.platform.ecsClusterName);
  values.set('alb.listenerArn', baseline.platform.listenerArn);
  values.set('alb.dnsName', baseline.platform.loadBalancerDnsName);
  values.set('alb.testListenerArn', baseline.platform.testListenerArn);
  // Without the sandbox cluster the Kubernetes tenants stay in the config but cannot be reached.
  values.set('kube.oidcIssuer', SANDBOX_KUBE_OIDC_ISSUER);
  values.set('kube.kubeconfig', kubeconfigPath ?? join(dirname(path), 'kube', 'not-started.kubeconfig'));

  const template = readFileSync(SANDBOX_FLEET_TEMPLATE, 'utf8');
  // Without blue/green the load balancer has no test listener in the config, so tenants' traffic
  // stacks get no green slot (fewer resources for every test that does not release blue/green).
  const text = (blueGreen ? template : template.replace(/^\s*testListenerArn: .*\n/m, '')).replace(/\$\{([\w.-]+)\}/g, (_, key: string) => {
    const value = values.get(key);
    if (value === undefined) throw new Error(`${SANDBOX_FLEET_TEMPLATE}: unknown placeholder \${${key}}`);
    return value;
  });
  parseFleetConfig(text, path);
  writeFileSync(path, text);
  return path;
}
