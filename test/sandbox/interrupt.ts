/**
 * Ctrl-C and SIGTERM for the scripts that start a sandbox (`npm run sandbox`, `npm run demo`,
 * `npm run test:chaos`). The sandbox's servers run in process groups of their own, so a
 * terminal's Ctrl-C never reaches them: the script must stop them, at whatever point of its
 * start-up the signal comes. startSandbox takes the signal below and stops what it started
 * and what was still starting; the exit hooks of test/sandbox/process.ts and
 * test/sandbox/kube/cluster.ts SIGKILL whatever is left once the process exits.
 */

/** 128 + the signal's number, as a shell reports a process the signal ended. */
export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

/** How long stopping may take before the process exits anyway (its exit hooks then SIGKILL what is left). */
const STOP_DEADLINE_MS = 60_000;

export interface Interrupt {
  /** Aborted by the first SIGINT or SIGTERM; its reason is the signal's name. */
  signal: AbortSignal;
  /** 130 or 143 once a signal came. */
  exitCode(): number | undefined;
}

/**
 * The first SIGINT/SIGTERM aborts `signal`; later ones (a terminal and npm may each deliver
 * one) only say that it is stopping. From then on, errors the abandoned work throws (gRPC calls
 * failing as the servers go away, some from timers) are logged in one line instead of ending
 * the process before its servers are stopped, and after `deadlineMs` the process exits anyway.
 */
export function interruptOnSignals(options: { label: string; deadlineMs?: number }): Interrupt {
  const controller = new AbortController();
  const say = (line: string) => console.error(`[${options.label}] ${line}`);
  let exitCode: number | undefined;
  for (const name of Object.keys(SIGNAL_EXIT_CODES) as (keyof typeof SIGNAL_EXIT_CODES)[]) {
    process.on(name, () => {
      if (exitCode !== undefined) {
        say(`${name}: already stopping the sandbox`);
        return;
      }
      exitCode = SIGNAL_EXIT_CODES[name];
      say(`${name}: stopping the sandbox`);
      const abandoned = (error: unknown) => say(`while stopping, abandoned work failed: ${firstLine(error)}`);
      process.on('uncaughtException', abandoned);
      process.on('unhandledRejection', abandoned);
      const deadlineMs = options.deadlineMs ?? STOP_DEADLINE_MS;
      setTimeout(() => {
        say(`the sandbox did not stop within ${deadlineMs / 1000} s; killing what is left`);
        process.exit(exitCode);
      }, deadlineMs).unref();
      controller.abort(name);
    });
  }
  return { signal: controller.signal, exitCode: () => exitCode };
}

/** The error an aborted start-up rejects with: the signal's name, no stack worth printing. */
export class InterruptedError extends Error {
  constructor(reason: unknown) {
    super(`interrupted (${String(reason)})`);
    this.name = 'InterruptedError';
  }
}

/**
 * `promise`, or an InterruptedError as soon as `signal` aborts. For work that starts no server
 * (seeding accounts, creating the in-process workers): it goes on, and its late rejection is
 * ignored, until the servers it talks to are stopped and the process exits.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const onAbort = () => {
      settled = true;
      reject(new InterruptedError(signal.reason));
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (!settled) resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passed on as the work rejected
        if (!settled) reject(error);
      },
    );
  });
}

/** Throws an InterruptedError if `signal` has aborted. */
export function throwIfInterrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new InterruptedError(signal.reason);
}

/** Resolves once `signal` aborts (never without one). */
export function untilInterrupted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0] ?? text;
}
