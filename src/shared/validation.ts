import type { z } from 'zod';
import { ErrorType, permanentFailure } from './errors';

/** One line per problem: `path: message (got value)`, the form every boundary of the project reports. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], input: unknown): string[] {
  return issues.map((issue) => {
    const path = formatPath(issue.path);
    const got = valueAt(input, issue.path);
    return `${path}: ${issue.message} (got ${formatValue(got)})`;
  });
}

/** Thrown before anything starts when input does not match its schema; lists every problem. */
export class InputValidationError extends Error {
  constructor(
    readonly subject: string,
    readonly problems: string[],
  ) {
    super(`${subject} is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'InputValidationError';
  }
}

/** Parses `input` with `schema` or throws an InputValidationError naming every field at fault. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, subject: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new InputValidationError(subject, describeIssues(result.error.issues, input));
}

/**
 * Parses `input` with `schema` or throws a non-retryable `InvalidInput` failure (retrying
 * cannot fix input) naming every field at fault; the one check at every Temporal boundary:
 * workflow inputs (re-checked inside the workflow, so a run started by hand from the UI gets
 * the same refusal as one from tenantctl) and activity inputs. No Node built-ins, so workflow
 * code may import it.
 */
export function parseOrFail<S extends z.ZodType>(schema: S, input: unknown, subject: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = describeIssues(result.error.issues, input);
  throw permanentFailure(ErrorType.InvalidInput, `${subject} is invalid: ${problems.join('; ')}`, { details: problems });
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`))
    .join('');
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = input;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

function formatValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  if (text === undefined) return typeof value;
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
