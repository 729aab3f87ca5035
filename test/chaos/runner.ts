import { seededRandom } from '../sandbox/fault-proxy/rules';
import {
  certificatesUnderKills,
  everythingFinished,
  failedProvisioningUnderKills,
  provisioningUnderKills,
  releaseUnder,
  startCertificates,
  temporalRestart,
  throttled,
  workerKills,
  type ScenarioResult,
} from './scenarios';
import { startChaosWorld, type ChaosWorld } from './world';

export type ChaosForm = 'short' | 'long';

/** How much of each fault a form runs; the long form has 24 worker kill points. */
const FORMS = {
  short: { provisioningRuns: 1, provisioningKills: 1, failedRuns: 1, certificateRuns: 1, certificateKills: 1, releaseKillRuns: 1, releaseKills: 1, restartRuns: 1, throttleRuns: 1 },
  long: { provisioningRuns: 3, provisioningKills: 3, failedRuns: 2, certificateRuns: 2, certificateKills: 2, releaseKillRuns: 3, releaseKills: 3, restartRuns: 2, throttleRuns: 2 },
} as const;

export interface ChaosReport {
  seed: number;
  form: ChaosForm;
  rows: ScenarioResult[];
  violations: number;
  table: string;
}

/** runChaos was interrupted through its `signal` (SIGINT/SIGTERM in scripts/chaos.ts); the sandbox is stopped. */
export class ChaosInterruptedError extends Error {
  constructor(readonly reason: unknown) {
    super(`chaos run interrupted (${String(reason)}); its sandbox is stopped`);
    this.name = 'ChaosInterruptedError';
  }
}

/**
 * Starts its own sandbox with the fault proxy (so killing workers and restarting the server
 * disturbs nobody else's tests), runs every scenario of the form in order, checks the
 * invariants after each and returns the table. Tenants: each provisioning scenario takes
 * tenants nobody provisioned yet, alternating runtimes; releases cover every tenant provisioned.
 *
 * `signal` interrupts the run: the scenario in progress is abandoned (it may be waiting on a
 * release for minutes), the sandbox is stopped, and the call rejects with ChaosInterruptedError.
 * A signal that arrives while the sandbox is starting stops what it started and rejects with
 * the sandbox's InterruptedError (test/sandbox/interrupt.ts).
 */
export async function runChaos(options: { form: ChaosForm; seed: number; stateDir: string; log: (line: string) => void; signal?: AbortSignal; workflowBundle?: string }): Promise<ChaosReport> {
  const form = FORMS[options.form];
  const random = seededRandom(options.seed);
  options.log(`chaos ${options.form} form, seed ${options.seed} (re-run with --seed ${options.seed})`);
  const world = await startChaosWorld({ stateDir: options.stateDir, seed: options.seed, log: options.log, signal: options.signal, workflowBundle: options.workflowBundle });
  const interrupted = new Promise<never>((_, reject) => {
    const signal = options.signal;
    if (!signal) return;
    if (signal.aborted) reject(new ChaosInterruptedError(signal.reason));
    else signal.addEventListener('abort', () => reject(new ChaosInterruptedError(signal.reason)), { once: true });
  });
  // Never rejects unhandled when the run ends without an interruption.
  interrupted.catch(() => undefined);
  const rows = new Map<string, ScenarioResult>();
  const add = (fault: string, outcome: { injected: number; violations: string[] }) => {
    const row = rows.get(fault) ?? { fault, runs: 0, injected: 0, violations: [] };
    row.runs += 1;
    row.injected += outcome.injected;
    row.violations.push(...outcome.violations);
    rows.set(fault, row);
    for (const v of outcome.violations) options.log(`  VIOLATION ${fault}: ${v}`);
  };
  const scenarios = async () => {
    await startCertificates(world);
    const fresh = freshTenants(world);
    const live: string[] = [];

    for (let i = 0; i < form.provisioningRuns; i++) {
      const tenants = [fresh.take('ecs'), fresh.take('kubernetes')];
      add('worker SIGKILL during provisioning', await provisioningUnderKills(world, random, tenants, form.provisioningKills));
      live.push(...tenants);
    }
    for (let i = 0; i < form.failedRuns; i++) {
      add('worker SIGKILL during a failing provisioning', await failedProvisioningUnderKills(world, random, fresh.take(i % 2 === 0 ? 'ecs' : 'kubernetes'), 1));
    }
    for (let i = 0; i < form.certificateRuns; i++) {
      const tenant = fresh.take(i % 2 === 0 ? 'kubernetes' : 'ecs');
      add('worker SIGKILL during certificate reconcile', await certificatesUnderKills(world, random, tenant, form.certificateKills));
      live.push(tenant);
    }
    let version = 0;
    const nextVersion = () => `2.${++version}.0-s${options.seed}`;
    for (let i = 0; i < form.releaseKillRuns; i++) add('worker SIGKILL during a release', await releaseUnder(world, live, nextVersion(), workerKills(random, form.releaseKills)));
    for (let i = 0; i < form.restartRuns; i++) add('Temporal server restart mid-release', await releaseUnder(world, live, nextVersion(), temporalRestart(2_000 + Math.round(random() * 3_000))));
    for (let i = 0; i < form.throttleRuns; i++) add('30% of AWS + Kubernetes calls throttled', await releaseUnder(world, live, nextVersion(), throttled(0.3)));
    add('(all of the above) every workflow finished', { injected: 0, violations: await everythingFinished(world) });
  };
  try {
    // Interrupted while the sandbox started: no scenario begins. Otherwise the abandoned scenario
    // fails (or hangs) once its servers are gone; the race has already handled its rejection, and
    // the caller exits right after, whose exit hooks kill anything it started meanwhile.
    await Promise.race([options.signal?.aborted ? interrupted : scenarios(), interrupted]);
  } finally {
    await world.stop();
  }
  const list = [...rows.values()];
  const violations = list.reduce((n, r) => n + r.violations.length, 0);
  return { seed: options.seed, form: options.form, rows: list, violations, table: renderTable(list) };
}

function freshTenants(world: ChaosWorld) {
  const pools = { ecs: [] as string[], kubernetes: [] as string[] };
  for (const t of world.config.tenants) pools[world.tenant(t.id).runtime.kind].push(t.id);
  return {
    take(kind: 'ecs' | 'kubernetes'): string {
      const id = pools[kind].shift() ?? pools[kind === 'ecs' ? 'kubernetes' : 'ecs'].shift();
      if (!id) throw new Error('the sandbox fleet has no unprovisioned tenant left for this chaos form');
      return id;
    },
  };
}

/** The table the issue asks for: fault injected, runs, faults actually injected, invariant violations. */
export function renderTable(rows: readonly ScenarioResult[]): string {
  const header = ['fault injected', 'runs', 'injected', 'invariant violations'];
  const body = rows.map((r) => [r.fault, String(r.runs), String(r.injected), String(r.violations.length)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}
