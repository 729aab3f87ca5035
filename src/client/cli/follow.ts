import type { Client } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import { TERMINAL_TENANT_STATUSES, releaseProgressQuery, type ReleaseProgress, type ReleaseSummary } from '../../shared/messages/release';
import { describeCounts } from '../../shared/release/report';
import { releaseOutcome, type ReleaseHandle } from '../releases';
import type { Output } from './output';
import { knownTenants, progressBlock, progressEvents, tenantEvent } from './release-view';

/** `live` redraws a block on a terminal; `lines` logs changes (pipes, CI); `none` only waits. */
export type FollowView = 'live' | 'lines' | 'none';

export interface FollowOptions {
  view: FollowView;
  out: Output;
  url?: string;
  intervalMs?: number;
  /** Registers a Ctrl-C handler; returns its removal. */
  onInterrupt?: (handler: () => void) => () => void;
}

export type FollowResult = { interrupted: false; summary: ReleaseSummary } | { interrupted: true; progress?: ReleaseProgress };

/**
 * Follows a release to its end. The result comes from the workflow itself (releaseOutcome,
 * which needs no worker); the view polls the `progress` query, and a query that fails (no
 * worker polling right now) is reported once and retried, never fatal.
 */
export async function followRelease(client: Client, handle: ReleaseHandle, options: FollowOptions): Promise<FollowResult> {
  const { out, view } = options;
  const intervalMs = options.intervalMs ?? 1_000;
  let settled = false;
  const outcome = releaseOutcome(handle).finally(() => {
    settled = true;
  });
  // Observed here so an early rejection is not "unhandled" while the loop below still polls.
  outcome.catch(() => undefined);

  let interrupted = false;
  let wakeInterrupt: () => void = () => undefined;
  const interruptedPromise = new Promise<void>((resolve) => (wakeInterrupt = resolve));
  const removeHandler = options.onInterrupt?.(() => {
    interrupted = true;
    wakeInterrupt();
  });

  const live = new LiveBlock(out);
  let last: ReleaseProgress | undefined;
  let queryProblem: string | undefined;
  try {
    while (!settled && !interrupted && view !== 'none') {
      try {
        const progress = await client.withDeadline(Date.now() + 5_000, () => handle.query(releaseProgressQuery));
        if (view === 'live') live.draw(progressBlock(out, progress, options.url));
        else for (const event of progressEvents(last, progress)) out.line(`${timestamp()} ${event}`);
        last = progress;
        queryProblem = undefined;
      } catch (error) {
        const problem = (error as Error).message;
        if (problem !== queryProblem && !settled) out.line(out.paint('yellow', `${timestamp()} progress not available yet (${problem}); still waiting for the result`));
        queryProblem = problem;
      }
      await Promise.race([sleep(intervalMs), outcome.then(noop, noop), interruptedPromise]);
    }
    if (view === 'none') await Promise.race([outcome.then(noop, noop), interruptedPromise]);
  } finally {
    removeHandler?.();
  }
  live.clear();
  if (interrupted && !settled) return { interrupted: true, progress: last };
  const summary = await outcome;
  // The last poll may predate the final transitions; the summary has them, so the log ends complete.
  if (view === 'lines') for (const event of finalEvents(last, summary)) out.line(`${timestamp()} ${event}`);
  return { interrupted: false, summary };
}

export function finalEvents(last: ReleaseProgress | undefined, summary: ReleaseSummary): string[] {
  const before = knownTenants(last);
  const listed = new Set(summary.tenants.map((t) => t.tenantId));
  const events = summary.tenants.filter((t) => before.get(t.tenantId)?.status !== t.status).map((t) => tenantEvent(t.tenantId, before.get(t.tenantId)?.status, t.status, t.reason));
  // The summary lists every tenant that ran and did not succeed: one seen running and not listed succeeded.
  if (!summary.notListed) {
    for (const [id, t] of before) {
      const mayNotHaveStarted = t.status === 'pending' && summary.notStarted;
      if (!listed.has(id) && !TERMINAL_TENANT_STATUSES.includes(t.status) && !mayNotHaveStarted) events.push(tenantEvent(id, t.status, 'succeeded'));
    }
  }
  return [...events, `release ${summary.releaseId} ${summary.status}${summary.reason ? `: ${summary.reason}` : ''} (${describeCounts(summary.counts)})`];
}

const noop = () => undefined;
const timestamp = () => new Date().toISOString().slice(11, 19);

/** A block of lines redrawn in place: cursor up over what was drawn, clear to the end, draw again. */
class LiveBlock {
  private rows = 0;
  constructor(private readonly out: Output) {}

  draw(lines: string[]): void {
    this.clear();
    for (const line of lines) this.out.line(line);
    // Long lines wrap; count the rows they take so the next redraw starts at the top of the block.
    this.rows = lines.reduce((n, line) => n + Math.max(1, Math.ceil(visibleLength(line) / Math.max(20, this.out.columns))), 0);
  }

  clear(): void {
    if (this.rows > 0) this.out.write(`\u001b[${this.rows}A\u001b[0J`);
    this.rows = 0;
  }
}

// eslint-disable-next-line no-control-regex -- the point is to measure text without its colour codes
const visibleLength = (line: string) => line.replace(/\u001b\[[0-9;]*m/g, '').length;
