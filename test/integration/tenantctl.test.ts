import { CreateChangeSetCommand, DescribeStackEventsCommand, DescribeStacksCommand, ListChangeSetsCommand, waitUntilChangeSetCreateComplete } from '@aws-sdk/client-cloudformation';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { WorkflowNotFoundError } from '@temporalio/client';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { INFRA_DIR } from '../../src/activities/templates';
import { repoRoot } from '../sandbox/tools';
import { tempDir } from '../support/temp-dir';
import { startHarness, type Harness } from './harness';

/**
 * tenantctl as CI and people use it: the real CLI (`node bin/tenantctl.js`) as a subprocess,
 * against the run's sandbox, with this file's in-process workers doing the work. ECS tenants
 * only, so the suite also runs without the Kubernetes cluster (TENANT_FLEET_TEST_KUBE=0).
 */
const BIN = join(repoRoot, 'bin', 'tenantctl.js');
/** Release IDs unique to this run, in case the sandbox is reused. */
const RUN = Date.now().toString(36);
const rid = (name: string) => `jest-${name}-${RUN}`;

let h: Harness;
let env: Record<string, string>;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function tenantctl(args: string[], extraEnv: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: repoRoot, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs and parses stdout as the one JSON document --json promises; the stderr is shown when it is not. */
async function tenantctlJson<T = Record<string, unknown>>(args: string[], extraEnv: Record<string, string> = {}): Promise<CliResult & { json: T }> {
  const result = await tenantctl([...args, '--json'], extraEnv);
  try {
    return { ...result, json: JSON.parse(result.stdout) as T };
  } catch {
    throw new Error(`tenantctl ${args.join(' ')} (exit ${result.code}) printed no JSON document:\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`);
  }
}

const expectExit = (result: CliResult, code: number) => {
  if (result.code !== code) throw new Error(`expected exit ${code}, got ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`);
};

async function waitForPhase(releaseId: string, pattern: RegExp, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const { code, json } = await tenantctlJson<{ progress?: { phase: string } }>(['release', 'status', releaseId]);
    last = `exit ${code}: ${JSON.stringify(json).slice(0, 300)}`;
    if (code === 0 && json.progress && pattern.test(json.progress.phase)) return;
    await new Promise((r) => setTimeout(r, 1_000));
  }
  throw new Error(`release ${releaseId} never reached phase ${pattern}; last status ${last}`);
}

interface ReleaseResult {
  releaseId: string;
  workflowId: string;
  url?: string;
  started: boolean;
  attached: boolean;
  status: string;
  reason?: string;
  version: string;
  exitCode: number;
  counts: Record<string, number>;
  tenants: { tenantId: string; wave: string; status: string; reason?: string; previousVersion?: string }[];
  notStarted?: { count: number; reason: string };
}

beforeAll(async () => {
  h = await startHarness();
  // The sandbox fleet plus two plans of this suite's own, so a release takes seconds and the tests
  // do not depend on how the sandbox's plans are tuned. Workers read tenants from the sandbox
  // file; these are the same.
  const fleet = parseYaml(readFileSync(h.env.TENANT_FLEET_CONFIG!, 'utf8')) as { releasePlans: unknown[] };
  fleet.releasePlans.push(
    { name: 'cli-quick', verifyWindow: '1s', verification: 'metrics', waves: [{ name: 'all', tenants: 'rest', maxInFlight: 3 }] },
    {
      name: 'cli-gated',
      verifyWindow: '1s',
      verification: 'metrics',
      waves: [
        { name: 'canary', tenants: 1, maxInFlight: 1, approval: { timeout: '10m', onTimeout: 'abort' } },
        { name: 'rest', tenants: 'rest', maxInFlight: 3 },
      ],
    },
  );
  const configPath = join(dirname(h.env.TENANT_FLEET_CONFIG!), 'fleet.tenantctl-test.yaml');
  writeFileSync(configPath, toYaml(fleet));
  env = { ...(process.env as Record<string, string>), ...h.env, TENANT_FLEET_CONFIG: configPath, USER: 'jest', NO_COLOR: '1' };

  // Releases deploy only to provisioned tenants: provision three through the CLI itself.
  const { code, json, stderr } = await tenantctlJson<{ results: { tenantId: string; ok: boolean }[] }>(['tenant', 'provision', 'hooli', 'globex', 'umbrella']);
  if (code !== 0) throw new Error(`provisioning failed (exit ${code}): ${stderr}`);
  expect(json.results.map((r) => [r.tenantId, r.ok])).toEqual([
    ['hooli', true],
    ['globex', true],
    ['umbrella', true],
  ]);
});

afterAll(async () => {
  await h?.stop();
});

/** Keeps a command's output in the run's sandbox (`cli-output/`), where the README's examples are copied from. */
function keep(name: string, text: string): void {
  const dir = join(dirname(h.env.TENANT_FLEET_CONFIG!), 'cli-output');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), text);
}

