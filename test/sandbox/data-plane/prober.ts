import { appendFileSync, mkdirSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { renderTable } from '../../../src/client/cli/output';
import type { SandboxAdminClients } from '../admin-clients';
import { endpointOf, listRecords, loadBalancerOf, readLoadBalancers, sandboxClients, type TenantEndpoint } from './resolve';

/**
 * The traffic prober (docs/sandbox.md "Data plane"): steady requests to tenant hostnames through
 * the load balancer emulator, as users would send them, counted per tenant and per phase (the
 * caller marks phases, e.g. one per release wave). A failure is any non-2xx answer, a connection
 * error, a timeout, or a hostname that resolves to no load balancer. Each failed request is also
 * written to `<stateDir>/data-plane/prober-failures.log` (when it started, phase, hostname, outcome,
 * duration), to be read beside the emulator's and the ECS task controller's logs.
 */

export interface ProbeTarget {
  hostname: string;
  /** What the counts are grouped by; default: the hostname. */
  tenantId?: string;
}

export interface ProberOptions {
  /** The sandbox's state folder (its env file and data-plane/load-balancers.json). */
  stateDir: string;
  /** Default: every hostname whose Route53 record points at a load balancer the emulator serves. */
  targets?: ProbeTarget[];
  /** Requests per second per hostname (default 5). */
  ratePerSecond?: number;
  path?: string;
  /** A request slower than this fails (default 5 s). */
  timeoutMs?: number;
  /** How often Route53 and the emulator's listeners are read again (default 2 s): DNS changes during a release. */
  resolveEveryMs?: number;
  /** The first phase's name (default `start`). */
  phase?: string;
}

export interface ProbeStats {
  requests: number;
  failed: number;
  /** Milliseconds, over every answered request (failed ones too). */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Answers by status code, or `error` / `timeout` / `unresolved`. */
  byOutcome: Record<string, number>;
  /**
   * With failures: from the start of the first failed request to the answer of the last one, the
   * outage users saw (a release in maintenance mode: its maintenance page, docs/releases.md).
   */
  outage?: { from: string; to: string; ms: number };
}

export interface ProbePhase {
  name: string;
  startedAt: string;
  endedAt?: string;
  total: ProbeStats;
  tenants: Record<string, ProbeStats>;
}

export interface ProbeSnapshot {
  phases: ProbePhase[];
}

export interface Prober {
  /** Ends the current phase and starts a new one; the counts of requests in flight go to the phase they started in. */
  phase(name: string): void;
  snapshot(): ProbeSnapshot;
  /** Stops sending, waits for what is in flight, and returns the final counts. */
  stop(): Promise<ProbeSnapshot>;
}

interface Sample {
  tenant: string;
  outcome: string;
  ok: boolean;
  ms: number;
  /** Epoch ms when the request was sent. */
  at: number;
}

interface Phase {
  name: string;
  startedAt: Date;
  endedAt?: Date;
  samples: Sample[];
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function stats(samples: Sample[]): ProbeStats {
  const times = samples.map((s) => s.ms).sort((a, b) => a - b);
  const byOutcome: Record<string, number> = {};
  for (const s of samples) byOutcome[s.outcome] = (byOutcome[s.outcome] ?? 0) + 1;
  const failed = samples.filter((s) => !s.ok);
  return {
    requests: samples.length,
    failed: failed.length,
    p50Ms: Math.round(percentile(times, 50)),
    p99Ms: Math.round(percentile(times, 99)),
    maxMs: Math.round(times.at(-1) ?? 0),
    byOutcome,
    ...(failed.length > 0 ? { outage: outageOf(failed) } : {}),
  };
}

function outageOf(failed: Sample[]): NonNullable<ProbeStats['outage']> {
  const from = Math.min(...failed.map((s) => s.at));
  const to = Math.max(...failed.map((s) => s.at + s.ms));
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString(), ms: Math.round(to - from) };
}

function summarize(phase: Phase): ProbePhase {
  const byTenant = new Map<string, Sample[]>();
  for (const s of phase.samples) byTenant.set(s.tenant, [...(byTenant.get(s.tenant) ?? []), s]);
  return {
    name: phase.name,
    startedAt: phase.startedAt.toISOString(),
    endedAt: phase.endedAt?.toISOString(),
    total: stats(phase.samples),
    tenants: Object.fromEntries([...byTenant].sort(([a], [b]) => a.localeCompare(b)).map(([tenant, samples]) => [tenant, stats(samples)])),
  };
}

export async function startProber(options: ProberOptions): Promise<Prober> {
  const rate = options.ratePerSecond ?? 5;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const path = options.path ?? '/';
  const clients: SandboxAdminClients = sandboxClients(options.stateDir);
  // An idle connection is closed here before the load balancer's idle timeout can close it under a
  // request that reuses it (a reset that would count as a failure of the tenant's).
  const agent = new Agent({ keepAlive: true, maxSockets: 64, timeout: 10_000 });
  const phases: Phase[] = [{ name: options.phase ?? 'start', startedAt: new Date(), samples: [] }];
  const inFlight = new Set<Promise<void>>();
  let endpoints = new Map<string, TenantEndpoint | undefined>();
  let targets: ProbeTarget[] = options.targets ?? [];
  let stopped = false;
  const failureLog = join(options.stateDir, 'data-plane', 'prober-failures.log');
  mkdirSync(join(options.stateDir, 'data-plane'), { recursive: true });

  const resolveAll = async () => {
    const [records, loadBalancers] = [await listRecords(clients), readLoadBalancers(options.stateDir)];
    if (!options.targets) {
      // Discovery: every record that leads to a load balancer the emulator serves.
      targets = records
        .filter((r) => r.Name && (r.AliasTarget || r.Type === 'CNAME') && loadBalancerOf(r.Name, records, loadBalancers))
        .map((r) => r.Name!.replace(/\.$/, '').toLowerCase())
        .filter((hostname, i, all) => all.indexOf(hostname) === i)
        .map((hostname) => ({ hostname }));
    }
    const next = new Map<string, TenantEndpoint | undefined>();
    for (const { hostname } of targets) {
      const lb = loadBalancerOf(hostname, records, loadBalancers);
      try {
        next.set(hostname, lb ? endpointOf(hostname, lb) : undefined);
      } catch {
        next.set(hostname, undefined);
      }
    }
    endpoints = next;
  };

  const send = (target: ProbeTarget) => {
    const phase = phases.at(-1)!;
    const tenant = target.tenantId ?? target.hostname;
    const endpoint = endpoints.get(target.hostname);
    const startedAt = new Date();
    const logFailure = (outcome: string, ms: number) =>
      appendFileSync(failureLog, `${startedAt.toISOString()} ${phase.name} ${target.hostname} ${outcome} ${Math.round(ms)} ms\n`);
    if (!endpoint) {
      phase.samples.push({ tenant, outcome: 'unresolved', ok: false, ms: 0, at: startedAt.getTime() });
      logFailure('unresolved', 0);
      return;
    }
    const started = process.hrtime.bigint();
    const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6;
    const done = new Promise<void>((resolve) => {
      let recorded = false;
      const record = (outcome: string, ok: boolean) => {
        // A timeout destroys the request, which then errors too: the first outcome is the request's.
        if (recorded) return;
        recorded = true;
        const ms = elapsed();
        phase.samples.push({ tenant, outcome, ok, ms, at: startedAt.getTime() });
        if (!ok) logFailure(outcome, ms);
        resolve();
      };
      const req = request(`${endpoint.url}${path}`, { agent, headers: { host: target.hostname, 'user-agent': 'tenant-fleet-prober' } }, (res) => {
        res.resume();
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          record(String(status), status >= 200 && status < 300);
        });
        res.on('error', () => record('error', false));
      });
      req.setTimeout(timeoutMs, () => {
        req.destroy();
        record('timeout', false);
      });
      req.on('error', () => record('error', false));
      req.end();
    });
    inFlight.add(done);
    void done.then(() => inFlight.delete(done));
  };

  await resolveAll();
  const resolveTimer = setInterval(() => void resolveAll().catch(() => undefined), options.resolveEveryMs ?? 2_000);
  const sendTimer = setInterval(() => {
    if (!stopped) for (const target of targets) send(target);
  }, 1000 / rate);

  const snapshot = (): ProbeSnapshot => ({ phases: phases.map(summarize) });
  return {
    phase(name) {
      const now = new Date();
      phases.at(-1)!.endedAt = now;
      phases.push({ name, startedAt: now, samples: [] });
    },
    snapshot,
    async stop() {
      stopped = true;
      clearInterval(sendTimer);
      clearInterval(resolveTimer);
      await Promise.all(inFlight);
      phases.at(-1)!.endedAt ??= new Date();
      agent.destroy();
      clients.destroy();
      return snapshot();
    },
  };
}

