import { DescribeServicesCommand, DescribeTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { toolsDir } from '../sandbox/tools';
import type { Harness } from './harness';

/**
 * The image tag a tenant's workload really runs, read straight from the runtime (ECS task
 * definition or the Deployment's pod template), not from anything the product recorded.
 */
export async function liveVersion(h: Harness, tenantId: string): Promise<string | undefined> {
  const tenant = h.tenant(tenantId);
  let image: string | undefined;
  if (tenant.runtime.kind === 'ecs') {
    const ecs = h.aws.ecs(tenant.runtime.aws);
    const { services = [] } = await ecs.send(new DescribeServicesCommand({ cluster: tenant.runtime.clusterName, services: [`tenant-${tenantId}`] }));
    const arn = services.find((s) => s.status === 'ACTIVE')?.taskDefinition;
    if (!arn) return undefined;
    const { taskDefinition } = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: arn }));
    image = taskDefinition?.containerDefinitions?.find((c) => c.name === 'app')?.image;
  } else {
    image = execFileSync(
      join(toolsDir, 'bin', 'kubectl'),
      ['--kubeconfig', h.env.KUBECONFIG!, '-n', `tenant-${tenantId}`, 'get', 'deployments', '-o', 'jsonpath={.items[*].spec.template.spec.containers[?(@.name=="app")].image}'],
      { encoding: 'utf8' },
    ).trim();
  }
  return image ? image.slice(image.lastIndexOf(':') + 1) : undefined;
}
