import { shortHash } from '../ids';

/*
 * A release's migration step (docs/releases.md, "Migrations"), shared by the workflow, the
 * runtime activities and the tests: the identity of one release's migration of one tenant, and
 * what the tenant's history keeps of its run.
 */

/** The last lines of a migration's output kept in the tenant's result (and so its history). */
export const MIGRATION_OUTPUT_LINES = 20;
/** Each kept line at most this long: a stack trace of one long line must not fill the history. */
export const MIGRATION_LINE_CHARS = 300;

/** What a migration run came to, as the runtime's activity reports it. */
export interface MigrationRun {
  /** The ECS task ARN, or `Job <namespace>/<name>`. */
  task: string;
  /** The migration container's exit code; null when it never ran to an end (stopped, not started). */
  exitCode: number | null;
  succeeded: boolean;
  /** Why it failed besides its exit code (a timeout, a task that could not start), when known. */
  reason?: string;
  /** Its last lines of output (ECS: CloudWatch Logs; Kubernetes: the container's termination message). */
  output: string[];
  /** True when this attempt found the run an earlier attempt had started instead of starting one. */
  reused: boolean;
}

/**
 * The key that makes the step idempotent per release and tenant: ECS `startedBy` (at most 36
 * characters of letters, digits, "-" and "_"), the suffix of the Kubernetes Job's name. A hash,
 * because release IDs may hold characters neither allows; the task's tags and the Job's
 * annotations carry the IDs themselves, and the activities check them before reusing a run.
 */
export const migrationKey = (releaseId: string, tenantId: string) => `migrate-${shortHash(`${releaseId}\n${tenantId}`)}`;

/** The last `MIGRATION_OUTPUT_LINES` non-empty lines of some output, each cut to `MIGRATION_LINE_CHARS`. */
export function lastLines(text: string | string[]): string[] {
  const lines = (Array.isArray(text) ? text : text.split('\n')).flatMap((l) => l.split('\n')).map((l) => l.replace(/\s+$/, '')).filter((l) => l.length > 0);
  return lines.slice(-MIGRATION_OUTPUT_LINES).map((l) => (l.length > MIGRATION_LINE_CHARS ? `${l.slice(0, MIGRATION_LINE_CHARS - 1)}…` : l));
}

/** One line for the step's detail and the tenant's reason: the exit code and the last line of output. */
export function describeMigration(run: MigrationRun): string {
  const exit = run.exitCode === null ? 'no exit code' : `exit code ${run.exitCode}`;
  const last = run.output.at(-1);
  return [exit, run.reason, last ? `last output: ${last}` : 'no output'].filter(Boolean).join('; ');
}
