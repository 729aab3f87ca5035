import { Runtime, type Logger } from '@temporalio/worker';

/** Keeps errors only: a worker's state changes and webpack's progress are noise in test output. */
export const errorsOnlyLogger: Logger = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error };

/**
 * Installs the process-wide Temporal runtime with the errors-only logger, for Core's own lines
 * too. Must run before the first Worker or NativeConnection of the process is made: the SDK
 * installs a default, chattier runtime then, and refuses a second install.
 */
export function installQuietRuntime(): void {
  Runtime.install({ logger: errorsOnlyLogger, telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } } });
}
