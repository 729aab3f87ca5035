import type { CloudFormationActivities, PreparedStackChange } from '../activities/cloudformation';
import { stackNameFor } from '../shared/ids';
import type { ReleaseTemplate } from '../shared/messages/release';
import { describeChanges, releaseChangeSetName, type StackChangeRecord } from '../shared/release/stack-change';
import type { TenantSpec } from '../shared/tenant-spec';
import { activitiesFor } from './activity-options';
import { KEPT_STACK_PARAMETERS, stackParametersFor, stackTagsFor } from './tenant-footprint';

const cfn = activitiesFor<CloudFormationActivities>();

/**
 * A deploy whose input carries the tenant template changes the tenant stack after the snapshot
 * (docs/releases.md, "Infrastructure changes"). Only children given a template ask the patch, so
 * no other release's history changes.
 */
export const TEMPLATE_PATCH = 'release-tenant-template';

/**
 * Parameters a release's stack change leaves at the stack's values: the workload group the
 * traffic stack made (not read here), and the snapshot a restore recorded (changing it would
 * touch the database for nothing).
 */
const KEPT = [...KEPT_STACK_PARAMETERS, 'DatabaseRestoredFrom'];

export type PreviousStack = PreparedStackChange['previous'];

export interface StackChangeOutcome {
  record: StackChangeRecord;
  /** Set once the change set was sent to execute: a rollback then puts this back. */
  previous?: PreviousStack;
}

/**
 * Creates the release's change set of the tenant stack, shows its changes (before anything
 * executes), then executes it and waits. A refused replacement fails the prepare activity,
 * nonRetryable; `onExecuting` is called before the execution, so a failure after it rolls back.
 */
export async function changeTenantStack(
  tenant: TenantSpec,
  releaseId: string,
  template: ReleaseTemplate,
  show: (detail: string) => void,
  onExecuting: (previous: PreviousStack) => void,
): Promise<StackChangeOutcome> {
  const stackName = stackNameFor(tenant.id);
  const changeSetName = releaseChangeSetName(releaseId, tenant.id);
  show(`change set ${changeSetName}: creating (template ${template.revision.slice(0, 12)})`);
  const { previous, ...record } = await cfn.prepareStackChange({
    target: tenant.aws,
    stackName,
    revision: template.revision,
    changeSetName,
    parameters: stackParametersFor(tenant),
    tags: stackTagsFor(tenant),
    keepParameters: KEPT,
    ...(template.allowReplacement ? { allowReplacement: template.allowReplacement } : {}),
  });
  if (record.state === 'unchanged') {
    show(`change set ${changeSetName}: no changes`);
    return { record };
  }
  show(`change set ${changeSetName}: ${describeChanges(record.changes)}`);
  onExecuting(previous);
  await cfn.executeStackChange({ target: tenant.aws, stackName, changeSetName });
  await cfn.waitForStack({ target: tenant.aws, stackName });
  show(`change set ${changeSetName} executed: ${describeChanges(record.changes)}`);
  return { record, previous };
}

/** Back to the stack's template and parameters before the release (a rollback's first step after the database). */
export async function restoreTenantStack(tenant: TenantSpec, previous: PreviousStack): Promise<void> {
  const stackName = stackNameFor(tenant.id);
  const parameters = Object.fromEntries(Object.entries(previous.parameters).filter(([key]) => !KEPT.includes(key)));
  await cfn.deployStack({ target: tenant.aws, stackName, template: 'tenant', templateBody: previous.templateBody, parameters, tags: stackTagsFor(tenant), keepParameters: KEPT });
  await cfn.waitForStack({ target: tenant.aws, stackName });
}
