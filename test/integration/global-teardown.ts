import type { Sandbox } from '../sandbox';
import { SANDBOX_HANDLE } from './sandbox-env';

export default async function globalTeardown(): Promise<void> {
  const sandbox = (globalThis as Record<string, unknown>)[SANDBOX_HANDLE] as Sandbox | undefined;
  await sandbox?.stop();
}
