import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProvisioningBench } from './provisioning';
import type { RawThroughput } from './raw-throughput';
import type { ConcurrentMemory } from './release/concurrent-memory';
import type { ControlLatency } from './release/control';
import type { CrashRecovery } from './release/crash';
import type { ReleaseOverhead } from './release/overhead';
import type { BenchOptions, BenchTarget } from './options';
import type { SwitchBackBench } from './switch-back';

export interface BenchResults {
  startedAt: string;
  machine: { cpus: number; node: string; platform: string };
  options: BenchOptions;
  /** One entry per `--temporal` server, measured one after the other. */
  servers: ServerResults[];
}

/** What one Temporal server measured. */
export interface ServerResults {
  server: BenchTarget;
  label: string;
  releases: ReleaseOverhead[];
  /** The realistic release: steps of seconds (--realistic-step-ms), no baselines. */
  realistic?: ReleaseOverhead;
  raw?: RawThroughput;
  control?: ControlLatency;
  crash?: CrashRecovery;
  memory?: ConcurrentMemory;
  provisioning?: ProvisioningBench;
  switchBack?: SwitchBackBench;
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const ms = (value: number) => `${Math.round(value)} ms`;
const x = (ratio: number) => `${ratio.toFixed(2)}×`;

/** A table per server, then (with two or more) the headline measures side by side. */
export function renderTable(results: BenchResults): string {
  const tables = results.servers.map((server) => `Temporal: ${server.label}\n${renderServerTable(server)}`);
  if (results.servers.length > 1) tables.push(`Side by side (one run, servers measured one after the other)\n${renderComparison(results.servers)}`);
  return tables.join('\n\n');
}

/** Rows: the headline measures; columns: each server, then the last ÷ the first where a ratio means something. */
function renderComparison(servers: ServerResults[]): string {
  const first = servers[0]!;
  const last = servers.at(-1)!;
  const rows: string[][] = [];
  const row = (label: string, value: (server: ServerResults) => number | undefined, format: (v: number) => string, ratio: boolean) => {
    const values = servers.map(value);
    if (values.every((v) => v === undefined)) return;
    const [a, b] = [value(first), value(last)];
    rows.push([label, ...values.map((v) => (v === undefined ? '–' : format(v))), ratio && a && b !== undefined ? x(b / a) : '']);
  };
  for (const n of [...new Set(servers.flatMap((server) => server.releases.map((r) => r.tenants)))]) {
    const at = (server: ServerResults) => server.releases.find((r) => r.tenants === n);
    const label = `N=${n.toLocaleString('en-US')}`;
    row(`release tenants/s, ${label}`, (sv) => at(sv)?.tenantsPerSecond, (v) => v.toFixed(1), true);
    row(`  ÷ raw Temporal workflows/s`, (sv) => (at(sv) && sv.raw ? (100 * at(sv)!.tenantsPerSecond) / sv.raw.workflowsPerSecond : undefined), (v) => `${v.toFixed(0)} %`, false);
    row(`overhead: wall ÷ ideal, ${label}`, (sv) => at(sv)?.ratio, x, false);
    row(`history events per tenant, ${label}`, (sv) => at(sv)?.history.eventsPerTenant, (v) => v.toFixed(1), false);
    row(`peak worker RSS, ${label}`, (sv) => at(sv)?.peakWorkerRssMiB, (v) => `${Math.round(v)} MiB`, false);
  }
  const realistic = servers.find((sv) => sv.realistic)?.realistic;
  if (realistic) {
    const label = `realistic (N=${realistic.tenants.toLocaleString('en-US')}, ${realistic.plan.stepsPerTenant} × ${s(realistic.plan.stepMs)})`;
    row(`${label}: wall ÷ ideal`, (sv) => sv.realistic?.ratio, x, false);
    row(`  wall time (ideal ${s(realistic.idealMs)})`, (sv) => sv.realistic?.wallMs, s, false);
    row('  history events per tenant', (sv) => sv.realistic?.history.eventsPerTenant, (v) => v.toFixed(1), false);
    row('  peak worker RSS', (sv) => sv.realistic?.peakWorkerRssMiB, (v) => `${Math.round(v)} MiB`, false);
  }
  row('raw Temporal workflows/s', (sv) => sv.raw?.workflowsPerSecond, (v) => v.toFixed(1), true);
  row('approval → next wave starts', (sv) => sv.control?.approvalMs, ms, false);
  row('worker SIGKILL → release done', (sv) => sv.crash?.releaseDoneMs, s, false);
  row('peak worker RSS, 1,000 tenants at once', (sv) => sv.memory?.peakWorkerRssMiB, (v) => `${Math.round(v)} MiB`, false);
  row('provisioning in parallel: tenants/s', (sv) => sv.provisioning?.parallel.tenantsPerSecond, (v) => v.toFixed(2), true);
  row('AWS calls per tenant, provisioning', (sv) => sv.provisioning?.awsCalls?.provisionPerTenant, (v) => v.toFixed(1), false);
  row('AWS calls per tenant, release (ECS)', (sv) => sv.provisioning?.awsCalls?.release.perTenant, (v) => v.toFixed(1), false);
  row('rolling: decision → old version ready', (sv) => sv.switchBack?.strategies.rolling?.medianMs, s, false);
  row('blue/green: decision → 100 % on blue', (sv) => sv.switchBack?.strategies.blueGreen?.medianMs, s, false);
  const header = ['measure', ...servers.map((sv) => sv.server), `${last.server} ÷ ${first.server}`];
  const width = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(width[i]!)).join(' │ ').trimEnd();
  return [line(header), width.map((w) => '─'.repeat(w)).join('─┼─'), ...rows.map(line)].join('\n');
}

