import type { ReleaseProgress, ReleaseSummary, TenantReleaseStatus } from '../../shared/messages/release';
import { renderTable, type Colour, type Output } from './output';

/** How each tenant status looks on a terminal. */
export const STATUS_COLOUR: Record<TenantReleaseStatus, Colour | undefined> = {
  pending: 'grey',
  running: 'cyan',
  busy: 'yellow',
  succeeded: 'green',
  'rolled-back': 'red',
  'rollback-failed': 'red',
  skipped: 'yellow',
};

const RELEASE_COLOUR: Record<string, Colour> = {
  running: 'cyan',
  paused: 'yellow',
  succeeded: 'green',
  'completed-with-failures': 'yellow',
  halted: 'red',
  aborted: 'red',
};

const WAVE_MARK: Record<string, string> = {
  pending: '·',
  running: '▸',
  baking: '~',
  'awaiting-approval': '?',
  done: '✓',
  halted: '✗',
  skipped: '-',
};

function describeCounts(counts: Partial<Record<TenantReleaseStatus, number>>): string {
  return (Object.entries(counts) as [TenantReleaseStatus, number][])
    .filter(([, n]) => n > 0)
    .map(([status, n]) => `${n} ${status}`)
    .join(', ');
}

/** Tenants that failed: rolled back, rollback failed, or skipped because something went wrong. */
export function failedTenants(progress: Pick<ReleaseProgress, 'tenants'>): [string, ReleaseProgress['tenants'][string]][] {
  return Object.entries(progress.tenants).filter(([, t]) => t.failed || t.status === 'rolled-back' || t.status === 'rollback-failed');
}

/** The live view for a terminal: the release, its waves, tenants in flight and failures. Redrawn in place. */
export function progressBlock(out: Pick<Output, 'paint'>, progress: ReleaseProgress, url?: string): string[] {
  const lines = [
    `${out.paint('bold', `release ${progress.releaseId}`)}  version ${progress.version}  plan ${progress.plan}  ${out.paint(RELEASE_COLOUR[progress.status], progress.status)}  ${out.paint('grey', progress.phase)}`,
  ];
  if (progress.paused) lines.push(out.paint('yellow', `paused by ${progress.paused.by}${progress.paused.reason ? `: ${progress.paused.reason}` : ''}`));
  if (progress.abort) lines.push(out.paint('red', `aborted by ${progress.abort.by}: ${progress.abort.reason}${progress.abort.rollback ? ' (rolling back)' : ''}`));
  if (progress.haltReason) lines.push(out.paint('red', `halted: ${progress.haltReason}`));
  const width = Math.max(...progress.waves.map((w) => w.name.length));
  for (const wave of progress.waves) {
    const approval = wave.approval ? `  approved by ${wave.approval.by}` : '';
    lines.push(`  ${WAVE_MARK[wave.status] ?? ' '} ${wave.name.padEnd(width)}  ${wave.status.padEnd(17)}  ${wave.tenants.length} tenants: ${describeCounts(wave.counts) || '-'}${approval}`);
  }
  if (progress.inFlight.length) lines.push(`  in flight: ${progress.inFlight.map((id) => out.paint('cyan', id)).join(', ')}`);
  for (const [id, t] of failedTenants(progress)) lines.push(out.paint('red', `  ✗ ${id} ${t.status}${t.reason ? `: ${t.reason}` : ''}`));
  if (progress.status === 'running' && progress.phase.endsWith('awaiting-approval')) {
    lines.push(out.paint('yellow', `  waiting for approval: tenantctl release approve ${progress.releaseId}`));
  }
  if (url) lines.push(out.paint('grey', `  ${url}`));
  return lines;
}

/**
 * What changed between two snapshots, as log lines: the plain view for CI logs and pipes,
 * where redrawing is impossible and repeating the whole state every second would drown the log.
 */
export function progressEvents(previous: ReleaseProgress | undefined, next: ReleaseProgress): string[] {
  const events: string[] = [];
  if (!previous) {
    events.push(`release ${next.releaseId} of ${next.version} (plan ${next.plan}): ${next.status}, ${next.phase}; waves ${next.waves.map((w) => `${w.name} (${w.tenants.length})`).join(', ')}`);
  } else {
    if (previous.phase !== next.phase) events.push(`phase ${next.phase}`);
    if (previous.status !== next.status) events.push(`status ${next.status}`);
  }
  for (const [id, t] of Object.entries(next.tenants)) {
    const before = previous?.tenants[id];
    if (before?.status === t.status) continue;
    if (!before && t.status === 'pending') continue;
    events.push(`tenant ${id}: ${before ? `${before.status} → ` : ''}${t.status}${t.reason && t.status !== 'running' ? ` (${t.reason})` : ''}`);
  }
  next.waves.forEach((wave, i) => {
    const before = previous?.waves[i];
    if (wave.approval && !before?.approval) events.push(`wave ${wave.name}: approved by ${wave.approval.by}${wave.approval.comment ? ` (${wave.approval.comment})` : ''}`);
  });
  if (next.paused && !previous?.paused) events.push(`paused by ${next.paused.by}${next.paused.reason ? `: ${next.paused.reason}` : ''}`);
  if (!next.paused && previous?.paused) events.push('resumed');
  if (next.abort && !previous?.abort) events.push(`aborted by ${next.abort.by}: ${next.abort.reason}`);
  if (next.haltReason && !previous?.haltReason) events.push(`halted: ${next.haltReason}`);
  if (next.phase.endsWith('awaiting-approval') && previous?.phase !== next.phase) events.push(`waiting for approval: tenantctl release approve ${next.releaseId}`);
  return events;
}

/** The final result for people: a headline and one row per tenant. */
export function summaryLines(out: Pick<Output, 'paint'>, summary: ReleaseSummary, url?: string): string[] {
  const lines = [
    `${out.paint('bold', `release ${summary.releaseId}`)} of ${summary.version}: ${out.paint(RELEASE_COLOUR[summary.status], summary.status)}${summary.reason ? ` (${summary.reason})` : ''}`,
    describeCounts(summary.counts),
    '',
    ...renderTable(
      out,
      ['TENANT', 'WAVE', 'STATUS', 'FROM', 'REASON'],
      summary.tenants.map((t) => [t.tenantId, t.wave, { text: t.status, colour: STATUS_COLOUR[t.status] }, t.previousVersion ?? '', t.reason ?? '']),
    ),
  ];
  if (url) lines.push('', out.paint('grey', url));
  return lines;
}
