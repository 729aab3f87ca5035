import { shortHash } from '../ids';

/*
 * A release that carries the tenant template (docs/releases.md, "Infrastructure changes"): the
 * identity of one release's change set of one tenant's stack, what the history keeps of it, and
 * which of its changes a release refuses. Pure: shared by the workflow, the activity and tenantctl.
 */

/**
 * Resource types that hold data a replacement or a removal loses: CloudFormation creates a new,
 * empty one (a new database, a new bucket) and deletes the old one.
 */
export const STATEFUL_RESOURCE_TYPES: ReadonlySet<string> = new Set([
  'AWS::RDS::DBCluster',
  'AWS::RDS::DBInstance',
  'AWS::S3::Bucket',
  'AWS::DynamoDB::Table',
  'AWS::DynamoDB::GlobalTable',
  'AWS::EFS::FileSystem',
  'AWS::EC2::Volume',
  'AWS::ElastiCache::ReplicationGroup',
  'AWS::ElastiCache::CacheCluster',
  'AWS::SecretsManager::Secret',
  'AWS::KMS::Key',
  'AWS::Logs::LogGroup',
]);

/** One resource change as the tenant's result and progress show it. */
export interface StackChangeLine {
  logicalId: string;
  resourceType: string;
  action: 'add' | 'modify' | 'replace' | 'remove' | 'import' | 'dynamic';
  /** CloudFormation's Replacement of a Modify: `Conditional` when only the update itself decides. */
  replacement?: 'True' | 'False' | 'Conditional';
}

/** What a tenant's stack change came to, in its release result. */
export interface StackChangeRecord {
  changeSet: string;
  /** The template's revision (its content hash) the release carried. */
  revision: string;
  /** `unchanged`: the stack already had this template and these parameters; nothing executed. */
  state: 'unchanged' | 'changes';
  changes: StackChangeLine[];
}

/**
 * The change set's name: one per release and tenant, so an activity retried after a lost answer
 * finds the change set its first attempt created. Within the access role's `tenant-fleet-*`.
 */
export const releaseChangeSetName = (releaseId: string, tenantId: string) => `tenant-fleet-release-${shortHash(`${releaseId}\n${tenantId}`)}`;

/**
 * The changes a release refuses: a replacement (`True`, or `Conditional`, which may replace) or a
 * removal of a stateful resource whose logical ID the release does not list in `allowReplacement`.
 */
export function refusedChanges(changes: readonly StackChangeLine[], allowReplacement: readonly string[] = []): StackChangeLine[] {
  const allowed = new Set(allowReplacement);
  return changes.filter(
    (c) =>
      STATEFUL_RESOURCE_TYPES.has(c.resourceType) &&
      !allowed.has(c.logicalId) &&
      (c.action === 'replace' || c.action === 'remove' || (c.action === 'modify' && c.replacement === 'Conditional')),
  );
}

/** The refusal's message, naming each resource and its type, and how a release allows it. */
export function describeRefusal(stackName: string, changeSet: string, refused: readonly StackChangeLine[]): string {
  const what = refused
    .map((c) => `${c.logicalId} (${c.resourceType}) would be ${c.action === 'remove' ? 'removed' : c.replacement === 'Conditional' ? 'possibly replaced' : 'replaced'}`)
    .join(', ');
  const names = refused.map((c) => JSON.stringify(c.logicalId)).join(', ');
  return (
    `stack ${stackName}: change set ${changeSet} replaces stateful resources: ${what}; a replacement is a new, empty resource, so it is refused ` +
    `unless the release allows it by name (options.template.allowReplacement: [${names}], tenantctl release start --allow-replacement)`
  );
}

/** One line per change for the progress and the result's reason: `replace Database (AWS::RDS::DBCluster)`. */
export function describeChanges(changes: readonly StackChangeLine[]): string {
  if (changes.length === 0) return 'no changes';
  return changes.map((c) => `${c.action}${c.action === 'modify' && c.replacement === 'Conditional' ? ' (may replace)' : ''} ${c.logicalId} (${c.resourceType})`).join(', ');
}
