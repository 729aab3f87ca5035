import type { CloudFormationActivities, StackState } from '../activities/cloudformation';
import { stackNameFor } from '../shared/ids';
import type { TenantSpec } from '../shared/tenant-spec';
import { activitiesFor } from './activity-options';
import { KEPT_STACK_PARAMETERS, stackParametersFor, stackTagsFor } from './tenant-footprint';

const cfn = activitiesFor<CloudFormationActivities>();

/**
 * Deploys the tenant's existing stack again with some parameters changed (a restored database,
 * deletion protection off) and waits for it. The same two activities in the same order as
 * before this helper existed, so recorded histories replay.
 */
export async function redeployTenantStack(tenant: TenantSpec, overrides: Parameters<typeof stackParametersFor>[1]): Promise<StackState> {
  const stackName = stackNameFor(tenant.id);
  await cfn.deployStack({
    target: tenant.aws,
    stackName,
    template: 'tenant',
    parameters: stackParametersFor(tenant, overrides),
    tags: stackTagsFor(tenant),
    // It does not read the traffic stack: the database keeps admitting the workload group it admits now.
    keepParameters: KEPT_STACK_PARAMETERS,
  });
  return cfn.waitForStack({ target: tenant.aws, stackName });
}
