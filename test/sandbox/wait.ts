import { throwIfInterrupted } from './interrupt';

/**
 * Polls `probe` until it returns true or `timeoutMs` passes; the last probe error becomes the
 * cause. An aborted `signal` ends the wait with an InterruptedError at the next poll.
 */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  { timeoutMs = 60_000, intervalMs = 250, isAlive = () => true, signal }: { timeoutMs?: number; intervalMs?: number; isAlive?: () => boolean; signal?: AbortSignal } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    throwIfInterrupted(signal);
    if (!isAlive()) throw new Error(`${what}: the process exited before it became ready`, { cause: lastError });
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms`, { cause: lastError });
}

export async function httpOk(url: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  await response.arrayBuffer();
  return response.status < 500;
}
