import {
  ServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { CodecKeyConfigError } from '../codec';
import { UnknownTenantError } from '../../shared/config/resolve';
import { ErrorType } from '../../shared/errors';
import { InputValidationError } from '../../shared/validation';
import type { ReleaseSummary } from '../../shared/messages/release';

/**
 * The CLI's exit codes, a contract for CI scripts: keep them stable. Documented in
 * `tenantctl --help` (from EXIT_CODE_HELP) and the README.
 */
export const EXIT = {
  ok: 0,
  /** The operation ran and did not succeed: a release halted or completed with failures, a provisioning failed. */
  failed: 1,
  /** Nothing was started: bad arguments, unknown tenant/plan/release, a request the workflow refused. */
  refused: 2,
  /** The release was aborted (by a person, or by an approval that timed out). */
  aborted: 3,
  /** The Temporal frontend could not be reached (address, TLS, API key). */
  cannotConnect: 4,
  /** AWS denied a call (AccessDenied): the account's access or stack role lacks a permission. */
  awsAccessDenied: 5,
  /** AWS refused a call's parameters (AwsRequestInvalid): the fleet config or a resource is wrong. */
  awsRequestInvalid: 6,
  /** An AWS service quota was reached (QuotaExceeded): raise it, or free some. */
  awsQuotaExceeded: 7,
  /**
   * AWS throttled or answered 5xx until the activity's time ran out (AwsThrottled, AwsUnavailable):
   * the only code worth retrying later unchanged, so both share it.
   */
  awsBusy: 8,
  /** Ctrl-C while following a release; the release itself keeps running. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODE_HELP = [
  `${EXIT.ok}    success (for --wait/--watch: every tenant succeeded)`,
  `${EXIT.failed}    failed: the release halted or completed with failures, or an operation failed`,
  `${EXIT.refused}    refused input: bad arguments, unknown tenant, plan or release, or a request the release refused; nothing was started`,
  `${EXIT.aborted}    the release was aborted`,
  `${EXIT.cannotConnect}    cannot connect to Temporal`,
  `${EXIT.awsAccessDenied}    AWS denied a call (AccessDenied): a role lacks a permission`,
  `${EXIT.awsRequestInvalid}    AWS refused a call's parameters (AwsRequestInvalid)`,
  `${EXIT.awsQuotaExceeded}    an AWS service quota was reached (QuotaExceeded)`,
  `${EXIT.awsBusy}    AWS throttled or was unavailable until the operation's time ran out: try again later`,
  `${EXIT.interrupted}  interrupted while following (the release keeps running)`,
];

/** Input the CLI refuses before anything starts; `problems` are `field: problem (got value)` lines. */
export class CliInputError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'CliInputError';
  }
}

export class CannotConnectError extends Error {
  constructor(address: string, cause: unknown) {
    super(`cannot connect to Temporal at ${address}: ${(cause as Error)?.message ?? String(cause)} (check TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS and TEMPORAL_API_KEY; see tenantctl --help)`, { cause });
    this.name = 'CannotConnectError';
  }
}

/** Types of ApplicationFailure that mean "your request was refused", not "it went wrong". */
const REFUSAL_TYPES: readonly string[] = [ErrorType.InvalidInput, ErrorType.UnknownTenant, ErrorType.ProductionConfirmationRequired];

export function exitCodeForSummary(summary: Pick<ReleaseSummary, 'status'>): ExitCode {
  switch (summary.status) {
    case 'succeeded':
      return EXIT.ok;
    case 'aborted':
      return EXIT.aborted;
    default:
      return EXIT.failed;
  }
}

/** Maps anything thrown by a command to its exit code. */
export function exitCodeForError(error: unknown): ExitCode {
  if (error instanceof CliInputError || error instanceof InputValidationError || error instanceof UnknownTenantError || error instanceof CodecKeyConfigError) return EXIT.refused;
  if (error instanceof WorkflowNotFoundError || error instanceof WorkflowExecutionAlreadyStartedError) return EXIT.refused;
  if (error instanceof CannotConnectError) return EXIT.cannotConnect;
  if (error instanceof ServiceError && isUnavailable(error)) return EXIT.cannotConnect;
  const failure = applicationFailureOf(error);
  if (failure) {
    if (REFUSAL_TYPES.includes(failure.type ?? '')) return EXIT.refused;
    if (failure.type === ErrorType.Aborted) return EXIT.aborted;
  }
  return awsExitCode(error) ?? EXIT.failed;
}

const AWS_EXIT_CODES: Partial<Record<string, ExitCode>> = {
  [ErrorType.AccessDenied]: EXIT.awsAccessDenied,
  [ErrorType.AwsRequestInvalid]: EXIT.awsRequestInvalid,
  [ErrorType.QuotaExceeded]: EXIT.awsQuotaExceeded,
  [ErrorType.AwsThrottled]: EXIT.awsBusy,
  [ErrorType.AwsUnavailable]: EXIT.awsBusy,
};

/**
 * The AWS error behind a failed operation: a workflow fails with its own failure, whose cause
 * chain (activity failure, timeout, the last attempt's failure) ends in the activity's
 * classified AWS error (src/activities/aws/errors.ts). The SDK does not decode a timeout's cause,
 * so below a decoded failure the raw one it came from is read too.
 */
function awsExitCode(error: unknown): ExitCode | undefined {
  const seen = new Set<unknown>();
  for (let e: unknown = error; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    if (e instanceof ApplicationFailure && AWS_EXIT_CODES[e.type ?? ''] !== undefined) return AWS_EXIT_CODES[e.type ?? ''];
    if (e instanceof TemporalFailure && !e.cause) {
      for (let f = e.failure?.cause; f; f = f.cause) {
        const code = AWS_EXIT_CODES[f.applicationFailureInfo?.type ?? ''];
        if (code !== undefined) return code;
      }
    }
  }
  return undefined;
}

/** The ApplicationFailure behind a failed workflow or a refused update, if there is one. */
export function applicationFailureOf(error: unknown): ApplicationFailure | undefined {
  if (error instanceof ApplicationFailure) return error;
  if (error instanceof WorkflowFailedError || error instanceof WorkflowUpdateFailedError) {
    return error.cause instanceof ApplicationFailure ? error.cause : undefined;
  }
  return undefined;
}

/**
 * gRPC UNAVAILABLE (https://grpc.github.io/grpc/core/md_doc_statuscodes.html): the server was not
 * reached. DEADLINE_EXCEEDED is not counted: a query nobody answers (no worker) ends that way too.
 */
const GRPC_UNAVAILABLE = 14;

function isUnavailable(error: ServiceError): boolean {
  return (error.cause as { code?: number } | undefined)?.code === GRPC_UNAVAILABLE;
}
