import { DescribeServicesCommand, DescribeTaskDefinitionCommand, ListTaskDefinitionsCommand } from '@aws-sdk/client-ecs';
import type { AwsClients } from '../../src/activities/aws/clients';
import type { TenantSpec } from '../../src/shared/tenant-spec';

/**
 * What the runtimes really run and were asked to run, read straight from ECS and the
 * Kubernetes API, never from what the product recorded about itself. Integration tests and the
 * chaos invariants both judge releases with these.
 */
export interface RuntimeReader {
  /** The sandbox administrator's clients (test/sandbox/admin-clients.ts), not the workers'. */
  admin: AwsClients;
  tenant(id: string): TenantSpec;
  /** The sandbox's kubectl against its cluster; throws when kubectl exits non-zero. */
  kubectl(args: string[]): string;
}

/** The image tag the workload really runs (ECS service's task definition, or the Deployment's template). */
export async function liveVersion(reader: RuntimeReader, tenantId: string): Promise<string | undefined> {
  const tenant = reader.tenant(tenantId);
  let image: string | undefined;
  if (tenant.runtime.kind === 'ecs') {
    const ecs = reader.admin.ecs(tenant.runtime.aws);
    const { services = [] } = await ecs.send(new DescribeServicesCommand({ cluster: tenant.runtime.clusterName, services: [`tenant-${tenantId}`] }));
    const arn = services.find((s) => s.status === 'ACTIVE')?.taskDefinition;
    if (!arn) return undefined;
    image = (await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: arn }))).taskDefinition?.containerDefinitions?.find((c) => c.name === 'app')?.image;
  } else {
    try {
      image = reader.kubectl(['-n', `tenant-${tenantId}`, 'get', 'deployment', 'app', '-o', 'jsonpath={.spec.template.spec.containers[?(@.name=="app")].image}']).trim();
    } catch {
      return undefined; // no namespace or Deployment: nothing runs
    }
  }
  return image ? image.slice(image.lastIndexOf(':') + 1) : undefined;
}

/** What each runtime was asked to run with `version`: ECS task definition revisions, Kubernetes ReplicaSets. */
export async function deploysOf(reader: RuntimeReader, tenantId: string, version: string): Promise<number> {
  const tenant = reader.tenant(tenantId);
  if (tenant.runtime.kind === 'ecs') {
    const ecs = reader.admin.ecs(tenant.runtime.aws);
    const arns: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await ecs.send(new ListTaskDefinitionsCommand({ familyPrefix: `tenant-${tenantId}`, nextToken }));
      arns.push(...(page.taskDefinitionArns ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    const images = await Promise.all(arns.map(async (arn) => (await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: arn }))).taskDefinition?.containerDefinitions?.[0]?.image));
    return images.filter((image) => image?.endsWith(`:${version}`)).length;
  }
  const images = reader.kubectl(['-n', `tenant-${tenantId}`, 'get', 'replicasets', '-o', 'jsonpath={range .items[*]}{.spec.template.spec.containers[0].image}{"\\n"}{end}']);
  return images.split('\n').filter((image) => image.endsWith(`:${version}`)).length;
}
