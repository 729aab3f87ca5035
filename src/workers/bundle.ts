import { bundleWorkflowCode, type BundleOptions } from '@temporalio/worker';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FAILURE_CONVERTER_PATH } from '../client/codec';

/** The workflows' folder, so that the compiled worker (dist/, .js) bundles them as well as the sources (.ts). */
const WORKFLOWS_DIR = join(__dirname, '..', 'workflows');

/**
 * Modules the reusable V8 context evaluates once for all workflows instead of once per workflow.
 * Every other module of the bundle is evaluated again for each workflow the worker creates (its
 * own module cache): zod and the schemas built from it were most of that, in memory and in CPU
 * (docs/benchmarks.md, "Worker memory"). Only modules without per-workflow state belong here:
 * constants, pure functions and zod schemas, and nothing that imports `@temporalio/workflow`
 * (a shared copy of its API would not be the workflow's own). The SDK deep-freezes them.
 */
export const SHARED_WORKFLOW_MODULES = [join(__dirname, '..', 'shared', 'zod-preload')];

/** What every bundle of the workflow code is built with: the product's and the bench's. */
export const workflowBundleOptions = (workflowsPath: string): BundleOptions => ({
  workflowsPath,
  // Failures raised in workflow code are encrypted as well.
  failureConverterPath: FAILURE_CONVERTER_PATH,
  preloadModules: SHARED_WORKFLOW_MODULES,
  logger: quietLogger,
});

/** The workflow code, bundled (workers given no prebuilt bundle do this at start). */
export async function bundleWorkflows(workflowsPath = WORKFLOWS_DIR): Promise<string> {
  return (await bundleWorkflowCode(workflowBundleOptions(workflowsPath))).code;
}

/** Bundles the workflow code once, so workers (and test runs) start without webpack. */
export async function writeWorkflowBundle(outputPath: string, workflowsPath?: string): Promise<string> {
  const code = await bundleWorkflows(workflowsPath);
  mkdirSync(dirname(outputPath), { recursive: true });
  writeFileSync(outputPath, code);
  return outputPath;
}

const noop = () => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error, log: noop };
