import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeWorkflowBundle } from '../../src/workers/bundle';
import { startSandbox, type TemporalFlavor } from '../sandbox';
import { SANDBOX_HANDLE, TEST_ENV_FILE, TEST_SANDBOX_DIR } from './sandbox-env';

/** One sandbox for the whole integration run; test files read its addresses from TEST_ENV_FILE. */
export default async function globalSetup(): Promise<void> {
  // Files that start their own sandbox or servers (chaos, the demo, npm run sandbox) would never use this one.
  if (process.env.TENANT_FLEET_TEST_NO_SANDBOX === '1') return;
  const sandboxStart = startSandbox({
    stateDir: TEST_SANDBOX_DIR,
    fresh: true,
    // TENANT_FLEET_TEST_KUBE=0 leaves the Kubernetes cluster out, for a quick run of AWS-only suites.
    kubernetes: process.env.TENANT_FLEET_TEST_KUBE !== '0',
    // TENANT_FLEET_TEST_TEMPORAL=cluster: the production-shaped Temporal (docs/testing.md).
    temporal: (process.env.TENANT_FLEET_TEST_TEMPORAL || 'dev') as TemporalFlavor,
    // TENANT_FLEET_TEST_ECS_TASKS=1: ECS tasks behind a load balancer are tenant app processes (scripts/test-integration.sh sets it per file).
    ecsTasks: process.env.TENANT_FLEET_TEST_ECS_TASKS === '1',
    // TENANT_FLEET_TEST_BLUE_GREEN=1: the load balancer's test listener is in the fleet config (scripts/test-integration.sh).
    blueGreen: process.env.TENANT_FLEET_TEST_BLUE_GREEN === '1',
    log: (line) => process.stdout.write(`[sandbox] ${line}\n`),
  });
  // scripts/test-integration.sh bundles the workflows once for all the files it runs; alone, a file
  // bundles them itself while its servers start.
  const prebuilt = process.env.TENANT_FLEET_TEST_WORKFLOW_BUNDLE;
  const bundling = prebuilt && existsSync(prebuilt) ? Promise.resolve(prebuilt) : writeWorkflowBundle(join(TEST_SANDBOX_DIR, 'workflow-bundle.js'));
  const [sandbox, bundle] = await Promise.allSettled([sandboxStart, bundling]);
  if (sandbox.status === 'rejected') throw sandbox.reason;
  (globalThis as Record<string, unknown>)[SANDBOX_HANDLE] = sandbox.value;
  if (bundle.status === 'rejected') {
    await sandbox.value.stop();
    throw bundle.reason;
  }
  writeFileSync(TEST_ENV_FILE, JSON.stringify({ ...sandbox.value.env, TENANT_FLEET_WORKFLOW_BUNDLE: bundle.value }, null, 2));
}
