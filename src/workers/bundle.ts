import { bundleWorkflowCode } from '@temporalio/worker';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FAILURE_CONVERTER_PATH } from '../client/codec';

export const WORKFLOWS_ENTRY = join(__dirname, '..', 'workflows', 'index.ts');

/**
 * Bundles the workflow code once, so workers (and test runs) start without webpack. The bundle
 * carries the failure converter, so failures raised in workflow code are encrypted as well.
 */
export async function writeWorkflowBundle(outputPath: string): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve(WORKFLOWS_ENTRY), failureConverterPath: FAILURE_CONVERTER_PATH, logger: quietLogger });
  mkdirSync(dirname(outputPath), { recursive: true });
  writeFileSync(outputPath, code);
  return outputPath;
}

const noop = () => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error, log: noop };
