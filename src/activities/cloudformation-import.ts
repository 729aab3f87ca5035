import { GetBucketTaggingCommand, HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { parseCloudFormationYaml } from '../shared/cloudformation-yaml';
import { ErrorType, permanentFailure } from '../shared/errors';
import type { AwsTarget } from '../shared/tenant-spec';
import { abortSignal } from './poll';

/**
 * Resource import of what a stack's deletion retained (docs/operators.md, "Provisioning and
 * deprovisioning"): the tenant stack's `DataBucket` has DeletionPolicy Retain, so deprovisioning
 * leaves it, and creating the stack again would fail on a bucket that exists. Provisioning finds
 * such a bucket first and creates the stack with an IMPORT change set holding only it; the
 * ordinary update to the full template then creates the rest.
 */

/** A retained resource of the template whose name the template fixes, as the stack would create it. */
export interface RetainedBucket {
  logicalId: string;
  bucketName: string;
}

/** What the bucket of a `RetainedBucket` is in the tenant's account. */
export type BucketFinding = { state: 'absent' } | { state: 'ours' } | { state: 'foreign'; reason: string };


interface TemplateResource {
  Type?: string;
  DeletionPolicy?: string;
  Condition?: string;
  Properties?: Record<string, unknown>;
}
interface Template {
  AWSTemplateFormatVersion?: string;
  Description?: string;
  Parameters?: Record<string, unknown>;
  Resources?: Record<string, TemplateResource>;
}

const parseTemplate = (body: string): Template => parseCloudFormationYaml(body) as Template;

/** `${Name}` of a `Fn::Sub` string from the parameters and pseudo parameters; undefined when anything else is referenced. */
function substitute(text: string, values: Record<string, string>): string | undefined {
  let unresolved = false;
  const result = text.replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) unresolved = true;
    return value ?? '';
  });
  return unresolved ? undefined : result;
}

/**
 * The template's S3 buckets that a stack deletion keeps (DeletionPolicy Retain) and whose name
 * the template fixes (`BucketName` a string, or a `Fn::Sub` of parameters and pseudo parameters),
 * with their names for these parameters: the buckets that may outlive a stack and stand in the
 * way of the next one. A conditional bucket is left out (its condition is not evaluated here).
 */
export function retainedBuckets(templateBody: string, parameters: Record<string, string>, target: AwsTarget): RetainedBucket[] {
  const template = parseTemplate(templateBody);
  const values: Record<string, string> = {
    ...parameters,
    'AWS::AccountId': target.accountId,
    'AWS::Region': target.region,
    'AWS::Partition': target.region.startsWith('cn-') ? 'aws-cn' : target.region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws',
  };
  const found: RetainedBucket[] = [];
  for (const [logicalId, resource] of Object.entries(template.Resources ?? {})) {
    if (resource.Type !== 'AWS::S3::Bucket' || resource.DeletionPolicy !== 'Retain' || resource.Condition) continue;
    const name = resource.Properties?.BucketName;
    const sub = typeof name === 'object' && name !== null ? (name as Record<string, unknown>)['Fn::Sub'] : undefined;
    const bucketName = typeof name === 'string' ? name : typeof sub === 'string' ? substitute(sub, values) : undefined;
    if (bucketName) found.push({ logicalId, bucketName });
  }
  return found;
}

/**
 * The template an IMPORT change set sends: the full template's parameters (the change set passes
 * the same values) and only the resources to import, as the full template has them, so the
 * update that follows finds them unchanged. AWS refuses an IMPORT template with any other resource.
 */
export function importTemplate(templateBody: string, logicalIds: string[]): string {
  const template = parseTemplate(templateBody);
  const resources = template.Resources ?? {};
  return JSON.stringify({
    AWSTemplateFormatVersion: template.AWSTemplateFormatVersion ?? '2010-09-09',
    ...(template.Description ? { Description: template.Description } : {}),
    ...(template.Parameters ? { Parameters: template.Parameters } : {}),
    Resources: Object.fromEntries(logicalIds.map((id) => [id, resources[id]])),
  });
}

const httpStatus = (error: unknown) => (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

/**
 * Whether the bucket exists in the tenant's account and is the tenant's: owned by the account
 * (S3 answers 403 to `ExpectedBucketOwner` for another owner, and to a bucket the role may not
 * see) and tagged `TenantId` = the tenant, as the template tags it. Anything else that exists is
 * not adopted: a stack must never take over a bucket that is someone else's.
 */
export async function inspectBucket(s3: S3Client, bucketName: string, accountId: string, tenantId: string): Promise<BucketFinding> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucketName, ExpectedBucketOwner: accountId }), { abortSignal: abortSignal() });
  } catch (error) {
    const status = httpStatus(error);
    if (status === 404 || (error as Error).name === 'NotFound' || (error as Error).name === 'NoSuchBucket') return { state: 'absent' };
    if (status === 403) return { state: 'foreign', reason: `it exists but is not owned by account ${accountId}, or the fleet role may not read it (HeadBucket answered 403)` };
    if (status === 301) return { state: 'foreign', reason: 'it exists in another region than the tenant\'s (HeadBucket answered 301)' };
    throw error;
  }
  let tags: { Key?: string; Value?: string }[] = [];
  try {
    tags = (await s3.send(new GetBucketTaggingCommand({ Bucket: bucketName, ExpectedBucketOwner: accountId }), { abortSignal: abortSignal() })).TagSet ?? [];
  } catch (error) {
    if ((error as Error).name !== 'NoSuchTagSet') throw error;
  }
  const tag = tags.find((t) => t.Key === 'TenantId')?.Value;
  if (tag !== tenantId) {
    return { state: 'foreign', reason: tag === undefined ? `it has no TenantId tag (expected ${tenantId})` : `its TenantId tag is ${tag} (expected ${tenantId})` };
  }
  return { state: 'ours' };
}

/** The refusal of a retained bucket that is not the tenant's, before anything is created. */
export function foreignBucketFailure(stackName: string, bucket: RetainedBucket, reason: string) {
  return permanentFailure(
    ErrorType.ResourceNotOwned,
    `stack ${stackName} would create bucket ${bucket.bucketName} (${bucket.logicalId}), which exists and is not this tenant's: ${reason}. Nothing was created; remove or rename that bucket, or tag it TenantId if it is the tenant's, and provision again`,
    { details: [{ stackName, logicalId: bucket.logicalId, bucketName: bucket.bucketName, reason }] },
  );
}
