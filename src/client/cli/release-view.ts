import type { ReleaseProgress, ReleaseSummary, TenantReleaseRecord, TenantReleaseStatus, TenantReport, TenantWindowWait } from '../../shared/messages/release';
import { describeWaveMaintenance } from '../../shared/release/report';
import { describeMaintenanceOutage, type MaintenanceOutage } from '../release-maintenance';
import { describeTenantTargets, type TenantReleaseTargets } from '../release-targets';
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
export function failedTenants(progress: Pick<ReleaseProgress, 'failures'>): TenantReport[] {
  return progress.failures.filter((t) => t.failed || t.status === 'rolled-back' || t.status === 'rollback-failed');
}

/** What a progress answer tells about each tenant it mentions: the current wave by status, then the page, then the failures with their reasons. */
export function knownTenants(progress: ReleaseProgress | undefined): Map<string, { status: TenantReleaseStatus; reason?: string }> {
  const known = new Map<string, { status: TenantReleaseStatus; reason?: string }>();
  if (!progress) return known;
  for (const [status, ids] of Object.entries(progress.currentWave?.tenants ?? {}) as [TenantReleaseStatus, string[]][]) for (const id of ids) known.set(id, { status });
  for (const [id, t] of Object.entries(progress.tenants)) known.set(id, { status: t.status, reason: t.reason });
  for (const t of progress.failures) known.set(t.tenantId, { status: t.status, reason: t.reason });
  return known;
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
    lines.push(`  ${WAVE_MARK[wave.status] ?? ' '} ${wave.name.padEnd(width)}  ${wave.status.padEnd(17)}  ${wave.size} tenants: ${describeCounts(wave.counts) || '-'}${approval}`);
    if (wave.maintenance) lines.push(`    ${' '.repeat(width)}  ${out.paint(wave.maintenance.notBack ? 'red' : 'grey', describeWaveMaintenance(wave.maintenance))}`);
  }
  if (progress.inFlight.length) lines.push(`  in flight: ${progress.inFlight.map((id) => out.paint('cyan', id)).join(', ')}`);
  for (const w of progress.waitingForWindow ?? []) {
    lines.push(out.paint('yellow', `  ⏸ ${w.tenantId} ${windowWaitText(w)}`));
  }
  if (progress.waitingForWindow?.length) lines.push(out.paint('grey', `  deploy one now: tenantctl release skip-window ${progress.releaseId} --tenant <id> --reason <why>`));
  for (const t of progress.failures) {
    const busy = t.status === 'busy';
    lines.push(out.paint(busy ? 'yellow' : 'red', `  ${busy ? '…' : '✗'} ${t.tenantId} ${t.status}${t.reason ? `: ${t.reason}` : ''}`));
  }
  if (progress.failuresNotListed > 0) lines.push(out.paint('red', `  ✗ ${progress.failuresNotListed} more; every tenant page by page: tenantctl release status ${progress.releaseId} --page 1`));
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
    events.push(`release ${next.releaseId} of ${next.version} (plan ${next.plan}): ${next.status}, ${next.phase}; waves ${next.waves.map((w) => `${w.name} (${w.size})`).join(', ')}`);
  } else {
    if (previous.phase !== next.phase) events.push(`phase ${next.phase}`);
    if (previous.status !== next.status) events.push(`status ${next.status}`);
  }
  const before = knownTenants(previous);
  for (const [id, t] of knownTenants(next)) {
    const was = before.get(id);
    if (was?.status === t.status) continue;
    if (!was && t.status === 'pending') continue;
    events.push(tenantEvent(id, was?.status, t.status, t.reason));
  }
  next.waves.forEach((wave, i) => {
    const before = previous?.waves[i];
    if (wave.approval && !before?.approval) events.push(`wave ${wave.name}: approved by ${wave.approval.by}${wave.approval.comment ? ` (${wave.approval.comment})` : ''}`);
  });
  if (next.paused && !previous?.paused) events.push(`paused by ${next.paused.by}${next.paused.reason ? `: ${next.paused.reason}` : ''}`);
  if (!next.paused && previous?.paused) events.push('resumed');
  if (next.abort && !previous?.abort) events.push(`aborted by ${next.abort.by}: ${next.abort.reason}`);
  if (next.haltReason && !previous?.haltReason) events.push(`halted: ${next.haltReason}`);
  const waitedBefore = new Set((previous?.waitingForWindow ?? []).map((w) => `${w.tenantId} ${w.until}`));
  for (const w of next.waitingForWindow ?? []) if (!waitedBefore.has(`${w.tenantId} ${w.until}`)) events.push(`tenant ${w.tenantId}: ${windowWaitText(w)}`);
  if (next.phase.endsWith('awaiting-approval') && previous?.phase !== next.phase) events.push(`waiting for approval: tenantctl release approve ${next.releaseId}`);
  return events;
}

