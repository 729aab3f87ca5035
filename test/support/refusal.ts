import { InputValidationError } from '../../src/shared/validation';

/** The problems `run` is refused with; fails the test if it is not refused, or throws anything else. */
export function refusal(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof InputValidationError) return error.problems;
    throw error;
  }
  throw new Error('expected a refusal');
}
