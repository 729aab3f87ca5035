import { Runtime } from '@temporalio/worker';
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { JsonLogger } from '../../src/workers/logging';

/**
 * Sends the log of the workers that `npm run sandbox` and `npm run demo` run in their own
 * process (SDK, workflow, activity and Core logs, as JSON lines) to `path` instead of the
 * console, where the failures the demo provokes on purpose would print walls of stack traces.
 * Call once, before the first worker or native connection is created. The signals stay with
 * the script (test/sandbox/interrupt.ts): the runtime's own handlers would start a second,
 * competing shutdown.
 */
export function logWorkersToFile(path: string): string {
  mkdirSync(dirname(path), { recursive: true });
  Runtime.install({
    logger: new JsonLogger('INFO', (_level, line) => appendFileSync(path, `${line}\n`)),
    shutdownSignals: [],
    telemetryOptions: { logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} } },
  });
  return path;
}
