import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeWorkflowBundle } from '../../src/workers/bundle';
import { startSandbox } from '../sandbox';
import { repoRoot } from '../sandbox/tools';
import { SANDBOX_HANDLE, TEST_ENV_FILE } from './sandbox-env';

/** One sandbox for the whole integration run; test files read its addresses from TEST_ENV_FILE. */
export default async function globalSetup(): Promise<void> {
  const sandbox = await startSandbox({
    stateDir: join(repoRoot, '.sandbox', 'test'),
    fresh: true,
    log: (line) => process.stdout.write(`[sandbox] ${line}\n`),
  });
  (globalThis as Record<string, unknown>)[SANDBOX_HANDLE] = sandbox;
  const bundle = await writeWorkflowBundle(join(sandbox.stateDir, 'workflow-bundle.js'));
  writeFileSync(TEST_ENV_FILE, JSON.stringify({ ...sandbox.env, TENANT_FLEET_WORKFLOW_BUNDLE: bundle }, null, 2));
}