/** `waiting for window until <instant>: <what it waits for>`, as the tenant's workflow says it too. */
export const windowWaitText = (w: TenantWindowWait) => `waiting for window until ${w.until}${w.waitingFor ? `: ${w.waitingFor}` : ''}`;

export const tenantEvent = (id: string, was: TenantReleaseStatus | undefined, status: TenantReleaseStatus, reason?: string) =>
  `tenant ${id}: ${was ? `${was} → ` : ''}${status}${reason && status !== 'running' ? ` (${reason})` : ''}`;

/** The final result for people: a headline, the counts, and a row per tenant that did not succeed. */
export function summaryLines(out: Pick<Output, 'paint'>, summary: ReleaseSummary, url?: string): string[] {
  const lines = [
    `${out.paint('bold', `release ${summary.releaseId}`)} of ${summary.version}: ${out.paint(RELEASE_COLOUR[summary.status], summary.status)}${summary.reason ? ` (${summary.reason})` : ''}`,
    describeCounts(summary.counts),
  ];
  if (summary.tenants.length > 0) {
    lines.push(
      '',
      ...renderTable(
        out,
        ['TENANT', 'WAVE', 'STATUS', 'FROM', 'REASON'],
        summary.tenants.map((t) => [t.tenantId, t.wave, { text: t.status, colour: STATUS_COLOUR[t.status] }, t.previousVersion ?? '', t.reason ?? '']),
      ),
    );
  }
  if (summary.notListed) lines.push(out.paint('red', `${summary.notListed} more did not succeed (not listed)`));
  if (summary.notStarted) lines.push(out.paint('yellow', `${summary.notStarted.count} not started: ${summary.notStarted.reason}`));
  const listedAll = summary.tenants.length === Object.values(summary.counts).reduce((a, b) => a + b, 0);
  if (!listedAll) lines.push(out.paint('grey', `every tenant, page by page: tenantctl release status ${summary.releaseId} --page 1`));
  if (summary.maintenanceByWave) {
    const width = Math.max(...summary.maintenanceByWave.map((m) => m.wave.length));
    lines.push('', 'outage per wave (maintenance mode):', ...summary.maintenanceByWave.map((m) => `  ${m.wave.padEnd(width)}  ${out.paint(m.notBack ? 'red' : 'grey', describeWaveMaintenance(m))}`));
  }
  if (url) lines.push('', out.paint('grey', url));
  return lines;
}

/** A row of `release status --tenant` / `--page` (and of its --json `tenants[]`): the tenant's record, its wave by name, and what was read beside it. */
export type TenantRow = Omit<TenantReleaseRecord, 'wave'> & { tenantId: string; wave: string; maintenance?: MaintenanceOutage } & Partial<TenantReleaseTargets>;

/**
 * The rows of `progress`'s tenants. `outages`: a release in maintenance mode, each tenant's time on the
 * maintenance page; `targets`: one tenant's (--tenant) release target and the one it replaced.
 */
export function tenantRows(progress: ReleaseProgress, outages?: Record<string, MaintenanceOutage | undefined>, targets?: TenantReleaseTargets): TenantRow[] {
  const waveOf = (t: TenantReleaseRecord) => progress.waves[t.wave]?.name ?? String(t.wave);
  return Object.entries(progress.tenants).map(([tenantId, t]) => ({ tenantId, ...t, wave: waveOf(t), ...(outages?.[tenantId] ? { maintenance: outages[tenantId] } : {}), ...(targets ?? {}) }));
}

/** The rows as a table (a MAINTENANCE column in maintenance mode); below it, a row's release target and the one it replaced when they were read. */
export function tenantLines(out: Pick<Output, 'paint'>, rows: TenantRow[], maintenanceMode: boolean): string[] {
  const maintenance = (t: TenantRow) => (maintenanceMode ? [describeMaintenanceOutage(t.maintenance)] : []);
  const lines = renderTable(
    out,
    ['TENANT', 'WAVE', 'STATUS', 'ATTEMPTS', 'FROM', ...(maintenanceMode ? ['MAINTENANCE'] : []), 'REASON'],
    rows.map((t) => [t.tenantId, t.wave, { text: t.status, colour: STATUS_COLOUR[t.status] }, String(t.attempts), t.previousVersion ?? '', ...maintenance(t), t.reason ?? '']),
  );
  for (const t of rows) {
    if (t.target === undefined) continue;
    lines.push(...describeTenantTargets({ target: t.target, replaced: t.replaced ?? null, ...(t.targetError ? { targetError: t.targetError } : {}) }, t.previousVersion));
  }
  return lines;
}
