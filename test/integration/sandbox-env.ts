import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { repoRoot } from '../sandbox/tools';

export const SANDBOX_HANDLE = '__tenantFleetSandbox';

/**
 * Where the integration run keeps its sandbox. `TENANT_FLEET_TEST_SANDBOX` lets two runs on
 * one machine (a developer's and an agent's, say) each have their own servers and state.
 */
export const TEST_SANDBOX_DIR = ((dir) => (isAbsolute(dir) ? dir : join(repoRoot, dir)))(
  process.env.TENANT_FLEET_TEST_SANDBOX ?? join('.sandbox', 'test'),
);
export const TEST_ENV_FILE = join(TEST_SANDBOX_DIR, 'env.json');

/** The running sandbox's addresses, as written by global-setup. */
export function sandboxEnv(): Record<string, string> {
  return JSON.parse(readFileSync(TEST_ENV_FILE, 'utf8')) as Record<string, string>;
}
