import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Failures carry the same secrets payloads do: an AWS error message names accounts, ARNs and
 * hostnames, a stack trace the code's paths. With `encodeCommonAttributes` a failure's message
 * and stack trace move into an encoded payload, which the payload codec then encrypts like any
 * other; history keeps only "Encoded failure". Clients, the codec server (for the UI) and workers
 * decrypt them back.
 *
 * Loaded by path (`failureConverterPath`): the worker's main thread and clients `require` it, and
 * the workflow bundle includes it (bundle.ts), since failures raised in workflow code are converted
 * inside the workflow sandbox. So this module may import nothing but the SDK's common package.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