/** One table: a row per measure, a column per release size; single measures fill the first column. */
function renderServerTable(results: ServerResults): string {
  const sizes = results.releases.map((r) => r.tenants);
  const columns = sizes.length > 0 ? sizes.map((n) => `N=${n.toLocaleString('en-US')}`) : ['value'];
  const rows: [string, string[], 'span'?][] = [];
  const perN = (label: string, cell: (r: ReleaseOverhead) => string) => rows.push([label, results.releases.map(cell)]);
  // A single measure spans the columns instead of widening the first one.
  const one = (label: string, value: string) => rows.push([label, [value], 'span']);
  const raw = results.raw;

  if (results.releases.length > 0) {
    const p = results.releases[0]!.plan;
    rows.push([`RELEASE (${p.maxInFlight} in flight, ${p.stepsPerTenant} steps × ${p.stepMs} ms, bake ${p.bakeMs} ms)`, []]);
    perN('ideal critical path', (r) => s(r.idealMs));
    perN('release wall time (Temporal)', (r) => s(r.wallMs));
    perN('overhead: wall ÷ ideal', (r) => x(r.ratio));
    perN('sequential loop, no Temporal', (r) => (r.sequential ? `${s(r.sequential.wallMs)}${r.sequential.extrapolated ? ` (${r.sequential.measuredTenants} run, scaled)` : ''}` : '–'));
    perN(`promise pool of ${p.maxInFlight}, no Temporal`, (r) => (r.pool ? s(r.pool.wallMs) : '–'));
    perN('durability cost: release ÷ pool', (r) => (r.pool ? x(r.wallMs / r.pool.wallMs) : '–'));
    perN('waves save: sequential ÷ release', (r) => (r.sequential ? x(r.sequential.wallMs / r.wallMs) : '–'));
    perN('release tenants/s', (r) => r.tenantsPerSecond.toFixed(1));
    if (raw) perN('  ÷ raw Temporal workflows/s', (r) => `${((100 * r.tenantsPerSecond) / raw.workflowsPerSecond).toFixed(0)} %`);
    perN('history events per tenant', (r) => r.history.eventsPerTenant.toFixed(1));
    perN('  of which release / child / lock', (r) => [r.history.releaseEvents, r.history.childEvents, r.history.lockEvents].map((e) => (e / r.tenants).toFixed(1)).join(' / '));
    perN('  one tenant: workflow tasks, activity tasks, markers (child / lock)', (r) => {
      const { child, lock } = r.history.sample;
      const tasks = (h: Record<string, number>) => [h.WORKFLOW_TASK_COMPLETED ?? 0, h.ACTIVITY_TASK_SCHEDULED ?? 0, h.MARKER_RECORDED ?? 0].join(', ');
      return `${tasks(child)} / ${tasks(lock)}`;
    });
    perN('release runs (continue-as-new)', (r) => String(r.history.releaseRuns));
    perN('peak worker RSS', (r) => `${Math.round(r.peakWorkerRssMiB)} MiB`);
  }
  const realistic = results.realistic;
  if (realistic) {
    const p = realistic.plan;
    rows.push([`REALISTIC RELEASE (N=${realistic.tenants.toLocaleString('en-US')}, ${p.maxInFlight} in flight, ${p.stepsPerTenant} steps × ${p.stepMs} ms, bake ${p.bakeMs} ms)`, []]);
    one('wall time / ideal critical path', `${s(realistic.wallMs)} / ${s(realistic.idealMs)}`);
    one('overhead: wall ÷ ideal', x(realistic.ratio));
    one('release tenants/s', realistic.tenantsPerSecond.toFixed(2));
    one('history events per tenant (release / child / lock)', `${realistic.history.eventsPerTenant.toFixed(1)} (${[realistic.history.releaseEvents, realistic.history.childEvents, realistic.history.lockEvents].map((e) => (e / realistic.tenants).toFixed(1)).join(' / ')})`);
    one('peak worker RSS', `${Math.round(realistic.peakWorkerRssMiB)} MiB`);
  }
  if (raw) {
    rows.push(['RAW TEMPORAL', []]);
    one(`trivial workflow, ${raw.activitiesPerWorkflow} no-op activities, ${raw.concurrency} at a time`, `${raw.workflowsPerSecond.toFixed(1)} wf/s (${raw.workflows} in ${s(raw.wallMs)})`);
  }
  const { control, crash, memory, provisioning } = results;
  if (control || crash || memory) rows.push(['CONTROL AND RECOVERY', []]);
  if (control) {
    one('approval → next wave starts', `${ms(control.approvalMs)} (update ${ms(control.approveUpdateMs)})`);
    one('abort → last tenant started', `${ms(control.abortMs)} (update ${ms(control.abortUpdateMs)}, ${control.inFlightAtAbort} in flight finish)`);
    one('  abort → last start the release requested', `${ms(control.abortDecisionMs)} (the rest: the server starting children requested before)`);
  }
  if (crash) {
    one('worker SIGKILL → progress again', `${s(crash.progressAgainMs)} (new worker polling after ${s(crash.restartMs)})`);
    one('worker SIGKILL → release done', `${s(crash.releaseDoneMs)} (${crash.inFlightAtKill} in flight at the kill)`);
  }
  if (memory) one(`peak worker RSS, ${memory.tenants.toLocaleString('en-US')} tenants at once`, `${Math.round(memory.peakWorkerRssMiB)} MiB (${memory.peakInFlight} in flight seen)`);
  if (provisioning) {
    const { single, parallel } = provisioning;
    rows.push(['PROVISIONING (sandbox: Temporal + moto)', []]);
    one('one tenant: total / in AWS calls', `${s(single.totalMs)} / ${s(single.awsMs)} (median of ${single.samples})`);
    one('one tenant: orchestration overhead', s(single.overheadMs));
    one(`${parallel.tenants} tenants in parallel`, `${s(parallel.wallMs)}, ${parallel.tenantsPerSecond.toFixed(2)} tenants/s`);
    one('  per tenant: total / AWS / overhead', `${s(parallel.meanTotalMs)} / ${s(parallel.meanAwsMs)} / ${s(parallel.meanOverheadMs)}`);
    if (provisioning.awsCalls) {
      const { provisionPerTenant, release } = provisioning.awsCalls;
      one('AWS calls per tenant: provisioning / release', `${provisionPerTenant.toFixed(1)} / ${release.perTenant.toFixed(1)} (release of ${release.tenants} ECS tenants, plan quick; Kubernetes calls not counted: no cluster here)`);
    }
  }

  const switchBack = results.switchBack;
  if (switchBack) {
    rows.push([`SWITCH BACK (sandbox: ECS tasks behind the load balancer emulator; a -failing version, verify window ${s(switchBack.verifyWindowMs)})`, []]);
    const { rolling, blueGreen } = switchBack.strategies;
    const times = (m: NonNullable<typeof rolling>) => {
      const failed = m.samples.reduce((n, x) => n + (x.failedRequests ?? 0), 0);
      const sent = m.samples.reduce((n, x) => n + (x.requests ?? 0), 0);
      return `${s(m.medianMs)} median, ${s(m.maxMs)} max (${m.samples.length} releases; ${failed} of ${sent} requests failed during them)`;
    };
    if (rolling) one('rolling: decision → old version ready', times(rolling));
    if (blueGreen) one('blue/green: decision → 100 % on blue', times(blueGreen));
  }

  const width = [Math.max(...rows.map(([label]) => label.length)), ...columns.map((c, i) => Math.max(c.length, ...rows.filter((r) => !r[2]).map(([, cells]) => (cells[i] ?? '').length)))];
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(width[i]!)).join(' │ ').trimEnd();
  const out = [line(['measure', ...columns]), width.map((w) => '─'.repeat(w)).join('─┼─')];
  for (const [label, cells, span] of rows) out.push(cells.length === 0 ? label : span ? `${label.padEnd(width[0]!)} │ ${cells[0]}` : line([label, ...cells]));
  return out.join('\n');
}

export function writeResults(dir: string, results: BenchResults, table: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${results.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(path, `${JSON.stringify({ ...results, table }, null, 2)}\n`);
  return path;
}