describe('tenantctl against the sandbox', () => {
  it('release start --wait --json follows a release to success, and tenant list shows the new version', async () => {
    const releaseId = rid('wait');
    const result = await tenantctlJson<ReleaseResult>(['release', 'start', '--version', '2.0.0', '--plan', 'cli-quick', '--tenants', 'hooli,globex', '--release-id', releaseId, '--wait']);
    expectExit(result, 0);
    expect(result.json).toMatchObject({ releaseId, workflowId: `release/${releaseId}`, started: true, attached: false, status: 'succeeded', version: '2.0.0', exitCode: 0 });
    // The result counts the tenants that succeeded and lists only the others; --page and --tenant show each one.
    expect(result.json.counts.succeeded).toBe(2);
    expect(result.json.tenants).toEqual([]);
    const page = await tenantctlJson<{ page: { page: number; pages: number; total: number }; tenants: { tenantId: string; status: string; previousVersion?: string }[] }>(['release', 'status', releaseId, '--page', '1']);
    expectExit(page, 0);
    expect(page.json.page).toMatchObject({ page: 1, pages: 1, total: 2 });
    expect(page.json.tenants.map((t) => [t.tenantId, t.status, t.previousVersion]).sort()).toEqual([
      ['globex', 'succeeded', '1.0.0'],
      ['hooli', 'succeeded', '1.0.0'],
    ]);
    const one = await tenantctlJson<{ tenants: { tenantId: string; wave: string; status: string; attempts: number }[] }>(['release', 'status', releaseId, '--tenant', 'hooli']);
    expectExit(one, 0);
    expect(one.json.tenants).toEqual([expect.objectContaining({ tenantId: 'hooli', status: 'succeeded', attempts: 1 })]);
    const table = await tenantctl(['release', 'status', releaseId, '--page', '1', '--page-size', '1']);
    expectExit(table, 0);
    expect(table.stdout).toMatch(/tenants 1-1 of 2 \(page 1 of 2\)/);
    // Values the release does not have are refused naming the flag and the value; malformed ones before connecting.
    const pastEnd = await tenantctl(['release', 'status', releaseId, '--page', '3']);
    expectExit(pastEnd, 2);
    expect(pastEnd.stderr).toContain(`--page: release ${releaseId} has 2 tenants in 1 page of 100 (got "3")`);
    const stranger = await tenantctl(['release', 'status', releaseId, '--tenant', 'umbrella']);
    expectExit(stranger, 2);
    expect(stranger.stderr).toContain(`--tenant: release ${releaseId} has no tenant with this ID`);
    const zero = await tenantctl(['release', 'status', releaseId, '--page', '0']);
    expectExit(zero, 2);
    expect(zero.stderr).toContain('--page: expected a whole number from 1 to 1000000 (got "0")');
    const both = await tenantctl(['release', 'status', releaseId, '--page', '1', '--tenant', 'hooli']);
    expectExit(both, 2);
    expect(both.stderr).toContain('--page: give --tenant or --page, not both');
    expect(result.json.url).toBe(`${h.env.TEMPORAL_UI_URL}/namespaces/${h.env.TEMPORAL_NAMESPACE}/workflows/${encodeURIComponent(`release/${releaseId}`)}`);
    // Progress went to stderr as plain lines (not a terminal), the result alone to stdout.
    expect(result.stderr).toMatch(/tenant hooli: .*succeeded/);

    const list = await tenantctlJson<{ tenants: { id: string; runtime: string; version: string | null; latest: { type: string; status: string } | null }[] }>(['tenant', 'list']);
    expectExit(list, 0);
    const byId = new Map(list.json.tenants.map((t) => [t.id, t]));
    expect(list.json.tenants).toHaveLength(12);
    expect(byId.get('hooli')).toMatchObject({ runtime: 'ecs', version: '2.0.0', latest: { type: 'releaseTenant', status: 'COMPLETED' } });
    expect(byId.get('umbrella')).toMatchObject({ version: '1.0.0', latest: { type: 'provisionTenant', status: 'COMPLETED' } });
    expect(byId.get('stark')).toMatchObject({ version: null, latest: null });
  });

  it('a second release start with the same --release-id attaches instead of starting another release', async () => {
    const releaseId = rid('attach');
    const args = ['release', 'start', '--version', '2.1.0', '--plan', 'cli-gated', '--tenants', 'umbrella,globex', '--release-id', releaseId];
    const first = await tenantctlJson<ReleaseResult>(args);
    expectExit(first, 0);
    expect(first.json).toMatchObject({ started: true, attached: false });
    // The retried CI job, while the first is still running (it waits at the canary's gate); another
    // job ID (requestedBy) is who asked, not what: it still attaches.
    const second = await tenantctlJson<ReleaseResult>(args, { USER: 'jest-retry' });
    expectExit(second, 0);
    expect(second.json).toMatchObject({ releaseId, started: false, attached: true });
    expect(second.stderr).toContain('already exists: attached to it');
    // The same ID for another version is one ID meaning two releases: refused.
    const other = await tenantctl([...args.map((a) => (a === '2.1.0' ? '2.1.1' : a))]);
    expectExit(other, 2);
    expect(other.stderr).toContain(`version: differs from release ${releaseId}, which has "2.1.0" (got "2.1.1")`);

    const runs = await h.client.workflow.count(`WorkflowId = 'release/${releaseId}'`);
    expect(runs.count).toBe(1);
    // Leave nothing running for the next test: abort, and follow until the canary in flight has finished.
    expectExit(await tenantctl(['release', 'abort', releaseId, '--reason', 'test cleanup']), 0);
    const watched = await tenantctlJson<ReleaseResult>(['release', 'status', releaseId, '--watch']);
    expectExit(watched, 3);
    expect(watched.json.status).toBe('aborted');
  });

  it('same release ID, other plan or tenants: exit 2 naming the field with both values, nothing new started', async () => {
    const releaseId = rid('changed');
    const args = ['release', 'start', '--version', '2.1.0', '--plan', 'cli-gated', '--tenants', 'umbrella,globex', '--release-id', releaseId];
    const first = await tenantctlJson<ReleaseResult>(args);
    expectExit(first, 0);
    const { runId } = await h.client.workflow.getHandle(`release/${releaseId}`).describe();

    // CI retried with a changed pipeline: another plan...
    const otherPlan = await tenantctl(args.map((a) => (a === 'cli-gated' ? 'cli-quick' : a)));
    expectExit(otherPlan, 2);
    expect(otherPlan.stderr).toContain('refused, nothing was started');
    expect(otherPlan.stderr).toContain(`releaseId: release ${releaseId} already exists for version "2.1.0" with a different request (plan, waves)`);
    expect(otherPlan.stderr).toContain(`plan: differs from release ${releaseId}, which has "cli-gated" (got "cli-quick")`);
    // ...or other tenants (the --json form carries the same lines for machines).
    const otherTenants = await tenantctlJson<{ error: { kind: string; exitCode: number; problems: string[] } }>(args.map((a) => (a === 'umbrella,globex' ? 'hooli,globex' : a)));
    expectExit(otherTenants, 2);
    expect(otherTenants.json.error).toMatchObject({ kind: 'refused', exitCode: 2 });
    expect(otherTenants.json.error.problems).toContain(`tenants: differs from release ${releaseId}, which has ["globex","umbrella"] (got ["globex","hooli"])`);

    // Nothing new: the same single run, still releasing the tenants first asked for, and hooli untouched.
    const after = await h.client.workflow.getHandle(`release/${releaseId}`).describe();
    expect(after.runId).toBe(runId);
    expect(after.status.name).toBe('RUNNING');
    expect((await h.client.workflow.count(`WorkflowId = 'release/${releaseId}'`)).count).toBe(1);
    const status = await tenantctlJson<{ progress: { tenants: Record<string, unknown> } }>(['release', 'status', releaseId]);
    expect(Object.keys(status.json.progress.tenants).sort()).toEqual(['globex', 'umbrella']);
    await expect(h.client.workflow.getHandle(`release/${releaseId}/tenant/hooli`).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);

    // The identical request still attaches.
    const again = await tenantctlJson<ReleaseResult>(args);
    expectExit(again, 0);
    expect(again.json).toMatchObject({ releaseId, started: false, attached: true });

    expectExit(await tenantctl(['release', 'abort', releaseId, '--reason', 'test cleanup']), 0);
    expectExit(await tenantctl(['release', 'status', releaseId, '--watch']), 3);
  });

  it('tenant provision while a provisioning with another spec runs: exit 2 naming each differing field, nothing else started', async () => {
    // A provisioning of acme that stays running: started on a task queue no worker polls, as one
    // whose worker is busy would, with the spec the fleet config had before someone changed it.
    const spec = h.tenant('acme');
    const running = await h.client.workflow.start('provisionTenant', {
      workflowId: 'tenant/acme/provision',
      taskQueue: `unpolled-${RUN}`,
      args: [{ tenant: { ...spec, replicas: spec.replicas + 1, database: { ...spec.database, instanceClass: 'db.r6g.2xlarge' } }, requestedBy: 'someone-else' }],
    });
    try {
      const refused = await tenantctlJson<{ results: { tenantId: string; ok: boolean; exitCode: number; error: { message: string } }[] }>(['tenant', 'provision', 'acme']);
      expectExit(refused, 2);
      const [result] = refused.json.results;
      expect(result).toMatchObject({ tenantId: 'acme', ok: false, exitCode: 2 });
      expect(result!.error.message).toContain('tenant: the running provisioning of tenant acme was asked for something else (tenant.database.instanceClass, tenant.replicas)');
      expect(result!.error.message).toContain(`tenant.database.instanceClass: differs from the running provisioning of tenant acme, which has "db.r6g.2xlarge" (got ${JSON.stringify(spec.database.instanceClass)})`);
      expect(result!.error.message).toContain(`tenant.replicas: differs from the running provisioning of tenant acme, which has ${spec.replicas + 1} (got ${spec.replicas})`);
      // Nothing else started: the running provisioning is the only one.
      expect((await running.describe()).status.name).toBe('RUNNING');
      expect((await h.client.workflow.count(`WorkflowId = 'tenant/acme/provision'`)).count).toBe(1);
    } finally {
      await running.terminate('test cleanup');
    }
  });

  it('approves the canary gate through the CLI; --watch then reports success', async () => {
    const releaseId = rid('approve');
    expectExit(await tenantctl(['release', 'start', '--version', '2.2.0', '--plan', 'cli-gated', '--tenants', 'hooli,globex', '--release-id', releaseId]), 0);
    await waitForPhase(releaseId, /awaiting-approval$/);

    // While the gate waits, fleet status lists it with the command that approves it.
    const fleet = await tenantctlJson<{ pendingApprovals: { releaseId: string; wave: string; approveCommand: string }[]; versions: { tenants: string[]; version: string }[] }>([
      'fleet',
      'status',
    ]);
    expectExit(fleet, 0);
    expect(fleet.json.pendingApprovals).toContainEqual(expect.objectContaining({ releaseId, wave: 'wave-2', approveCommand: `tenantctl release approve ${releaseId}` }));
    expect(fleet.json.versions.flatMap((v) => v.tenants).sort()).toEqual(h.config.tenants.map((t) => t.id).sort());
    expect(fleet.json.versions.find((v) => v.tenants.includes('umbrella'))!.version).not.toBe('unknown');
    const table = await tenantctl(['fleet', 'status']);
    expectExit(table, 0);
    expect(table.stdout).toContain('Pending approvals');
    expect(table.stdout).toContain(`tenantctl release approve ${releaseId}`);
    keep('fleet-status.txt', table.stdout);

    const approve = await tenantctlJson<{ wave: string; early: boolean; by: string }>(['release', 'approve', releaseId, '--comment', 'canary healthy', '--by', 'alice']);
    expectExit(approve, 0);
    expect(approve.json).toMatchObject({ wave: 'canary', early: false, by: 'alice' });

    const watched = await tenantctlJson<ReleaseResult>(['release', 'status', releaseId, '--watch']);
    expectExit(watched, 0);
    expect(watched.json.status).toBe('succeeded');
    expect(watched.json.counts.succeeded).toBe(2);
    expect(watched.json.tenants).toEqual([]);
    const hooli = await tenantctlJson<{ tenants: { tenantId: string; wave: string; status: string }[] }>(['release', 'status', releaseId, '--tenant', 'hooli']);
    expect(hooli.json.tenants[0]).toMatchObject({ wave: 'canary', status: 'succeeded' });

    // Nothing left to approve: the release's validator refuses, and the CLI says so with exit 2.
    const again = await tenantctl(['release', 'approve', releaseId]);
    expectExit(again, 2);
    expect(again.stderr).toMatch(/nothing to approve|has already finished/);
  });

  it('pauses, resumes and aborts through the CLI; waiting on the aborted release exits 3', async () => {
    const releaseId = rid('abort');
    const args = ['release', 'start', '--version', '2.3.0', '--plan', 'cli-gated', '--tenants', 'hooli,umbrella', '--release-id', releaseId];
    expectExit(await tenantctl(args), 0);
    await waitForPhase(releaseId, /awaiting-approval$/);

    expectExit(await tenantctl(['release', 'pause', releaseId, '--reason', 'looking at graphs']), 0);
    const paused = await tenantctlJson<{ progress: { status: string; paused?: { by: string } } }>(['release', 'status', releaseId]);
    expect(paused.json.progress).toMatchObject({ status: 'paused', paused: { by: 'jest' } });
    const pausedTwice = await tenantctl(['release', 'pause', releaseId]);
    expectExit(pausedTwice, 2);
    expect(pausedTwice.stderr).toContain('is already paused');
    expectExit(await tenantctl(['release', 'resume', releaseId]), 0);

    const abort = await tenantctlJson<{ aborted: boolean; stoppedStarting: string[] }>(['release', 'abort', releaseId, '--reason', 'error rate up in canary']);
    expectExit(abort, 0);
    expect(abort.json).toMatchObject({ aborted: true, stoppedStarting: ['umbrella'], stoppedStartingCount: 1 });

    // CI retrying `start --wait` on the aborted release attaches and reports the abort.
    const waited = await tenantctlJson<ReleaseResult>([...args, '--wait']);
    expectExit(waited, 3);
    expect(waited.json).toMatchObject({ attached: true, status: 'aborted', exitCode: 3 });
    expect(waited.json.reason).toContain('error rate up in canary');
    // umbrella never started: counted with the reason, not listed.
    expect(waited.json.notStarted).toMatchObject({ count: 1, reason: expect.stringContaining('error rate up in canary') as unknown });

    const approveAfter = await tenantctl(['release', 'approve', releaseId]);
    expectExit(approveAfter, 2);
  });

  it('a release whose tenant never becomes healthy is rolled back and exits 1', async () => {
    const releaseId = rid('broken');
    const result = await tenantctlJson<ReleaseResult>(['release', 'start', '--version', '3.0.0-broken', '--plan', 'cli-quick', '--tenants', 'globex', '--release-id', releaseId, '--wait']);
    expectExit(result, 1);
    expect(result.json.status).toMatch(/^(halted|completed-with-failures)$/);
    expect(result.json.tenants).toEqual([expect.objectContaining({ tenantId: 'globex', status: 'rolled-back' })]);
  });

  it.each([
    ['an unknown tenant', ['--version', '4.0.0', '--plan', 'cli-quick', '--tenants', 'hooli,nobody'], '--tenants: unknown tenant; the fleet config has no tenant with this ID (got "nobody")'],
    ['a malformed version', ['--version', '4.0.0 beta', '--plan', 'cli-quick'], '--version: expected an image tag: up to 128 letters, digits, "_", "." or "-", not starting with "." or "-" (got "4.0.0 beta")'],
    ['an unknown plan', ['--version', '4.0.0', '--plan', 'yolo'], '--plan: unknown release plan; expected one of: standard, '],
  ])('refuses %s with exit 2 and a message naming it, and starts nothing', async (what, args, message) => {
    const releaseId = rid(`refused-${what.split(' ').pop()!}`);
    const result = await tenantctl(['release', 'start', ...args, '--release-id', releaseId, '--wait']);
    expectExit(result, 2);
    expect(result.stderr).toContain(message);
    expect(result.stderr).toContain('refused, nothing was started');
    await expect(h.client.workflow.getHandle(`release/${releaseId}`).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    expect((await h.client.workflow.count(`WorkflowId = 'release/${releaseId}'`)).count).toBe(0);
  });

  it('a freeze ending seconds later holds a tenant ("waiting for window until …" in release status); skip-window lets one with a window days away deploy now, with the reason recorded', async () => {
    const releaseId = rid('window');
    // Windows and freezes travel in the release's input from tenantctl's fleet config: a variant of this suite's file.
    const fleet = parseYaml(readFileSync(env.TENANT_FLEET_CONFIG!, 'utf8')) as { tenants: { id: string; maintenanceWindows?: string[] }[]; freezes?: unknown[] };
    const freezeEnds = new Date(Date.now() + 12_000).toISOString();
    fleet.freezes = [{ from: new Date(Date.now() - 60_000).toISOString(), until: freezeEnds, reason: 'jest freeze' }];
    // Three days on, same hour: far away, and never open now.
    const later = new Date(Date.now() + 3 * 86_400_000);
    const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][later.getUTCDay()]!;
    const hour = (h: number) => `${String(h % 24).padStart(2, '0')}:00`;
    const window = `${day} ${hour(later.getUTCHours() + 1)}-${hour(later.getUTCHours() + 2)} UTC`;
    fleet.tenants.find((t) => t.id === 'globex')!.maintenanceWindows = [window];
    const configPath = join(tempDir('tenantctl-window-'), 'fleet.yaml');
    writeFileSync(configPath, toYaml(fleet));
    const withWindows = { TENANT_FLEET_CONFIG: configPath };

    expectExit(await tenantctl(['release', 'start', '--version', '2.5.0', '--plan', 'cli-quick', '--tenants', 'hooli,globex', '--release-id', releaseId], withWindows), 0);
    let waiting: { tenantId: string; until: string; waitingFor?: string }[] = [];
    for (let i = 0; i < 40 && waiting.length < 2; i++) {
      const { json } = await tenantctlJson<{ progress?: { waitingForWindow?: typeof waiting } }>(['release', 'status', releaseId]);
      waiting = json.progress?.waitingForWindow ?? [];
      if (waiting.length < 2) await new Promise((r) => setTimeout(r, 250));
    }
    expect(waiting.map((w) => w.tenantId).sort()).toEqual(['globex', 'hooli']);
    const view = await tenantctl(['release', 'status', releaseId]);
    expectExit(view, 0);
    expect(view.stdout).toContain(`hooli waiting for window until ${freezeEnds}: the freeze until ${freezeEnds} (jest freeze)`);
    expect(view.stdout).toMatch(/globex waiting for window until \S+: window /);
    expect(view.stdout).toContain(`tenantctl release skip-window ${releaseId} --tenant <id> --reason <why>`);

    const skip = await tenantctl(['release', 'skip-window', releaseId, '--tenant', 'globex', '--reason', 'customer approved an early deploy']);
    expectExit(skip, 0);
    expect(skip.stdout).toContain(`tenant globex of release ${releaseId} deploys now (it waited for its window until `);
    const stranger = await tenantctl(['release', 'skip-window', releaseId, '--tenant', 'umbrella', '--reason', 'x']);
    expectExit(stranger, 2);
    expect(stranger.stderr).toContain(`release ${releaseId} has no tenant "umbrella"`);

    const result = await tenantctlJson<ReleaseResult>(['release', 'status', releaseId, '--watch']);
    expectExit(result, 0);
    expect(result.json).toMatchObject({ status: 'succeeded', counts: { succeeded: 2 } });
    // hooli started its deploy only once the freeze was over.
    const hooli = await h.client.workflow.getHandle(`release/${releaseId}/tenant/hooli`).fetchHistory();
    const lockAsked = hooli.events!.find((e) => e.activityTaskScheduledEventAttributes || e.startChildWorkflowExecutionInitiatedEventAttributes)!;
    expect(Number(lockAsked.eventTime!.seconds) * 1000).toBeGreaterThanOrEqual(Date.parse(freezeEnds) - 1_000);
    const globex = await tenantctlJson<{ tenants: { tenantId: string; status: string; reason?: string }[] }>(['release', 'status', releaseId, '--tenant', 'globex']);
    expect(globex.json.tenants).toEqual([expect.objectContaining({ status: 'succeeded', reason: 'window wait skipped by jest: customer approved an early deploy' })]);
  });

  it('tenant history lists every workflow that touched the tenant, newest first, with UI links', async () => {
    const { code, json } = await tenantctlJson<{ workflows: { workflowId: string; type: string; status: string; startTime: string; url: string }[] }>(['tenant', 'history', 'hooli']);
    expect(code).toBe(0);
    const ids = json.workflows.map((w) => w.workflowId);
    expect(ids).toEqual(
      expect.arrayContaining([
        'tenant/hooli/provision',
        `release/${rid('wait')}/tenant/hooli`,
        `release/${rid('approve')}/tenant/hooli`,
        `release/${rid('abort')}/tenant/hooli`,
      ]),
    );
    expect(ids).not.toContain('tenant/hooli/lock');
    expect(ids.some((id) => id.includes('globex'))).toBe(false);
    const starts = json.workflows.map((w) => w.startTime);
    expect(starts).toEqual([...starts].sort().reverse());
    expect(ids[ids.length - 1]).toBe('tenant/hooli/provision');
    expect(json.workflows[0]!.url).toContain(`${h.env.TEMPORAL_UI_URL}/namespaces/`);
  });

  it('certs plan is a dry run over the fleet config; certs sync tells the running workflow about every tenant; certs status reports', async () => {
    const group = 'sandbox-alb';
    const handle = h.client.workflow.getHandle(`certs/${group}`);
    const signals = async () => ((await handle.fetchHistory()).events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes).length;
    const groupTenants = h.config.tenants.filter((t) => t.loadBalancer === group);

    // Provisioning started the group's workflow; status reads it.
    const status = await tenantctlJson<{ groups: { group: string; status: { phase: string; health: string } | null }[] }>(['certs', 'status', '--group', group]);
    expect([0, 1]).toContain(status.code);
    expect(status.json.groups.map((g) => g.group)).toEqual([group]);
    expect(status.json.groups[0]!.status?.phase).toMatch(/^certs\//);

    const before = await signals();
    const plan = await tenantctlJson<{ groups: { group: string; basis: string; plan: { certificates: { names: string[] }[]; uncovered: unknown[] } }[] }>(['certs', 'plan', '--group', group]);
    expectExit(plan, 0);
    const [planned] = plan.json.groups;
    expect(planned).toMatchObject({ group, basis: 'workflow-status', plan: { uncovered: [] } });
    // Every hostname of every tenant on the load balancer is served by some planned certificate name.
    const served = planned!.plan.certificates.flatMap((c) => c.names);
    for (const hostname of groupTenants.flatMap((t) => t.hostnames)) {
      expect(served.some((name) => name === hostname || (name.startsWith('*.') && hostname.slice(hostname.indexOf('.') + 1) === name.slice(2)))).toBe(true);
    }
    expect(await signals()).toBe(before); // a dry run tells the workflow nothing

    const sync = await tenantctlJson<{ groups: { group: string; started: boolean; tenants: string[] }[] }>(['certs', 'sync', '--group', group]);
    expectExit(sync, 0);
    expect(sync.json.groups).toEqual([expect.objectContaining({ group, started: false })]);
    expect(sync.json.groups[0]!.tenants.sort()).toEqual(groupTenants.map((t) => t.id).sort());
    expect(await signals()).toBe(before + groupTenants.length);

    const unknown = await tenantctl(['certs', 'status', '--group', 'nope']);
    expectExit(unknown, 2);
    expect(unknown.stderr).toContain('--group: unknown certificate group');
  });

  describe('tenant diff', () => {
    interface StackChangeJson {
      action: string;
      logicalId: string;
      resourceType: string;
      physicalId?: string;
      replacement?: string;
      details: { attribute: string; name?: string; requiresRecreation?: string; changeSource?: string; causingEntity?: string }[];
    }
    interface DiffJson {
      tenantId: string;
      changes: boolean;
      stacks: { stackName: string; state: string; changes: StackChangeJson[] }[];
      workload?: { kind: string; state: string; changes: { object: string; field: string; action: string; before?: unknown; after?: unknown }[] };
    }
    let scratch: string;
    const stackName = 'tenant-umbrella';
    const cfn = () => h.admin.cloudFormation(h.tenant('umbrella').aws);
    /** Everything a diff must leave as it was: the stack's status and last update, its events and its change sets. */
    const stackState = async () => {
      const [{ Stacks = [] }, { StackEvents = [] }, { Summaries = [] }] = await Promise.all([
        cfn().send(new DescribeStacksCommand({ StackName: stackName })),
        cfn().send(new DescribeStackEventsCommand({ StackName: stackName })),
        cfn().send(new ListChangeSetsCommand({ StackName: stackName })),
      ]);
      return {
        status: Stacks[0]?.StackStatus,
        lastUpdated: Stacks[0]?.LastUpdatedTime?.toISOString(),
        events: StackEvents.length,
        changeSets: Summaries.map((c) => `${c.ChangeSetName}:${c.ExecutionStatus}`).sort(),
      };
    };
    /** A fleet config like the suite's, with umbrella's entry changed. */
    const configWith = (change: Record<string, unknown>) => {
      const fleet = parseYaml(readFileSync(env.TENANT_FLEET_CONFIG!, 'utf8')) as { tenants: { id: string }[] };
      fleet.tenants = fleet.tenants.map((t) => (t.id === 'umbrella' ? { ...t, ...change } : t));
      const path = join(scratch, `fleet-${Object.keys(change).join('-')}.yaml`);
      writeFileSync(path, toYaml(fleet));
      return path;
    };

    beforeAll(() => {
      scratch = tempDir('tenantctl-diff-');
    });

    it('shows a DB instance class change as "modify" and an engine change as "replace", executes nothing and leaves no change set', async () => {
      const spec = h.tenant('umbrella');
      const unchanged = await tenantctlJson<DiffJson>(['tenant', 'diff', 'umbrella']);
      expectExit(unchanged, 0);
      expect(unchanged.json.stacks.map((s) => [s.stackName, s.state])).toEqual([
        [stackName, 'unchanged'],
        ['tenant-umbrella-Traffic', 'unchanged'],
      ]);
      // What provisioning would apply to the ECS service is what runs: the same comparison as its apply.
      expect(unchanged.json.workload).toMatchObject({ kind: 'ecs', state: 'unchanged', changes: [] });
      expect(unchanged.json.changes).toBe(false);

      // A diff cut short earlier left its change set behind: the next one removes it.
      await cfn().send(
        new CreateChangeSetCommand({
          StackName: stackName,
          ChangeSetName: 'tenant-fleet-preview',
          ChangeSetType: 'UPDATE',
          UsePreviousTemplate: true,
          Capabilities: ['CAPABILITY_NAMED_IAM'],
          Parameters: [{ ParameterKey: 'BackupRetentionDays', ParameterValue: '21' }, ...['TenantId', 'Environment', 'Production', 'DeletionProtection', 'Runtime', 'VpcId', 'SubnetIds', 'DatabaseInstanceClass', 'DatabaseEngineVersion', 'WorkloadSecurityGroupId', 'WorkloadSecurityGroupOwnerId'].map((ParameterKey) => ({ ParameterKey, UsePreviousValue: true }))],
        }),
      );
      // Created in the background, as on AWS: AVAILABLE only once its creation is complete (a FAILED one throws with its reason).
      await waitUntilChangeSetCreateComplete({ client: cfn(), maxWaitTime: 120, minDelay: 1, maxDelay: 2 }, { StackName: stackName, ChangeSetName: 'tenant-fleet-preview' });
      const before = await stackState();
      expect(before.changeSets).toContain('tenant-fleet-preview:AVAILABLE');

      const instanceClass = await tenantctlJson<DiffJson>(['tenant', 'diff', 'umbrella'], {
        TENANT_FLEET_CONFIG: configWith({ database: { instanceClass: 'db.r6g.2xlarge' }, replicas: spec.replicas + 1 }),
      });
      expectExit(instanceClass, 0);
      const [tenantStack, trafficStack] = instanceClass.json.stacks;
      expect(tenantStack).toMatchObject({ stackName, state: 'changes' });
      expect(tenantStack!.changes).toEqual([
        {
          action: 'modify',
          logicalId: 'DatabaseWriter',
          resourceType: 'AWS::RDS::DBInstance',
          physicalId: expect.stringContaining('umbrella') as unknown,
          replacement: 'False',
          details: [{ attribute: 'Properties', name: 'DBInstanceClass', requiresRecreation: 'Never', evaluation: 'Static', changeSource: 'ParameterReference', causingEntity: 'DatabaseInstanceClass' }],
        },
      ]);
      expect(trafficStack).toMatchObject({ state: 'unchanged' });
      expect(instanceClass.json.workload!.changes).toEqual([
        expect.objectContaining({ object: 'service tenant-umbrella', field: 'desiredCount', action: 'modify', before: spec.replicas, after: spec.replicas + 1 }),
      ]);
      const modifyTable = await tenantctl(['tenant', 'diff', 'umbrella'], { TENANT_FLEET_CONFIG: configWith({ database: { instanceClass: 'db.r6g.2xlarge' }, replicas: spec.replicas + 1 }) });
      expectExit(modifyTable, 0);
      expect(modifyTable.stdout).toMatch(/modify\s+DatabaseWriter\s+AWS::RDS::DBInstance\s+\S+\s+DBInstanceClass \(parameter DatabaseInstanceClass\)/);
      // Says what was done: two change sets (tenant and traffic stack) made and deleted, the ECS side only read.
      expect(modifyTable.stdout).toContain('Nothing was changed: the 2 change sets made to compute this were deleted without being executed; the ECS service and task definition were only read.');
      keep('tenant-diff-modify.txt', modifyTable.stdout);

      // The engine is the template's: a template of the next version, given with --templates.
      const templates = join(scratch, 'templates');
      cpSync(join(INFRA_DIR, 'cloudformation'), templates, { recursive: true });
      const tenantTemplate = join(templates, 'tenant.yaml');
      const original = readFileSync(tenantTemplate, 'utf8');
      const edited = original.replace(/(DatabaseCluster:\n(?:.*\n)*?\s+Engine: )aurora-postgresql/, '$1aurora-mysql');
      expect(edited).not.toBe(original);
      writeFileSync(tenantTemplate, edited);
      const engine = await tenantctlJson<DiffJson>(['tenant', 'diff', 'umbrella', '--templates', templates]);
      expectExit(engine, 0);
      const byId = new Map(engine.json.stacks[0]!.changes.map((c) => [c.logicalId, c]));
      expect(byId.get('DatabaseCluster')).toMatchObject({
        action: 'replace',
        replacement: 'True',
        details: [{ attribute: 'Properties', name: 'Engine', requiresRecreation: 'Always', changeSource: 'DirectModification' }],
      });
      // The writer names its cluster: a new cluster means a new writer, found while the update would run.
      expect(byId.get('DatabaseWriter')).toMatchObject({ action: 'replace', details: [expect.objectContaining({ name: 'DBClusterIdentifier', changeSource: 'ResourceReference', causingEntity: 'DatabaseCluster' })] });
      const table = await tenantctl(['tenant', 'diff', 'umbrella', '--templates', templates]);
      expectExit(table, 0);
      expect(table.stdout).toMatch(/Stack tenant-umbrella \(account \d{12}, us-east-1\): \d+ changes, \d+ replacements/);
      expect(table.stdout).toMatch(/replace\s+DatabaseCluster\s+AWS::RDS::DBCluster\s+\S+\s+Engine \(replaces\)/);
      expect(table.stdout).toContain('Nothing was changed: the 2 change sets');
      keep('tenant-diff-replace.txt', table.stdout);

      // Nothing was executed, and no change set is left, the stale one included.
      const after = await stackState();
      expect(after).toEqual({ ...before, changeSets: before.changeSets.filter((c) => !c.startsWith('tenant-fleet-preview:')) });
      expect(after.status).toMatch(/^(CREATE|UPDATE)_COMPLETE$/);
    });

    it('refuses an unknown tenant and a templates folder without the templates, with exit 2, before any AWS call', async () => {
      const unknown = await tenantctl(['tenant', 'diff', 'nobody']);
      expectExit(unknown, 2);
      expect(unknown.stderr).toContain('<tenant>: unknown tenant; the fleet config has: ');
      expect(unknown.stderr).toContain('(got "nobody")');
      const malformed = await tenantctl(['tenant', 'diff', 'Not_A_Tenant']);
      expectExit(malformed, 2);
      expect(malformed.stderr).toContain('<tenant>: ');
      const templates = await tenantctl(['tenant', 'diff', 'umbrella', '--templates', scratch]);
      expectExit(templates, 2);
      expect(templates.stderr).toContain(`--templates: expected a directory holding the CloudFormation templates tenant.yaml and tenant-traffic.yaml (got ${JSON.stringify(scratch)})`);
    });
  });

  it('tenant resources lists the stacks, the ECS service and the certificates of a tenant in another account, with console links', async () => {
    interface ResourcesJson {
      tenantId: string;
      stacks: { stackName: string; accountId: string; status?: string; link?: string; resources: { logicalId: string; type: string; physicalId?: string; status: string; link?: string }[] }[];
      runtime: { kind: string; cluster: string; accountId: string; objects: { kind: string; name: string; status: string; link?: string }[] };
      certificates: { group: string; items: { arn: string; names: string[]; status: string; covers: string[]; attached: boolean; link: string }[]; uncovered: string[] };
    }
    const spec = h.tenant('umbrella');
    // Provisioning asked the group's certificates workflow for umbrella's names: wait until ACM has a certificate for them.
    let result: CliResult & { json: ResourcesJson };
    const deadline = Date.now() + 90_000;
    do {
      result = await tenantctlJson<ResourcesJson>(['tenant', 'resources', 'umbrella']);
      expectExit(result, 0);
      if (result.json.certificates.items.length > 0) break;
      await new Promise((r) => setTimeout(r, 2_000));
    } while (Date.now() < deadline);
    const { json } = result;
    expect(json.stacks.map((s) => [s.stackName, s.accountId])).toEqual([
      ['tenant-umbrella', spec.aws.accountId],
      ['tenant-umbrella-Traffic', spec.loadBalancer!.aws.accountId],
    ]);
    // umbrella lives in its own account: read through its fleet access role, not the caller's account.
    expect(spec.aws.accountId).not.toBe(h.tenant('hooli').aws.accountId);
    const tenantStack = json.stacks[0]!;
    expect(tenantStack.status).toMatch(/^(CREATE|UPDATE)_COMPLETE$/);
    expect(tenantStack.link).toMatch(/^https:\/\/us-east-1\.console\.aws\.amazon\.com\/cloudformation\/home\?region=us-east-1#\/stacks\/stackinfo\?stackId=arn%3Aaws%3Acloudformation/);
    const cluster = tenantStack.resources.find((r) => r.logicalId === 'DatabaseCluster');
    expect(cluster).toMatchObject({ type: 'AWS::RDS::DBCluster', physicalId: 'tenant-umbrella', status: expect.stringMatching(/_COMPLETE$/) as unknown });
    expect(cluster!.link).toBe('https://us-east-1.console.aws.amazon.com/rds/home?region=us-east-1#database:id=tenant-umbrella;is-cluster=true');
    expect(json.stacks[1]!.resources.map((r) => r.type)).toContain('AWS::ElasticLoadBalancingV2::TargetGroup');
    expect(json.runtime).toMatchObject({ kind: 'ecs', accountId: spec.runtime.kind === 'ecs' ? spec.runtime.aws.accountId : '' });
    expect(json.runtime.objects[0]).toMatchObject({ kind: 'service', name: 'tenant-umbrella', status: expect.stringMatching(/^active: \d+\/\d+ running/) as unknown });
    expect(json.runtime.objects.some((o) => o.kind === 'deployment')).toBe(true);
    expect(json.certificates.group).toBe(spec.loadBalancer!.name);
    expect(json.certificates.items.length).toBeGreaterThan(0);
    for (const c of json.certificates.items) {
      expect(c.covers).toEqual(spec.hostnames);
      expect(c.link).toMatch(/^https:\/\/us-east-1\.console\.aws\.amazon\.com\/acm\/home\?region=us-east-1#\/certificates\//);
    }
    const served = json.certificates.items.filter((c) => c.status === 'ISSUED' && c.attached).flatMap((c) => c.covers);
    expect(json.certificates.uncovered).toEqual(spec.hostnames.filter((name) => !served.includes(name)));

    const table = await tenantctl(['tenant', 'resources', 'umbrella']);
    expectExit(table, 0);
    expect(table.stdout).toMatch(new RegExp(`Stack tenant-umbrella \\(account ${spec.aws.accountId}, us-east-1\\): (CREATE|UPDATE)_COMPLETE`));
    expect(table.stdout).toMatch(/DatabaseCluster\s+AWS::RDS::DBCluster\s+tenant-umbrella\s+\S+_COMPLETE\s+https:\/\/us-east-1\.console\.aws\.amazon\.com\/rds\//);
    expect(table.stdout).toMatch(/service\s+tenant-umbrella\s+active: /);
    expect(table.stdout).toContain(`Certificates (group ${spec.loadBalancer!.name}`);

    const unknown = await tenantctl(['tenant', 'resources', 'nobody']);
    expectExit(unknown, 2);
    expect(unknown.stderr).toContain('<tenant>: unknown tenant; the fleet config has: ');
  });

  it('release start --manifest s3://… reads the manifest an artifact store published: planned whole; one missing a service\'s image, or no object, exit 2 naming it', async () => {
    // The CI job's own credentials read its artifact bucket (here the sandbox administrator's), not the fleet's.
    const credentials = { accessKeyId: env.TENANT_FLEET_SANDBOX_ADMIN_ACCESS_KEY_ID!, secretAccessKey: env.TENANT_FLEET_SANDBOX_ADMIN_SECRET_ACCESS_KEY! };
    const ci = { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey };
    const s3 = new S3Client({ region: env.AWS_REGION ?? 'us-east-1', endpoint: env.AWS_ENDPOINT_URL, forcePathStyle: true, credentials });
    const bucket = `tenant-fleet-artifacts-${RUN}`;
    const manifest = {
      version: '3.0.0',
      services: { web: 'registry.sandbox.test/tenant-app:3.0.0', worker: 'registry.sandbox.test/tenant-worker:3.0.0', api: 'registry.sandbox.test/tenant-app:3.0.0' },
      environment: { worker: { WORKER_CONCURRENCY: '16' } },
    };
    try {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'releases/3.0.0.yaml', Body: toYaml(manifest) }));
      const { worker: _worker, ...withoutWorker } = manifest.services;
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'releases/3.0.1.yaml', Body: toYaml({ version: '3.0.1', services: withoutWorker }) }));
    } finally {
      s3.destroy();
    }
    const start = (key: string) => ['release', 'start', '--manifest', `s3://${bucket}/${key}`, '--plan', 'cli-quick', '--tenants', 'oscorp', '--dry-run'];

    const planned = await tenantctlJson<{ dryRun: boolean; release: { version: string; manifest?: unknown } }>(start('releases/3.0.0.yaml'), ci);
    expectExit(planned, 0);
    expect(planned.json.release.version).toBe('3.0.0');
    expect(planned.json.release.manifest).toEqual(manifest);

    const missing = await tenantctl(start('releases/3.0.1.yaml'), ci);
    expectExit(missing, 2);
    expect(missing.stderr).toContain('manifest.services.worker: tenant oscorp runs a service "worker"; expected an image for it (got none)');

    const absent = await tenantctl(start('releases/9.9.9.yaml'), ci);
    expectExit(absent, 2);
    expect(absent.stderr).toMatch(/manifest: cannot read the object; expected a readable s3:\/\/bucket\/key \(got "s3:\/\/tenant-fleet-artifacts-[a-z0-9]+\/releases\/9\.9\.9\.yaml": NoSuchKey/);
  });

  it('release list shows the releases with their version, plan and outcome', async () => {
    const { code, json } = await tenantctlJson<{ releases: { releaseId: string; status: string; version?: string; plan?: string; phase?: string }[] }>(['release', 'list', '--limit', '100']);
    expect(code).toBe(0);
    const byId = new Map(json.releases.map((r) => [r.releaseId, r]));
    expect(byId.get(rid('wait'))).toMatchObject({ status: 'COMPLETED', version: '2.0.0', plan: 'cli-quick', phase: 'succeeded' });
    expect(byId.get(rid('abort'))).toMatchObject({ status: 'FAILED', version: '2.3.0', phase: 'aborted' });
    expect([...byId.keys()].some((id) => id.includes('refused'))).toBe(false);
  });
});