/**
 * A compact table: one row per phase (and per tenant with `perTenant`): requests, failed, p99; with
 * `outage`, each tenant's outage (first to last failed answer) and a phase's longest.
 */
export function probeTable(snapshot: ProbeSnapshot, options: { perTenant?: boolean; phaseHeader?: string; outage?: boolean } = {}): string {
  const plain = { paint: (_colour: unknown, text: string) => text };
  const rows: string[][] = [];
  const seconds = (ms: number | undefined) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);
  const outageOfPhase = (phase: ProbePhase) => {
    const all = Object.values(phase.tenants).flatMap((s) => (s.outage ? [s.outage.ms] : []));
    return all.length > 0 ? Math.max(...all) : undefined;
  };
  for (const phase of snapshot.phases) {
    rows.push([phase.name, options.perTenant ? 'all' : '', String(phase.total.requests), String(phase.total.failed), `${phase.total.p99Ms} ms`, ...(options.outage ? [seconds(outageOfPhase(phase))] : [])]);
    if (options.perTenant) {
      for (const [tenant, s] of Object.entries(phase.tenants)) rows.push(['', tenant, String(s.requests), String(s.failed), `${s.p99Ms} ms`, ...(options.outage ? [seconds(s.outage?.ms)] : [])]);
    }
  }
  const headers = [options.phaseHeader ?? 'phase', 'tenant', 'requests', 'failed', 'p99', ...(options.outage ? ['outage'] : [])];
  if (!options.perTenant) return renderTable(plain, [headers[0]!, ...headers.slice(2)], rows.map((r) => [r[0]!, ...r.slice(2)])).join('\n');
  return renderTable(plain, headers, rows).join('\n');
}
