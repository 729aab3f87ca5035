import { createAcmActivities } from './acm';
import { createBakeWatchActivities } from './bake-watch';
import type { AwsClients } from './aws/clients';
import { withAwsFailures } from './aws/errors';
import { createCloudFormationActivities } from './cloudformation';
import { createElbv2Activities } from './elbv2';
import { createHealthActivities } from './verify-health';
import { createListenerRuleActivities } from './listener-rule';
import { createRdsActivities } from './rds';
import { createRoute53Activities } from './route53';
import { createEcsActivities } from './runtime/ecs';
import { createEcsReleaseActivities } from './runtime/ecs-release';
import { createEcsColourActivities } from './runtime/ecs-colours';
import { createEcsMigrationActivities } from './runtime/ecs-migration';
import { createSsmActivities } from './ssm';
import type { TemplateStore } from './templates';

export interface AwsActivityDependencies {
  aws: AwsClients;
  templates: TemplateStore;
}

/** The activities served on the AWS task queue, each module built over the shared clients. */
export function createAwsActivities(deps: AwsActivityDependencies) {
  return withAwsFailures({
    ...createCloudFormationActivities(deps),
    ...createRdsActivities(deps),
    ...createRoute53Activities(deps),
    ...createSsmActivities(deps),
    ...createEcsActivities(deps),
    ...createEcsReleaseActivities(deps),
    ...createEcsColourActivities(deps),
    ...createEcsMigrationActivities(deps),
    ...createHealthActivities(deps),
    ...createBakeWatchActivities(deps),
    ...createAcmActivities(deps),
    ...createElbv2Activities(deps),
    ...createListenerRuleActivities(deps),
  });
}
