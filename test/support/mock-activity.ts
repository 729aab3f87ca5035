import { MockActivityEnvironment } from '@temporalio/testing';
import { errorsOnlyLogger } from './quiet-runtime';

/**
 * An activity context for unit tests. The SDK logs every activity failure as a warning with its
 * whole cause; here the tests assert those failures themselves, so the warnings are only noise.
 */
export const quietActivityEnvironment = (): MockActivityEnvironment => new MockActivityEnvironment(undefined, { logger: errorsOnlyLogger });
