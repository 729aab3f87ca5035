import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../sandbox/tools';

export const SANDBOX_HANDLE = '__tenantFleetSandbox';
export const TEST_ENV_FILE = join(repoRoot, '.sandbox', 'test', 'env.json');

/** The running sandbox's addresses, as written by global-setup. */
export function sandboxEnv(): Record<string, string> {
  return JSON.parse(readFileSync(TEST_ENV_FILE, 'utf8')) as Record<string, string>;
}
