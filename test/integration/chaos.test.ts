import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runChaos } from '../chaos/runner';
import { TEST_SANDBOX_DIR } from './sandbox-env';

/**
 * The short form of the chaos run (`npm run test:chaos` is the long one): one run of each
 * fault (worker SIGKILLs during provisioning, a failing provisioning, certificate reconcile and
 * a release; the Temporal server restarted mid-release; 30% of AWS and Kubernetes calls
 * throttled), every invariant checked after each. It starts its own sandbox beside the run's
 * shared one, so its kills and restarts disturb no other test file. The seed is printed;
 * CHAOS_SEED replays it.
 */
describe('chaos (short form)', () => {
  it('keeps every invariant under worker kills, a server restart and throttling', async () => {
    const seed = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const started = Date.now();
    // Progress with the time since the start, so a run's log shows where its minutes go.
    const log = (line: string) => process.stdout.write(`[chaos +${Math.round((Date.now() - started) / 1000)} s] ${line}\n`);
    const bundle = process.env.TENANT_FLEET_TEST_WORKFLOW_BUNDLE;
    const workflowBundle = bundle && existsSync(bundle) ? bundle : undefined;
    const report = await runChaos({ form: 'short', seed, stateDir: join(TEST_SANDBOX_DIR, 'chaos'), log, workflowBundle });
    process.stdout.write(`chaos short form, seed ${seed}\n${report.table}\n`);
    const violations = report.rows.flatMap((r) => r.violations.map((v) => `${r.fault}: ${v}`));
    expect({ seed, violations }).toEqual({ seed, violations: [] });
    // A fault that never fired proves nothing: the restart and the throttles must have happened.
    const injected = Object.fromEntries(report.rows.map((r) => [r.fault, r.injected]));
    expect(injected['Temporal server restart mid-release']).toBe(1);
    expect(injected['30% of AWS + Kubernetes calls throttled']).toBeGreaterThan(0);
  }, 900_000);
});
