import { ApplicationFailure } from '@temporalio/common';

/**
 * Every permanent failure the project raises carries one of these types, so retry
 * policies (`nonRetryableErrorTypes`), the CLI's exit codes and the UI all read the same word.
 */
export enum ErrorType {
  InvalidInput = 'InvalidInput',
  UnknownTenant = 'UnknownTenant',
  TenantLocked = 'TenantLocked',
  ProductionConfirmationRequired = 'ProductionConfirmationRequired',
  AccessDenied = 'AccessDenied',
  StackFailed = 'StackFailed',
  StackInUnrecoverableState = 'StackInUnrecoverableState',
  /** A release's change set would replace or remove a stateful resource it does not allow by name (docs/releases.md, "Infrastructure changes"). */
  StatefulReplacementRefused = 'StatefulReplacementRefused',
  SnapshotFailed = 'SnapshotFailed',
  RolloutFailed = 'RolloutFailed',
  VerificationFailed = 'VerificationFailed',
  RollbackFailed = 'RollbackFailed',
  CertificateValidationStuck = 'CertificateValidationStuck',
  CertificateInUse = 'CertificateInUse',
  ResourceNotFound = 'ResourceNotFound',
  /** A resource a stack would create exists but is not the tenant's (another owner, not tagged with the tenant): it is not adopted. */
  ResourceNotOwned = 'ResourceNotOwned',
  /** AWS refused the request's parameters (ValidationError, InvalidParameterValue, ...). */
  AwsRequestInvalid = 'AwsRequestInvalid',
  /** An AWS service quota (LimitExceeded, SnapshotQuotaExceeded, TooManyCertificates, ...). */
  QuotaExceeded = 'QuotaExceeded',
  /** Throttled by AWS: retried with back-off. */
  AwsThrottled = 'AwsThrottled',
  /** AWS answered 5xx: retried with back-off. */
  AwsUnavailable = 'AwsUnavailable',
  Timeout = 'Timeout',
  Aborted = 'Aborted',
  ReleaseHalted = 'ReleaseHalted',
  /** A notification channel did not take a delivery (src/activities/notify.ts); never fails a release. */
  NotificationFailed = 'NotificationFailed',
}

export interface FailureOptions {
  cause?: unknown;
  details?: unknown[];
}

/** A failure that retrying cannot fix: bad input, a resource in a state only a human can repair. */
export function permanentFailure(type: ErrorType, message: string, options: FailureOptions = {}): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: true,
    details: options.details,
    cause: toError(options.cause),
  });
}

/** A typed failure that the activity's retry policy may retry (for example a rollout still converging). */
export function retryableFailure(type: ErrorType, message: string, options: FailureOptions = {}): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: false,
    details: options.details,
    cause: toError(options.cause),
  });
}

function toError(cause: unknown): Error | undefined {
  if (cause === undefined) return undefined;
  return cause instanceof Error ? cause : new Error(typeof cause === 'string' ? cause : JSON.stringify(cause));
}

/** Used by retry policies: these types never succeed on a second attempt. */
export const NON_RETRYABLE_ERROR_TYPES: readonly ErrorType[] = [
  ErrorType.InvalidInput,
  ErrorType.UnknownTenant,
  ErrorType.ProductionConfirmationRequired,
  ErrorType.AccessDenied,
  ErrorType.AwsRequestInvalid,
  ErrorType.QuotaExceeded,
  ErrorType.ResourceNotFound,
  ErrorType.ResourceNotOwned,
  ErrorType.StackInUnrecoverableState,
  ErrorType.CertificateInUse,
];
