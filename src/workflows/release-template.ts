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

/**
 * A revert after an abort, or a rollback after a regression in the bake, puts the stack of a tenant
 * whose deploy changed it back too (they are children of their own, started after the deploy's
 * child ended). Asked only by children whose input carries a template.
 */
export const TEMPLATE_BACK_PATCH = 'release-tenant-template-back';

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

/**
 * The stack before this release's change of it, as the deploy kept it (`prepareStackChange`), when the
 * stack still has that change; otherwise why it is left alone (`note`), or nothing when there is
 * nothing to put back (no change ran, or a retried restore already put it back).
 */
export async function stackBeforeRelease(tenant: TenantSpec, releaseId: string, template: ReleaseTemplate): Promise<{ previous?: PreviousStack; note?: string }> {
  const found = await cfn.previousStack({
    target: tenant.aws,
    stackName: stackNameFor(tenant.id),
    changeSetName: releaseChangeSetName(releaseId, tenant.id),
    revision: template.revision,
    keepParameters: KEPT,
  });
  if (found.state === 'changed') return { previous: found.previous };
  if (found.state === 'moved-on') return { note: `stack not restored: ${found.reason}` };
  return {};
}

/** Back to the stack's template and parameters before the release (a rollback's first step after the database). */
export async function restoreTenantStack(tenant: TenantSpec, previous: PreviousStack): Promise<void> {
  const stackName = stackNameFor(tenant.id);
  const parameters = Object.fromEntries(Object.entries(previous.parameters).filter(([key]) => !KEPT.includes(key)));
  await cfn.deployStack({ target: tenant.aws, stackName, template: 'tenant', templateBody: previous.templateBody, parameters, tags: stackTagsFor(tenant), keepParameters: KEPT });
  await cfn.waitForStack({ target: tenant.aws, stackName });
}
