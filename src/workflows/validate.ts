import type { z } from 'zod';
import { ErrorType, permanentFailure } from '../shared/errors';
import { describeIssues } from '../shared/validation';

/**
 * Workflow inputs are validated again inside the workflow (the client validates first), so
 * a workflow started by hand from the UI or `temporal workflow start` gets the same refusal.
 */
export function validateWorkflowInput<S extends z.ZodType>(schema: S, input: unknown, subject: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = describeIssues(result.error.issues, input);
  throw permanentFailure(ErrorType.InvalidInput, `${subject} is invalid: ${problems.join('; ')}`, { details: problems });
}
