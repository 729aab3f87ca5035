import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeWorkflowBundle } from '../../src/workers/bundle';
import { startSandbox, type TemporalFlavor } from '../sandbox';
import { SANDBOX_HANDLE, TEST_ENV_FILE, TEST_SANDBOX_DIR } from './sandbox-env';

/** One sandbox for the whole integration run; test files read its addresses from TEST_ENV_FILE. */
export default async function globalSetup(): Promise<void> {
  const sandbox = await startSandbox({
    stateDir: TEST_SANDBOX_DIR,
    fresh: true,
    // TENANT_FLEET_TEST_KUBE=0 leaves the Kubernetes cluster out, for a quick run of AWS-only suites.
    kubernetes: process.env.TENANT_FLEET_TEST_KUBE !== '0',
    // TENANT_FLEET_TEST_TEMPORAL=cluster: the production-shaped Temporal (docs/testing.md).
    temporal: (process.env.TENANT_FLEET_TEST_TEMPORAL || 'dev') as TemporalFlavor,
    // TENANT_FLEET_TEST_ECS_TASKS=1: ECS tasks behind a load balancer are tenant app processes (scripts/test-integration.sh sets it per file).
    ecsTasks: process.env.TENANT_FLEET_TEST_ECS_TASKS === '1',
    log: (line) => process.stdout.write(`[sandbox] ${line}\n`),
  });
  (globalThis as Record<string, unknown>)[SANDBOX_HANDLE] = sandbox;
  const bundle = await writeWorkflowBundle(join(sandbox.stateDir, 'workflow-bundle.js'));
  writeFileSync(TEST_ENV_FILE, JSON.stringify({ ...sandbox.env, TENANT_FLEET_WORKFLOW_BUNDLE: bundle }, null, 2));
}
