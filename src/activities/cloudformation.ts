import {
  CreateChangeSetCommand,
  DeleteChangeSetCommand,
  DeleteStackCommand,
  DescribeChangeSetCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
  GetTemplateCommand,
  type CloudFormationClient,
  type DescribeChangeSetCommandOutput,
  type ResourceChange,
  type Stack,
  type StackEvent,
} from '@aws-sdk/client-cloudformation';
import { DeleteParametersCommand, GetParametersCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { ErrorType, permanentFailure, retryableFailure } from '../shared/errors';
import type { AwsTarget } from '../shared/tenant-spec';
import type { AwsClients } from './aws/clients';
import { abortSignal, pollWithHeartbeat } from './poll';
import { describeRefusal, refusedChanges, type StackChangeRecord } from '../shared/release/stack-change';
import { templateRevision, type TemplateStore } from './templates';
import { foreignBucketFailure, importTemplate, inspectBucket, retainedBuckets } from './cloudformation-import';

/** Explicit state sets: anything not listed as stable is waited on, never guessed at. */
export const STACK_SUCCESS_STATES = new Set(['CREATE_COMPLETE', 'UPDATE_COMPLETE', 'IMPORT_COMPLETE']);
export const STACK_FAILURE_STATES = new Set([
  'CREATE_FAILED',
  'ROLLBACK_COMPLETE',
  'ROLLBACK_FAILED',
  'UPDATE_ROLLBACK_COMPLETE',
  'UPDATE_ROLLBACK_FAILED',
  'UPDATE_FAILED',
  'DELETE_FAILED',
  'IMPORT_ROLLBACK_COMPLETE',
  'IMPORT_ROLLBACK_FAILED',
]);
export const STACK_IN_PROGRESS_STATES = new Set([
  'CREATE_IN_PROGRESS',
  'ROLLBACK_IN_PROGRESS',
  'DELETE_IN_PROGRESS',
  'UPDATE_IN_PROGRESS',
  'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS',
  'UPDATE_ROLLBACK_IN_PROGRESS',
  'UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS',
  'REVIEW_IN_PROGRESS',
  'IMPORT_IN_PROGRESS',
  'IMPORT_ROLLBACK_IN_PROGRESS',
]);
/** States from which CloudFormation accepts an update change set. */
const UPDATABLE_STATES = new Set([...STACK_SUCCESS_STATES, 'UPDATE_ROLLBACK_COMPLETE', 'IMPORT_ROLLBACK_COMPLETE']);
const NO_CHANGES = /didn't contain changes|No updates are to be performed/i;

export interface DeployStackInput {
  target: AwsTarget;
  stackName: string;
  template: 'tenant' | 'tenant-traffic';
  parameters: Record<string, string>;
  tags: Record<string, string>;
  /**
   * Parameters an update leaves at the stack's current values when `parameters` does not give them
   * (ignored when the stack has no such parameter yet): for callers that do not know them.
   */
  keepParameters?: string[];
  /** The template's text instead of the store's `template` (a rollback to the stack's previous template). */
  templateBody?: string;
}

/** A release's change of the tenant stack (docs/releases.md, "Infrastructure changes"). */
export interface PrepareStackChangeInput {
  target: AwsTarget;
  stackName: string;
  /** The revision of the worker's template the release was planned with: any other text is refused. */
  revision: string;
  /** One per release and tenant (shared/release/stack-change.ts), so a retry finds the first attempt's. */
  changeSetName: string;
  parameters: Record<string, string>;
  tags: Record<string, string>;
  keepParameters?: string[];
  /** Logical IDs of stateful resources the release allows to be replaced or removed. */
  allowReplacement?: string[];
}

export interface PreparedStackChange extends StackChangeRecord {
  /** What a rollback puts back: the stack's template and parameters before the change. */
  previous: { templateBody: string; parameters: Record<string, string> };
}

/**
 * Where a release's stack change keeps the stack's template and parameters before it, in the
 * tenant's account, for a revert or rollback started later by another child (docs/releases.md,
 * "Infrastructure changes"): SSM parameters under `/tenant-fleet/StackBefore/<stack>/`, one slot per
 * stack that the next release carrying a template overwrites. Tenant IDs are lowercase, so the
 * capital S never meets a tenant's own prefix (which its app reads by path); the access role may
 * write `/tenant-fleet/*`. Gzipped and base64 in parts of STACK_BEFORE_PART characters: standard
 * parameters hold 4 KB each, and the template is 13 KB (about 5 KB so).
 */
export const stackBeforePrefix = (stackName: string) => `/tenant-fleet/StackBefore/${stackName}/`;
export const STACK_BEFORE_PART = 4_000;

/** A slot holds far fewer parts (the 13 KB template takes two); the bound only ends a search that something else keeps feeding. */
const STACK_BEFORE_MAX_PARTS = 1_000;

/**
 * Deletes the stack's slot, when its tenant is deprovisioned (the slot is not under the tenant's own
 * prefix, so nothing else removes it). Safe twice and after a delete cut short: parts are written
 * from `part-0` up (a larger slot before leaves more parts than its manifest names), so they are
 * found by reading ten names at a time from `part-0` until ten are missing past the manifest's count,
 * deleted from the last batch back (what a delete cut short leaves is still a run from `part-0`), and
 * the manifest last (a slot without its parts never reads as whole: readStackBefore checks the
 * SHA-256). Missing parameters are simply not deleted again. Returns the names it deleted.
 */
export async function deleteStackBefore(ssm: SSMClient, stackName: string, signal?: AbortSignal): Promise<string[]> {
  const prefix = stackBeforePrefix(stackName);
  const manifestName = `${prefix}manifest`;
  const { Parameters: [found] = [] } = await ssm.send(new GetParametersCommand({ Names: [manifestName] }), { abortSignal: signal });
  const declared = found?.Value ? partsNamedBy(found.Value) : 0;
  const batches: string[][] = [];
  for (let from = 0; from < STACK_BEFORE_MAX_PARTS; from += 10) {
    const names = Array.from({ length: 10 }, (_, i) => `${prefix}part-${from + i}`);
    const { Parameters = [] } = await ssm.send(new GetParametersCommand({ Names: names }), { abortSignal: signal });
    const existing = Parameters.map((p) => p.Name).filter((name): name is string => !!name);
    if (existing.length > 0) batches.push(existing);
    else if (from + 10 >= declared) break;
  }
  const deleted: string[] = [];
  for (const names of [...batches.reverse(), ...(found ? [[manifestName]] : [])]) {
    const { DeletedParameters = [] } = await ssm.send(new DeleteParametersCommand({ Names: names }), { abortSignal: signal });
    deleted.push(...DeletedParameters);
  }
  return deleted;
}

/** The part count a slot's manifest names; 0 for one that does not parse (its parts are still found from `part-0`). */
function partsNamedBy(manifest: string): number {
  try {
    const parts = (JSON.parse(manifest) as Partial<StackBeforeManifest>).parts;
    return typeof parts === 'number' && Number.isInteger(parts) && parts > 0 ? Math.min(parts, STACK_BEFORE_MAX_PARTS) : 0;
  } catch {
    return 0;
  }
}

/** What the slot's manifest says: whose change it was, and the parts that hold the stack before it. */
interface StackBeforeManifest {
  changeSet: string;
  parts: number;
  /** SHA-256 of the parts joined, so a slot half overwritten is never deployed. */
  sha256: string;
}

export interface PreviousStackInput {
  target: AwsTarget;
  stackName: string;
  /** The release's change set of this stack (shared/release/stack-change.ts). */
  changeSetName: string;
  /** The template revision the release carried. */
  revision: string;
  /** Parameters a restore leaves at the stack's values: not compared. */
  keepParameters?: string[];
}

/**
 * - `changed`: the stack has the release's template and not its previous parameters: `previous` goes back;
 * - `back`: it has the template and parameters it had before the release (a retried restore, or a change
 *   that never ran);
 * - `none`: this release changed nothing on the stack (no change of it recorded);
 * - `moved-on`: something else changed the stack since (`reason`), which a revert must not undo.
 */
export type PreviousStackResult =
  | { state: 'changed'; previous: PreparedStackChange['previous'] }
  | { state: 'back' | 'none' }
  | { state: 'moved-on'; reason: string };

export interface DeployStackResult {
  stackName: string;
  stackId: string;
  /** `none` when the stack already matched: nothing was executed. */
  operation: 'create' | 'update' | 'none';
  changeSetName?: string;
  /** Buckets the stack adopted (an IMPORT before its creation) in this attempt: what an earlier deletion of the stack kept. */
  imported?: string[];
}

export interface StackFailureReason {
  logicalResourceId: string;
  resourceType: string;
  status: string;
  reason: string;
}

/** The change set's name for previews (`tenantctl tenant diff`); the access role may act on `tenant-fleet-*` change sets. */
export const PREVIEW_CHANGE_SET = 'tenant-fleet-preview';

export interface StackChange {
  /** `replace`: CloudFormation's Modify with Replacement True (a new physical resource: a new, empty database). */
  action: 'add' | 'modify' | 'replace' | 'remove' | 'import' | 'dynamic';
  logicalId: string;
  resourceType: string;
  physicalId?: string;
  /** CloudFormation's Replacement for a Modify: `Conditional` when it is decided only while the update runs. */
  replacement?: 'True' | 'False' | 'Conditional';
  /** Of a resource listed from the template of a stack to be created: its template condition, not evaluated. */
  condition?: string;
  /** Each changed property (or tags), and why. */
  details: {
    attribute: string;
    name?: string;
    requiresRecreation?: string;
    evaluation?: string;
    changeSource?: string;
    causingEntity?: string;
  }[];
}

export interface StackPreview {
  stackName: string;
  accountId: string;
  region: string;
  stackId?: string;
  stackStatus?: string;
  /**
   * `absent`: no stack yet, provisioning creates it; `recreate`: provisioning deletes it (its
   * creation rolled back) and creates it again; `unchanged`; `changes`; `blocked`: CloudFormation
   * would not update it now (`reason`).
   */
  state: 'absent' | 'recreate' | 'unchanged' | 'changes' | 'blocked';
  reason?: string;
  changes: StackChange[];
}

export interface WaitForStackInput {
  target: AwsTarget;
  stackName: string;
  timeoutMs?: number;
}

export interface StackState {
  stackName: string;
  status: string;
  outputs: Record<string, string>;
}

export function createCloudFormationActivities({ aws, templates }: { aws: AwsClients; templates: TemplateStore }) {
  const describeStack = async (cfn: CloudFormationClient, stackName: string): Promise<Stack | undefined> => {
    try {
      const { Stacks } = await cfn.send(new DescribeStacksCommand({ StackName: stackName }), { abortSignal: abortSignal() });
      const stack = Stacks?.[0];
      return stack?.StackStatus === 'DELETE_COMPLETE' ? undefined : stack;
    } catch (error) {
      if (isStackMissing(error)) return undefined;
      throw error;
    }
  };

  const waitWhileInProgress = (cfn: CloudFormationClient, stackName: string, timeoutMs?: number) =>
    pollWithHeartbeat({
      what: `stack ${stackName} to leave its in-progress state`,
      read: () => describeStack(cfn, stackName),
      done: (stack) => !stack || !STACK_IN_PROGRESS_STATES.has(stack.StackStatus ?? ''),
      intervalMs: 2_000,
      timeoutMs,
      onTimeout: (stack) => retryableFailure(ErrorType.Timeout, `stack ${stackName} still ${stack?.StackStatus} after waiting`),
    });

  const failureReasons = async (cfn: CloudFormationClient, stackName: string): Promise<StackFailureReason[]> => {
    const { StackEvents = [] } = await cfn.send(new DescribeStackEventsCommand({ StackName: stackName }));
    // Events come newest first; only the latest operation (since the last user-initiated event) matters.
    const latest: StackEvent[] = [];
    for (const event of StackEvents) {
      latest.push(event);
      if (event.LogicalResourceId === stackName && event.ResourceStatusReason === 'User Initiated') break;
    }
    return latest
      .filter((e) => e.ResourceStatus?.endsWith('_FAILED') && e.LogicalResourceId !== stackName)
      .map((e) => ({
        logicalResourceId: e.LogicalResourceId ?? '?',
        resourceType: e.ResourceType ?? '?',
        status: e.ResourceStatus ?? '?',
        reason: e.ResourceStatusReason ?? '(no reason given)',
      }))
      .reverse();
  };

  return {
    /**
     * Creates or updates the stack through a change set named after the content, so a retried
     * call finds the change set (or the execution) of the first attempt instead of starting a
     * second operation. Returns once the change set is executing; `waitForStack` follows it.
     */
    async deployStack(input: DeployStackInput): Promise<DeployStackResult> {
      const cfn = aws.cloudFormation(input.target);
      let stack = await describeStack(cfn, input.stackName);
      if (stack && STACK_IN_PROGRESS_STATES.has(stack.StackStatus ?? '') && stack.StackStatus !== 'REVIEW_IN_PROGRESS') {
        stack = await waitWhileInProgress(cfn, input.stackName);
      }
      if (stack?.StackStatus === 'ROLLBACK_COMPLETE') {
        // A stack whose creation rolled back holds nothing and cannot be updated: AWS requires deleting it.
        await cfn.send(new DeleteStackCommand({ StackName: input.stackName }));
        stack = await waitWhileInProgress(cfn, input.stackName);
      }
      const templateBody = input.templateBody ?? templates.cloudFormation(input.template);
      let imported: string[] | undefined;
      if (!stack || stack.StackStatus === 'REVIEW_IN_PROGRESS') {
        const adopted = await importRetained(cfn, input, templateBody);
        if (adopted) ({ stack, imported } = adopted);
      }
      // A stack that only holds what an import adopted is still being created (a retry after the import).
      const creating = imported !== undefined || stack?.StackStatus === 'IMPORT_COMPLETE';
      const status = stack?.StackStatus;
      const changeSetType = !stack || status === 'REVIEW_IN_PROGRESS' ? 'CREATE' : 'UPDATE';
      if (changeSetType === 'UPDATE' && !UPDATABLE_STATES.has(status ?? '')) {
        throw permanentFailure(
          ErrorType.StackInUnrecoverableState,
          `stack ${input.stackName} is ${status}; CloudFormation cannot update it from this state (expected one of ${[...UPDATABLE_STATES].join(', ')}). Repair it in the console (for example "continue update rollback") and retry`,
        );
      }

      const request = changeSetType === 'UPDATE' ? withKeptParameters(input, stack) : input;
      const changeSetName = `tenant-fleet-${contentHash(changeSetType, templateBody, request.parameters, request.tags)}`;
      const changeSet = await createOrFindChangeSet(cfn, changeSetRequest(request, changeSetType, changeSetName));

      if (changeSet.Status === 'FAILED') {
        if (NO_CHANGES.test(changeSet.StatusReason ?? '')) {
          await cfn.send(new DeleteChangeSetCommand({ StackName: input.stackName, ChangeSetName: changeSetName }));
          return { stackName: input.stackName, stackId: stack?.StackId ?? changeSet.StackId ?? '', operation: creating ? 'create' : 'none', ...(imported ? { imported } : {}) };
        }
        throw permanentFailure(ErrorType.StackFailed, `change set ${changeSetName} for stack ${input.stackName} failed: ${changeSet.StatusReason}`);
      }
      if (changeSet.ExecutionStatus === 'AVAILABLE') {
        await cfn.send(
          new ExecuteChangeSetCommand({ StackName: input.stackName, ChangeSetName: changeSetName, ClientRequestToken: changeSetName }),
        );
      } else if (!['EXECUTE_IN_PROGRESS', 'EXECUTE_COMPLETE', 'EXECUTE_FAILED'].includes(changeSet.ExecutionStatus ?? '')) {
        throw retryableFailure(ErrorType.StackFailed, `change set ${changeSetName} is ${changeSet.ExecutionStatus}; retrying`);
      }
      return {
        stackName: input.stackName,
        stackId: changeSet.StackId ?? stack?.StackId ?? '',
        operation: changeSetType === 'CREATE' || creating ? 'create' : 'update',
        changeSetName,
        ...(imported ? { imported } : {}),
      };
    },

    /**
     * What `deployStack` with this input would change, without changing anything: a change set
     * built exactly as `deployStack` builds it, read, and deleted again (also when reading fails).
     * It has one fixed name per stack, so a preview cut short leaves at most that one behind, and
     * the next preview of the stack removes it first. A stack that does not exist yet (or that
     * provisioning would delete and create again) is not given a CREATE change set, which would
     * create the stack itself: every resource of the template is listed as added.
     */
    async previewStack(input: DeployStackInput): Promise<StackPreview> {
      const cfn = aws.cloudFormation(input.target);
      const stack = await describeStack(cfn, input.stackName);
      const status = stack?.StackStatus;
      const base = { stackName: input.stackName, accountId: input.target.accountId, region: input.target.region, stackStatus: status, stackId: stack?.StackId };
      if (!stack || status === 'REVIEW_IN_PROGRESS' || status === 'ROLLBACK_COMPLETE') {
        return { ...base, state: stack ? 'recreate' : 'absent', changes: templateResources(templates.cloudFormation(input.template)) };
      }
      if (!UPDATABLE_STATES.has(status ?? '')) {
        const why = STACK_IN_PROGRESS_STATES.has(status ?? '') ? 'an operation is running on it; preview again once it has finished' : 'CloudFormation cannot update it from this state';
        return { ...base, state: 'blocked', reason: `stack ${input.stackName} is ${status}: ${why}`, changes: [] };
      }
      const request = changeSetRequest(withKeptParameters(input, stack), 'UPDATE', PREVIEW_CHANGE_SET);
      await deletePreview(cfn, input.stackName);
      try {
        await cfn.send(new CreateChangeSetCommand(request));
        const created = await pollWithHeartbeat({
          what: `change set ${PREVIEW_CHANGE_SET} of stack ${input.stackName}`,
          read: () => cfn.send(new DescribeChangeSetCommand({ StackName: input.stackName, ChangeSetName: PREVIEW_CHANGE_SET })).catch((error: unknown) => {
            if (isChangeSetMissing(error)) return undefined;
            throw error;
          }),
          done: (cs) => cs?.Status === 'CREATE_COMPLETE' || cs?.Status === 'FAILED',
          intervalMs: 1_000,
          timeoutMs: 5 * 60_000,
          onTimeout: (cs) => retryableFailure(ErrorType.Timeout, `change set ${PREVIEW_CHANGE_SET} of stack ${input.stackName} still ${cs?.Status ?? 'not found'}`),
        });
        if (!created) {
          throw retryableFailure(ErrorType.StackFailed, `change set ${PREVIEW_CHANGE_SET} of stack ${input.stackName} went away while it was read (another preview of the stack, or a deployment, ran at the same time); preview again`);
        }
        if (created.Status === 'FAILED') {
          if (NO_CHANGES.test(created.StatusReason ?? '')) return { ...base, state: 'unchanged', changes: [] };
          throw permanentFailure(ErrorType.StackFailed, `change set ${PREVIEW_CHANGE_SET} for stack ${input.stackName} failed: ${created.StatusReason}`);
        }
        const changes = [...(created.Changes ?? [])];
        for (let token = created.NextToken; token; ) {
          const page = await cfn.send(new DescribeChangeSetCommand({ StackName: input.stackName, ChangeSetName: PREVIEW_CHANGE_SET, NextToken: token }));
          changes.push(...(page.Changes ?? []));
          token = page.NextToken;
        }
        return { ...base, state: 'changes', changes: changes.flatMap((c) => (c.ResourceChange ? [stackChangeOf(c.ResourceChange)] : [])) };
      } finally {
        await deletePreview(cfn, input.stackName);
      }
    },

    /**
     * Creates the release's change set of an existing tenant stack with the worker's tenant
     * template (which must be the revision the release names) and reads what it would change;
     * executes nothing. A change that replaces or removes a stateful resource the release does not
     * allow by name is refused (nonRetryable, naming the resource); the change set stays for people
     * to inspect. Safe to retry: the change set's name is the release's and tenant's.
     */
    async prepareStackChange(input: PrepareStackChangeInput): Promise<PreparedStackChange> {
      const cfn = aws.cloudFormation(input.target);
      const body = templates.cloudFormation('tenant');
      const revision = templateRevision(body);
      if (revision !== input.revision) {
        throw permanentFailure(
          ErrorType.InvalidInput,
          `template.revision: the worker's tenant template is revision ${revision.slice(0, 12)}, the release carries ${input.revision.slice(0, 12)}; deploy the workers with the release's template (or start a release of theirs) (got ${JSON.stringify(input.revision)})`,
        );
      }
      let stack = await describeStack(cfn, input.stackName);
      if (stack && STACK_IN_PROGRESS_STATES.has(stack.StackStatus ?? '')) stack = await waitWhileInProgress(cfn, input.stackName);
      if (!stack) throw permanentFailure(ErrorType.ResourceNotFound, `stack ${input.stackName} does not exist in account ${input.target.accountId} ${input.target.region}: provision the tenant first`);
      if (!UPDATABLE_STATES.has(stack.StackStatus ?? '')) {
        throw permanentFailure(ErrorType.StackInUnrecoverableState, `stack ${input.stackName} is ${stack.StackStatus}; CloudFormation cannot update it from this state`);
      }
      const { TemplateBody: previousBody } = await cfn.send(new GetTemplateCommand({ StackName: input.stackName, TemplateStage: 'Original' }), { abortSignal: abortSignal() });
      const previous = {
        templateBody: previousBody ?? '',
        parameters: Object.fromEntries((stack.Parameters ?? []).filter((p) => p.ParameterKey).map((p) => [p.ParameterKey!, p.ParameterValue ?? ''])),
      };
      const request = withKeptParameters({ ...input, template: 'tenant', templateBody: body }, stack);
      const changeSet = await createOrFindChangeSet(cfn, changeSetRequest(request, 'UPDATE', input.changeSetName));
      const base = { changeSet: input.changeSetName, revision, previous };
      if (changeSet.Status === 'FAILED') {
        if (NO_CHANGES.test(changeSet.StatusReason ?? '')) return { ...base, state: 'unchanged', changes: [] };
        throw permanentFailure(ErrorType.StackFailed, `change set ${input.changeSetName} for stack ${input.stackName} failed: ${changeSet.StatusReason}`);
      }
      const all = [...(changeSet.Changes ?? [])];
      for (let token = changeSet.NextToken; token; ) {
        const page = await cfn.send(new DescribeChangeSetCommand({ StackName: input.stackName, ChangeSetName: input.changeSetName, NextToken: token }));
        all.push(...(page.Changes ?? []));
        token = page.NextToken;
      }
      const changes = all.flatMap((c) => (c.ResourceChange ? [stackChangeOf(c.ResourceChange)] : [])).map(({ logicalId, resourceType, action, replacement }) => ({
        logicalId,
        resourceType,
        action,
        ...(replacement ? { replacement } : {}),
      }));
      const refused = refusedChanges(changes, input.allowReplacement);
      if (refused.length > 0) {
        throw permanentFailure(ErrorType.StatefulReplacementRefused, describeRefusal(input.stackName, input.changeSetName, refused), {
          details: [{ stackName: input.stackName, changeSet: input.changeSetName, refused, changes }],
        });
      }
      // Before the change set can run (the workflow executes it after this returns): a later revert finds it there.
      await keepStackBefore(input.target, input.stackName, input.changeSetName, previous);
      return { ...base, state: 'changes', changes };
    },

    /**
     * The stack before a release's change, kept by `prepareStackChange`, if the stack still has that
     * release's change: what a revert after an abort or a rollback after the bake puts back. Reads
     * only; a second call after the restore answers `back`.
     */
    async previousStack(input: PreviousStackInput): Promise<PreviousStackResult> {
      const cfn = aws.cloudFormation(input.target);
      const kept = await readStackBefore(input.target, input.stackName);
      if (!kept) return { state: 'none' };
      if (kept.changeSet !== input.changeSetName) {
        return {
          state: 'moved-on',
          reason: `a later release's change set ${kept.changeSet} of stack ${input.stackName} was prepared since (this release's is ${input.changeSetName}); the stack is left as it is`,
        };
      }
      const stack = await describeStack(cfn, input.stackName);
      if (!stack) throw permanentFailure(ErrorType.ResourceNotFound, `stack ${input.stackName} does not exist in account ${input.target.accountId} ${input.target.region}`);
      const { TemplateBody: body = '' } = await cfn.send(new GetTemplateCommand({ StackName: input.stackName, TemplateStage: 'Original' }), { abortSignal: abortSignal() });
      const current = templateRevision(body);
      const keep = new Set(input.keepParameters ?? []);
      const parameters = Object.fromEntries((stack.Parameters ?? []).filter((p) => p.ParameterKey && !keep.has(p.ParameterKey)).map((p) => [p.ParameterKey!, p.ParameterValue ?? '']));
      const before = Object.fromEntries(Object.entries(kept.previous.parameters).filter(([key]) => !keep.has(key)));
      if (current === templateRevision(kept.previous.templateBody) && sameParameters(parameters, before)) return { state: 'back' };
      if (current !== input.revision) {
        return {
          state: 'moved-on',
          reason: `stack ${input.stackName} has template revision ${current.slice(0, 12)}, neither the release's ${input.revision.slice(0, 12)} nor the one before it; the stack is left as it is`,
        };
      }
      return { state: 'changed', previous: kept.previous };
    },

    /**
     * Executes a change set `prepareStackChange` created and returns once it runs; `waitForStack`
     * follows it. A retry finds it executing or executed: CloudFormation deletes a stack's change
     * sets once one is executed, so a missing one (the tenant's lock keeps any other operation
     * off the stack) is this one, already executed.
     */
    async executeStackChange(input: { target: AwsTarget; stackName: string; changeSetName: string }): Promise<{ executed: boolean }> {
      const cfn = aws.cloudFormation(input.target);
      let changeSet: DescribeChangeSetCommandOutput;
      try {
        changeSet = await cfn.send(new DescribeChangeSetCommand({ StackName: input.stackName, ChangeSetName: input.changeSetName }), { abortSignal: abortSignal() });
      } catch (error) {
        if (isChangeSetMissing(error)) return { executed: false };
        throw error;
      }
      if (changeSet.ExecutionStatus === 'AVAILABLE') {
        await cfn.send(new ExecuteChangeSetCommand({ StackName: input.stackName, ChangeSetName: input.changeSetName, ClientRequestToken: input.changeSetName }));
        return { executed: true };
      }
      if (['EXECUTE_IN_PROGRESS', 'EXECUTE_COMPLETE', 'EXECUTE_FAILED'].includes(changeSet.ExecutionStatus ?? '')) return { executed: false };
      throw retryableFailure(ErrorType.StackFailed, `change set ${input.changeSetName} of stack ${input.stackName} is ${changeSet.ExecutionStatus}; retrying`);
    },

    /** Waits for a terminal state; on failure the error lists each failed resource and its reason. */
    async waitForStack(input: WaitForStackInput): Promise<StackState> {
      const cfn = aws.cloudFormation(input.target);
      const stack = await waitWhileInProgress(cfn, input.stackName, input.timeoutMs);
      if (!stack) {
        throw permanentFailure(ErrorType.ResourceNotFound, `stack ${input.stackName} does not exist in account ${input.target.accountId} ${input.target.region}`);
      }
      const status = stack.StackStatus ?? 'UNKNOWN';
      if (STACK_SUCCESS_STATES.has(status)) {
        return { stackName: input.stackName, status, outputs: outputsOf(stack) };
      }
      const reasons = await failureReasons(cfn, input.stackName);
      const summary = reasons.map((r) => `${r.logicalResourceId} (${r.resourceType}) ${r.status}: ${r.reason}`).join('; ');
      throw permanentFailure(
        ErrorType.StackFailed,
        `stack ${input.stackName} ended ${status}${summary ? `: ${summary}` : stack.StackStatusReason ? `: ${stack.StackStatusReason}` : ''}`,
        { details: [{ stackName: input.stackName, status, reasons }] },
      );
    },

    async getStackOutputs(input: { target: AwsTarget; stackName: string }): Promise<Record<string, string> | undefined> {
      const stack = await describeStack(aws.cloudFormation(input.target), input.stackName);
      return stack ? outputsOf(stack) : undefined;
    },

    /** Deletes the stack and waits until it is gone; deleting a missing stack succeeds. */
    async deleteStack(input: { target: AwsTarget; stackName: string; timeoutMs?: number }): Promise<{ deleted: boolean }> {
      const cfn = aws.cloudFormation(input.target);
      const stack = await describeStack(cfn, input.stackName);
      if (!stack) return { deleted: false };
      if (stack.StackStatus !== 'DELETE_IN_PROGRESS') {
        // Same token for a retry of this delete; a new one after a DELETE_FAILED (named after that failure's
        // event), or CloudFormation would take the new attempt for a repeat of the failed one and ignore it.
        const attempt = stack.StackStatus === 'DELETE_FAILED' ? contentHash(await latestEventId(cfn, input.stackName)) : 'first';
        await cfn.send(
          new DeleteStackCommand({ StackName: input.stackName, ClientRequestToken: `delete-${stack.StackId?.split('/').pop() ?? input.stackName}-${attempt}` }),
        );
      }
      const after = await waitWhileInProgress(cfn, input.stackName, input.timeoutMs);
      if (after) {
        const reasons = await failureReasons(cfn, input.stackName);
        throw permanentFailure(
          ErrorType.StackFailed,
          `stack ${input.stackName} could not be deleted (${after.StackStatus}): ${reasons.map((r) => `${r.logicalResourceId}: ${r.reason}`).join('; ') || after.StackStatusReason}`,
          { details: [{ stackName: input.stackName, status: after.StackStatus, reasons }] },
        );
      }
      return { deleted: true };
    },
  };

  /** Writes the parts first and the manifest last; a retry writes the same values again. */
  async function keepStackBefore(target: AwsTarget, stackName: string, changeSet: string, previous: PreparedStackChange['previous']): Promise<void> {
    const ssm = aws.ssm(target);
    const prefix = stackBeforePrefix(stackName);
    const packed = gzipSync(JSON.stringify(previous)).toString('base64');
    const parts: string[] = [];
    for (let at = 0; at < packed.length; at += STACK_BEFORE_PART) parts.push(packed.slice(at, at + STACK_BEFORE_PART));
    for (const [i, value] of parts.entries()) {
      await ssm.send(new PutParameterCommand({ Name: `${prefix}part-${i}`, Value: value, Type: 'String', Overwrite: true }), { abortSignal: abortSignal() });
    }
    const manifest: StackBeforeManifest = { changeSet, parts: parts.length, sha256: createHash('sha256').update(packed).digest('hex') };
    await ssm.send(new PutParameterCommand({ Name: `${prefix}manifest`, Value: JSON.stringify(manifest), Type: 'String', Overwrite: true }), { abortSignal: abortSignal() });
  }

  async function readStackBefore(target: AwsTarget, stackName: string): Promise<{ changeSet: string; previous: PreparedStackChange['previous'] } | undefined> {
    const ssm = aws.ssm(target);
    const prefix = stackBeforePrefix(stackName);
    const { Parameters: [found] = [] } = await ssm.send(new GetParametersCommand({ Names: [`${prefix}manifest`] }), { abortSignal: abortSignal() });
    if (!found?.Value) return undefined;
    const manifest = JSON.parse(found.Value) as StackBeforeManifest;
    const names = Array.from({ length: manifest.parts }, (_, i) => `${prefix}part-${i}`);
    const values = new Map<string, string>();
    for (let i = 0; i < names.length; i += 10) {
      const { Parameters = [] } = await ssm.send(new GetParametersCommand({ Names: names.slice(i, i + 10) }), { abortSignal: abortSignal() });
      for (const p of Parameters) if (p.Name) values.set(p.Name, p.Value ?? '');
    }
    const packed = names.map((name) => values.get(name) ?? '').join('');
    if (createHash('sha256').update(packed).digest('hex') !== manifest.sha256) {
      // Another release writing the slot right now: its manifest comes last, so trying again reads one whole slot.
      throw retryableFailure(ErrorType.StackFailed, `the stack before change set ${manifest.changeSet} under ${prefix} does not match its manifest (being overwritten?); retrying`);
    }
    return { changeSet: manifest.changeSet, previous: JSON.parse(gunzipSync(Buffer.from(packed, 'base64')).toString('utf8')) as PreparedStackChange['previous'] };
  }

  /**
   * Before a stack is created: the template's retained buckets (cloudformation-import.ts) that
   * exist in the tenant's account are imported into a new stack first, with an IMPORT change set
   * named after its content (a retry finds it, created or executing), and the stack is followed
   * to IMPORT_COMPLETE. Every bucket is judged before anything is created: one that is not the
   * tenant's refuses the deployment. Undefined when there is nothing to import.
   */
  async function importRetained(cfn: CloudFormationClient, input: DeployStackInput, templateBody: string): Promise<{ stack: Stack; imported: string[] } | undefined> {
    const candidates = retainedBuckets(templateBody, input.parameters, input.target);
    if (candidates.length === 0) return undefined;
    const tenantId = input.parameters.TenantId ?? input.tags.TenantId ?? '';
    const s3 = aws.s3(input.target);
    const existing = [];
    for (const bucket of candidates) {
      const finding = await inspectBucket(s3, bucket.bucketName, input.target.accountId, tenantId);
      if (finding.state === 'foreign') throw foreignBucketFailure(input.stackName, bucket, finding.reason);
      if (finding.state === 'ours') existing.push(bucket);
    }
    if (existing.length === 0) return undefined;

    const body = importTemplate(templateBody, existing.map((b) => b.logicalId));
    const resourcesToImport = existing.map((b) => ({ ResourceType: 'AWS::S3::Bucket', LogicalResourceId: b.logicalId, ResourceIdentifier: { BucketName: b.bucketName } }));
    const name = `tenant-fleet-import-${contentHash('IMPORT', body, input.parameters, input.tags, resourcesToImport)}`;
    const changeSet = await createOrFindChangeSet(cfn, { ...changeSetRequest({ ...input, templateBody: body }, 'IMPORT', name), ResourcesToImport: resourcesToImport });
    if (changeSet.Status === 'FAILED') {
      throw permanentFailure(ErrorType.StackFailed, `import change set ${name} for stack ${input.stackName} (${existing.map((b) => b.bucketName).join(', ')}) failed: ${changeSet.StatusReason}`);
    }
    if (changeSet.ExecutionStatus === 'AVAILABLE') {
      await cfn.send(new ExecuteChangeSetCommand({ StackName: input.stackName, ChangeSetName: name, ClientRequestToken: name }));
    } else if (!['EXECUTE_IN_PROGRESS', 'EXECUTE_COMPLETE', 'EXECUTE_FAILED'].includes(changeSet.ExecutionStatus ?? '')) {
      throw retryableFailure(ErrorType.StackFailed, `import change set ${name} is ${changeSet.ExecutionStatus}; retrying`);
    }
    const stack = await waitWhileInProgress(cfn, input.stackName);
    if (stack?.StackStatus !== 'IMPORT_COMPLETE') {
      const reasons = stack ? await failureReasons(cfn, input.stackName) : [];
      if (stack) {
        // An import that rolled back holds nothing (the buckets stay, Retain): the stack goes, so the next attempt starts afresh.
        await cfn.send(new DeleteStackCommand({ StackName: input.stackName }));
        await waitWhileInProgress(cfn, input.stackName);
      }
      throw permanentFailure(
        ErrorType.StackFailed,
        `stack ${input.stackName} ended ${stack?.StackStatus ?? 'missing'} importing ${existing.map((b) => b.bucketName).join(', ')}: ${reasons.map((r) => `${r.logicalResourceId} (${r.resourceType}) ${r.status}: ${r.reason}`).join('; ') || stack?.StackStatusReason || 'no reason given'}`,
        { details: [{ stackName: input.stackName, status: stack?.StackStatus, reasons }] },
      );
    }
    return { stack, imported: existing.map((b) => b.bucketName) };
  }

  /** What CreateChangeSet is sent, the same for a deployment and for a preview of one. */
  /** The input with each of its `keepParameters` that it does not give set to the stack's current value. */
  function withKeptParameters(input: DeployStackInput, stack: Stack | undefined): DeployStackInput {
    const kept: Record<string, string> = {};
    for (const key of input.keepParameters ?? []) {
      const current = stack?.Parameters?.find((p) => p.ParameterKey === key)?.ParameterValue;
      if (current !== undefined && !(key in input.parameters)) kept[key] = current;
    }
    return { ...input, parameters: { ...input.parameters, ...kept } };
  }

  function changeSetRequest(input: DeployStackInput, changeSetType: 'CREATE' | 'UPDATE' | 'IMPORT', changeSetName: string) {
    const roleArn = input.target.stackRoleArn;
    if (!roleArn) {
      // Without it CloudFormation would act with the access role, which may not create the stack's resources.
      throw permanentFailure(
        ErrorType.InvalidInput,
        `no stack execution role for account ${input.target.accountId}: set accounts[].stackRoleArn in the fleet config (the fleet access stack's StackExecutionRoleArn output) and start the operation again`,
      );
    }
    return {
      StackName: input.stackName,
      ChangeSetName: changeSetName,
      ChangeSetType: changeSetType,
      TemplateBody: input.templateBody ?? templates.cloudFormation(input.template),
      Parameters: Object.entries(input.parameters).map(([ParameterKey, ParameterValue]) => ({ ParameterKey, ParameterValue })),
      Tags: Object.entries(input.tags).map(([Key, Value]) => ({ Key, Value })),
      Capabilities: ['CAPABILITY_NAMED_IAM' as const],
      RoleARN: roleArn,
    };
  }

  /** Deletes the preview change set; one already gone (deleted by a concurrent preview, or never created) is fine. */
  async function deletePreview(cfn: CloudFormationClient, stackName: string): Promise<void> {
    try {
      await cfn.send(new DeleteChangeSetCommand({ StackName: stackName, ChangeSetName: PREVIEW_CHANGE_SET }));
    } catch (error) {
      if (!isChangeSetMissing(error)) throw error;
    }
  }

  async function createOrFindChangeSet(
    cfn: CloudFormationClient,
    params: ConstructorParameters<typeof CreateChangeSetCommand>[0] & { ChangeSetName: string; StackName: string },
  ): Promise<DescribeChangeSetCommandOutput> {
    try {
      await cfn.send(new CreateChangeSetCommand(params));
    } catch (error) {
      // A retry after the first attempt created it: carry on with that change set.
      if ((error as Error).name !== 'AlreadyExistsException') throw error;
    }
    const changeSet = await pollWithHeartbeat({
      what: `change set ${params.ChangeSetName}`,
      read: async () => {
        try {
          return await cfn.send(new DescribeChangeSetCommand({ StackName: params.StackName, ChangeSetName: params.ChangeSetName }));
        } catch (error) {
          // Right after its creation a change set may not be readable yet (eventual consistency).
          if ((error as Error).name === 'ChangeSetNotFoundException') return undefined;
          throw error;
        }
      },
      done: (cs) => cs?.Status === 'CREATE_COMPLETE' || cs?.Status === 'FAILED' || cs?.Status === 'DELETE_COMPLETE',
      intervalMs: 1_000,
      timeoutMs: 5 * 60_000,
      onTimeout: (cs) => retryableFailure(ErrorType.Timeout, `change set ${params.ChangeSetName} still ${cs?.Status ?? 'not found'}`),
    });
    if (!changeSet) throw retryableFailure(ErrorType.StackFailed, `change set ${params.ChangeSetName} of stack ${params.StackName} not found after its creation`);
    return changeSet;
  }
}

async function latestEventId(cfn: CloudFormationClient, stackName: string): Promise<string> {
  const { StackEvents = [] } = await cfn.send(new DescribeStackEventsCommand({ StackName: stackName }));
  return StackEvents[0]?.EventId ?? 'none';
}

function sameParameters(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((key) => a[key] === b[key]);
}

function outputsOf(stack: Stack): Record<string, string> {
  return Object.fromEntries((stack.Outputs ?? []).filter((o) => o.OutputKey).map((o) => [o.OutputKey!, o.OutputValue ?? '']));
}

function isChangeSetMissing(error: unknown): boolean {
  const name = (error as Error).name;
  return name === 'ChangeSetNotFoundException' || name === 'ChangeSetNotFound';
}

/** A CloudFormation change's action as people read it: a modification that replaces the resource is a replacement. */
function stackChangeOf(change: ResourceChange): StackChange {
  const replacement = change.Replacement;
  const action =
    change.Action === 'Modify' ? (replacement === 'True' ? 'replace' : 'modify') : ((change.Action ?? 'Dynamic').toLowerCase() as StackChange['action']);
  return {
    action,
    logicalId: change.LogicalResourceId ?? '?',
    resourceType: change.ResourceType ?? '?',
    ...(change.PhysicalResourceId ? { physicalId: change.PhysicalResourceId } : {}),
    ...(replacement ? { replacement } : {}),
    details: (change.Details ?? []).map((d) => ({
      attribute: d.Target?.Attribute ?? '?',
      ...(d.Target?.Name ? { name: d.Target.Name } : {}),
      ...(d.Target?.RequiresRecreation ? { requiresRecreation: d.Target.RequiresRecreation } : {}),
      ...(d.Evaluation ? { evaluation: d.Evaluation } : {}),
      ...(d.ChangeSource ? { changeSource: d.ChangeSource } : {}),
      ...(d.CausingEntity ? { causingEntity: d.CausingEntity } : {}),
    })),
  };
}

/** Every resource of a template, as added: what creating the stack would do (conditions are not evaluated). */
function templateResources(body: string): StackChange[] {
  // CloudFormation's short forms (!Ref, !Sub) are unknown YAML tags here; only names and types are read.
  const template = parseYaml(body, { logLevel: 'silent' }) as { Resources?: Record<string, { Type?: string; Condition?: string }> };
  return Object.entries(template.Resources ?? {}).map(([logicalId, resource]) => ({
    action: 'add',
    logicalId,
    resourceType: resource.Type ?? '?',
    details: [],
    ...(resource.Condition ? { condition: resource.Condition } : {}),
  }));
}

function isStackMissing(error: unknown): boolean {
  return (error as Error).name === 'ValidationError' && /does not exist/.test((error as Error).message);
}

function contentHash(...parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}

export type CloudFormationActivities = ReturnType<typeof createCloudFormationActivities>;
