import { ApplicationFailure } from '@temporalio/common';
import { ErrorType, permanentFailure, retryableFailure } from '../../shared/errors';

/**
 * The one place that decides what an AWS error means for a retry. Activities catch the few
 * errors they expect (a snapshot that does not exist yet, a stack already gone); whatever else
 * AWS answers reaches `asActivityFailure` at the activity's boundary (activities/index.ts):
 * - access denied, validation, not found and quota errors fail at once, non-retryable, naming the
 *   call (service:action), the account, the region and the resource: retrying cannot fix them, and
 *   a retry loop would hold the tenant's lock for nothing;
 * - throttling and 5xx are retried (the SDK's own attempts first, then Temporal's back-off);
 * - anything else (a conflict with an operation in progress, a network error) is left to retry.
 */

export interface AwsCall {
  /** IAM's service prefix: `rds`, `cloudformation`, ... */
  service: string;
  /** IAM's action name: `CreateDBClusterSnapshot`. */
  action: string;
  accountId: string;
  region: string;
  /** The identifiers the request named (`DBClusterIdentifier=tenant-acme-db`), when it named any. */
  resource?: string;
}

export type AwsErrorKind = 'access-denied' | 'validation' | 'not-found' | 'quota' | 'throttling' | 'server' | 'other';

const CALL = Symbol.for('tenant-fleet.aws-call');

/** Remembers on the SDK's error which call it answered; the error itself is rethrown unchanged. */
export function recordCall<E>(error: E, call: AwsCall): E {
  if (error !== null && typeof error === 'object' && !(CALL in error)) {
    Object.defineProperty(error, CALL, { value: call, enumerable: false });
  }
  return error;
}

export function callOf(error: unknown): AwsCall | undefined {
  return error !== null && typeof error === 'object' ? ((error as Record<symbol, AwsCall | undefined>)[CALL] ?? undefined) : undefined;
}

/** Request fields that identify what a call acts on; tokens and role ARNs are not the resource. */
const RESOURCE_FIELD = /(Identifier|Name|Names|Arn|Id|Ids|cluster|service|taskDefinition)$/;
const NOT_A_RESOURCE = new Set(['ClientRequestToken', 'NextToken', 'IdempotencyToken', 'RoleARN', 'KmsKeyId', 'SourceArn']);

export function resourceOf(input: unknown): string | undefined {
  if (input === null || typeof input !== 'object') return undefined;
  const named = Object.entries(input as Record<string, unknown>)
    .filter(([key]) => RESOURCE_FIELD.test(key) && !NOT_A_RESOURCE.has(key))
    .map(([key, value]) => [key, Array.isArray(value) ? value.filter((v) => typeof v === 'string').join(',') : value] as const)
    .filter((entry): entry is readonly [string, string] => typeof entry[1] === 'string' && entry[1] !== '')
    .slice(0, 3)
    .map(([key, value]) => `${key}=${value}`);
  return named.length > 0 ? named.join(', ') : undefined;
}

const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'SlowDown',
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
]);
const ACCESS_DENIED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'UnauthorizedException',
  'AuthorizationError',
  'AuthorizationErrorException',
  'NotAuthorized',
  'AuthFailure',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
]);
const VALIDATION = new Set([
  'ValidationError',
  'ValidationException',
  'InvalidParameterValue',
  'InvalidParameterValueException',
  'InvalidParameterCombination',
  'InvalidParameterException',
  'InvalidParameter',
  'InvalidInput',
  'InvalidInputException',
  'InvalidChangeBatch',
  'InvalidArnException',
  'InvalidDomainValidationOptionsException',
  'InvalidRequestException',
  'MissingParameter',
  'MalformedQueryString',
  'ClientException',
  'InvalidConfigurationRequest',
]);
const QUOTA = /LimitExceeded|QuotaExceeded|^TooMany(?!Requests)|Quota$/;
const NOT_FOUND = /NotFound(Fault|Exception)?$|^NoSuch|^ResourceNotFound/;
/** CloudFormation answers these with ValidationError although waiting fixes them. */
const CFN_BUSY = /IN_PROGRESS state and can ?not be updated|is in [A-Z_]+_IN_PROGRESS state/i;
const CFN_MISSING = /does not exist/i;

export function classifyAwsError(error: unknown): AwsErrorKind {
  if (error === null || typeof error !== 'object') return 'other';
  const e = error as { name?: string; message?: string; Code?: string; $fault?: string; $metadata?: { httpStatusCode?: number }; $retryable?: { throttling?: boolean } };
  const name = e.Code ?? e.name ?? '';
  const status = e.$metadata?.httpStatusCode;
  if (THROTTLING.has(name) || e.$retryable?.throttling || status === 429) return 'throttling';
  if (e.$fault === 'server' || (status !== undefined && status >= 500)) return 'server';
  if (ACCESS_DENIED.has(name)) return 'access-denied';
  if (name === 'ValidationError' && CFN_BUSY.test(e.message ?? '')) return 'other';
  if (name === 'ValidationError' && CFN_MISSING.test(e.message ?? '')) return 'not-found';
  if (NOT_FOUND.test(name)) return 'not-found';
  if (QUOTA.test(name)) return 'quota';
  if (VALIDATION.has(name)) return 'validation';
  if (status === 403) return 'access-denied';
  return 'other';
}

const FAILURE_TYPE: Record<Exclude<AwsErrorKind, 'other'>, ErrorType> = {
  'access-denied': ErrorType.AccessDenied,
  validation: ErrorType.AwsRequestInvalid,
  'not-found': ErrorType.ResourceNotFound,
  quota: ErrorType.QuotaExceeded,
  throttling: ErrorType.AwsThrottled,
  server: ErrorType.AwsUnavailable,
};

const WHAT_HAPPENED: Record<Exclude<AwsErrorKind, 'other'>, string> = {
  'access-denied': 'was denied',
  validation: 'was refused as invalid',
  'not-found': 'found no such resource',
  quota: 'hit a quota',
  throttling: 'was throttled',
  server: 'failed on the AWS side',
};

export function describeCall(call: AwsCall): string {
  return `${call.service}:${call.action} in account ${call.accountId} ${call.region}${call.resource ? ` on ${call.resource}` : ''}`;
}

/**
 * What an activity throws for an error: a typed ApplicationFailure for an AWS error of a known
 * kind (non-retryable unless it is throttling or 5xx), the error itself otherwise.
 */
export function asActivityFailure(error: unknown): unknown {
  if (error instanceof ApplicationFailure) return error;
  const call = callOf(error);
  if (!call) return error;
  const kind = classifyAwsError(error);
  if (kind === 'other') return error;
  const e = error as { name?: string; Code?: string; message?: string };
  const message = `${describeCall(call)} ${WHAT_HAPPENED[kind]}: ${e.Code ?? e.name}: ${e.message}`;
  const details = [{ ...call, errorCode: e.Code ?? e.name, kind }];
  return kind === 'throttling' || kind === 'server'
    ? retryableFailure(FAILURE_TYPE[kind], message, { cause: error, details })
    : permanentFailure(FAILURE_TYPE[kind], message, { cause: error, details });
}

/** Wraps each activity of a group so that what it throws goes through `asActivityFailure`. */
export function withAwsFailures<A extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: A): A {
  return Object.fromEntries(
    Object.entries(activities).map(([name, activity]) => [
      name,
      async (...args: never[]) => {
        try {
          return await activity(...args);
        } catch (error) {
          throw asActivityFailure(error);
        }
      },
    ]),
  ) as A;
}
