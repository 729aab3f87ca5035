import { WorkflowFailedError, WorkflowUpdateFailedError, ServiceError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, RetryState, TimeoutFailure, TimeoutType } from '@temporalio/common';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { defaultActor } from '../../src/client/cli/actor';
import { EXIT, exitCodeForError, exitCodeForSummary, CliInputError } from '../../src/client/cli/exit-codes';
import { runCliCaptured, OFFLINE_CLI_ENV } from '../support/cli';
import { colourWanted, Output, renderTable } from '../../src/client/cli/output';
import { generatedReleaseId } from '../../src/client/cli/release';
import type { Client } from '@temporalio/client';
import { finalEvents, followRelease } from '../../src/client/cli/follow';
import type { ReleaseHandle } from '../../src/client/releases';
import { progressEvents } from '../../src/client/cli/release-view';
import { cliTemporalSettings } from '../../src/client/cli/temporal-settings';
import { UiLinks } from '../../src/client/cli/ui-links';
import { RELEASE_ID_PATTERN } from '../../src/shared/ids';
import type { ReleaseProgress } from '../../src/shared/messages/release';
import { tempDir } from '../support/temp-dir';

const CODEC_KEYS = `k1:${Buffer.alloc(32, 7).toString('base64')}`;

/** Runs the CLI in-process; any attempt to connect shows as exit 4 (see OFFLINE_CLI_ENV). */
const cli = (argv: string[], env: Record<string, string> = {}) => runCliCaptured(argv, { ...OFFLINE_CLI_ENV, ...env });

describe('tenantctl argument validation (refused before connecting)', () => {
  it.each([
    [['release', 'start'], '--version: required: the image tag to release'],
    [['release', 'start', '--version', 'bad tag!'], '--version: expected an image tag'],
    [['release', 'start', '--version', '1.0.0', '--tenants', 'acme,Not_A_Tenant'], '--tenants[1]: expected 2-32 lowercase letters'],
    [['release', 'start', '--version', '1.0.0', '--tenants', 'acme,nobody'], '--tenants: unknown tenant; the fleet config has no tenant with this ID (got "nobody")'],
    [['release', 'start', '--version', '1.0.0', '--plan', 'yolo'], '--plan: unknown release plan; expected one of: standard (got "yolo")'],
    [['release', 'start', '--version', '1.0.0', '--env', 'qa'], '--env: unknown environment'],
    [['release', 'start', '--version', '1.0.0', '--release-id=-leading-dash'], '--release-id: expected 1-64 letters'],
    [['release', 'start', '--version', '1.0.0', '--release-id', '--wait'], '--release-id: its value starts with "-"'],
    [['release', 'start', '--versoin', '1.0.0'], '--versoin: unknown option for `tenantctl release start`'],
    [['release', 'start', '--version'], '--version: expected a value after it'],
    [['release', 'approve'], '<id>: required: the release ID (got nothing)'],
    [['release', 'approve', 'r1', 'r2'], 'r2: unexpected argument'],
    [['release', 'abort', 'r1'], '--reason: required'],
    [['release', 'abort', 'r1', '--reason', 'x', '--rollback', '--no-rollback'], '--rollback: give --rollback or --no-rollback, not both'],
    [['release', 'list', '--limit', 'lots'], '--limit: expected a whole number from 1 to 1000 (got "lots")'],
    [['tenant', 'provision'], '<tenant>: give tenant IDs or --all'],
    [['tenant', 'provision', 'acme', '--all'], '<tenant>: give tenant IDs or --all'],
    [['tenant', 'provision', 'nobody'], '<tenant>: unknown tenant; the fleet config has: acme, globex (got "nobody")'],
    [['tenant', 'deprovision', 'acme'], '--confirm-production: tenant acme is in production environment prod; pass --confirm-production acme'],
    [['tenant', 'history', 'NOPE'], '<tenant>: expected 2-32 lowercase letters'],
    [['tenant', 'diff'], '<tenant>: required: a tenant ID from the fleet config (got nothing)'],
    [['tenant', 'diff', 'nobody'], '<tenant>: unknown tenant; the fleet config has: acme, globex (got "nobody")'],
    [['tenant', 'diff', 'acme', '--templates', '/nonexistent'], '--templates: expected a directory holding the CloudFormation templates tenant.yaml and tenant-traffic.yaml (got "/nonexistent")'],
    [['tenant', 'resources', 'Not_A_Tenant'], '<tenant>: expected 2-32 lowercase letters'],
    [['tenant', 'resources', 'nobody'], '<tenant>: unknown tenant; the fleet config has: acme, globex (got "nobody")'],
    [['certs', 'status', '--group', 'nope'], '--group: unknown certificate group; expected a load balancer from the fleet config: public-us-east-1, public-us-east-1-b (got "nope")'],
    [['certs', 'sync', '--timeout', '0'], '--timeout: expected a whole number from 1 to 86400 (got "0")'],
    [['rocket', 'launch'], '<group>: unknown command group; expected one of: tenant, release, certs, fleet (got "rocket")'],
    [['release', 'launch'], '<command>: unknown `tenantctl release` command'],
  ])('%j exits 2 naming the problem, without connecting', async (argv, message) => {
    const { code, err, out } = await cli(argv);
    expect(err).toContain(message);
    expect(err).toContain('refused, nothing was started');
    expect(code).toBe(EXIT.refused);
    expect(out).toBe('');
  });

  it('prints a JSON error document on stdout with --json', async () => {
    const { code, out } = await cli(['release', 'start', '--version', '1.0.0', '--plan', 'yolo', '--json']);
    expect(code).toBe(EXIT.refused);
    expect(JSON.parse(out)).toEqual({ error: { kind: 'refused', exitCode: 2, problems: [expect.stringContaining('--plan: unknown release plan')] } });
  });

  it('refuses a missing fleet config by name', async () => {
    const { code, err } = await cli(['release', 'start', '--version', '1.0.0', '--config', '/nonexistent/fleet.yaml']);
    expect(code).toBe(EXIT.refused);
    expect(err).toContain('--config: cannot read fleet config "/nonexistent/fleet.yaml"');
  });

  it('shows the plan with --dry-run and starts nothing', async () => {
    const { code, out } = await cli(['release', 'start', '--version', '2.0.0', '--release-id', 'dry-1', '--dry-run', '--json']);
    expect(code).toBe(EXIT.ok);
    const { dryRun, release } = JSON.parse(out) as { dryRun: boolean; release: { releaseId: string; waves: { name: string; tenants: string[] }[]; requestedBy: string } };
    expect(dryRun).toBe(true);
    expect(release).toMatchObject({ releaseId: 'dry-1', requestedBy: 'tester' });
    expect(release.waves.flatMap((w) => w.tenants).sort()).toEqual(['acme', 'globex']);
  });

  it('exits 4 when Temporal cannot be reached', async () => {
    const { code, err } = await cli(['release', 'list'], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(code).toBe(EXIT.cannotConnect);
    expect(err).toContain('cannot connect to Temporal at 127.0.0.1:1');
  }, 30_000);

  it('has --help with examples and exit codes on every command, exit 0', async () => {
    for (const argv of [['--help'], ['release', '--help'], ['tenant', 'list', '--help'], ['release', 'start', '-h']]) {
      const { code, out } = await cli(argv);
      expect(code).toBe(EXIT.ok);
      expect(out).toMatch(/Examples:/);
    }
    const { out } = await cli(['release', 'start', '--help']);
    expect(out).toContain('Exit codes:');
    expect(out).toContain('--release-id <id>');
  });
});

describe('tenantctl exit codes', () => {
  const failed = (failure: ApplicationFailure) => new WorkflowFailedError('workflow failed', failure, RetryState.NON_RETRYABLE_FAILURE);

  it('maps release outcomes: succeeded 0, halted/completed-with-failures 1, aborted 3', () => {
    expect(exitCodeForSummary({ status: 'succeeded' })).toBe(0);
    expect(exitCodeForSummary({ status: 'completed-with-failures' })).toBe(1);
    expect(exitCodeForSummary({ status: 'halted' })).toBe(1);
    expect(exitCodeForSummary({ status: 'aborted' })).toBe(3);
  });

  it('maps errors: refusals 2, aborts 3, unreachable server 4, anything else 1', () => {
    expect(exitCodeForError(new CliInputError(['x']))).toBe(2);
    expect(exitCodeForError(failed(ApplicationFailure.create({ type: 'InvalidInput', message: 'no' })))).toBe(2);
    expect(exitCodeForError(new WorkflowUpdateFailedError('refused', ApplicationFailure.create({ type: 'InvalidInput', message: 'nothing to approve' })))).toBe(2);
    expect(exitCodeForError(failed(ApplicationFailure.create({ type: 'Aborted', message: 'aborted' })))).toBe(3);
    expect(exitCodeForError(failed(ApplicationFailure.create({ type: 'RolloutFailed', message: 'x' })))).toBe(1);
    expect(exitCodeForError(new ServiceError('down', { cause: Object.assign(new Error('unavailable'), { code: 14 }) }))).toBe(4);
    expect(exitCodeForError(new Error('bug'))).toBe(1);
  });

  it('maps the AWS error behind a failure: access denied 5, invalid request 6, quota 7, throttled or unavailable 8', () => {
    // As a provisioning fails: its own failure, then the activity's, a timeout, the last attempt's AWS error.
    const behind = (type: string) => {
      const aws = ApplicationFailure.create({ type, message: `rds:CreateDBClusterSnapshot in 123456789012 eu-west-1: ${type}` });
      // The server gives a retry timeout the last attempt's failure as its cause, which the SDK leaves undecoded.
      const timeout = new TimeoutFailure('activity timed out', undefined, TimeoutType.SCHEDULE_TO_CLOSE);
      timeout.failure = { message: 'activity timed out', cause: { message: aws.message, applicationFailureInfo: { type } } };
      const activity = new ActivityFailure('activity failed', 'snapshotCluster', '7', RetryState.TIMEOUT, 'worker', timeout);
      return failed(ApplicationFailure.create({ type: 'StackFailed', message: 'provisioning failed', cause: activity }));
    };
    expect(exitCodeForError(behind('AccessDenied'))).toBe(EXIT.awsAccessDenied);
    expect(exitCodeForError(behind('AwsRequestInvalid'))).toBe(6);
    expect(exitCodeForError(behind('QuotaExceeded'))).toBe(7);
    expect(exitCodeForError(behind('AwsThrottled'))).toBe(8);
    expect(exitCodeForError(behind('AwsUnavailable'))).toBe(8);
    expect(exitCodeForError(behind('RolloutFailed'))).toBe(1);
    // Non-retryable ones fail the activity at once, decoded.
    const activity = new ActivityFailure('activity failed', 'deployStack', '3', RetryState.NON_RETRYABLE_FAILURE, 'worker', ApplicationFailure.create({ type: 'QuotaExceeded', message: 'q' }));
    expect(exitCodeForError(failed(ApplicationFailure.create({ type: 'StackFailed', message: 'x', cause: activity })))).toBe(7);
    // A refusal stays a refusal whatever it carries.
    expect(exitCodeForError(failed(ApplicationFailure.create({ type: 'InvalidInput', message: 'no', cause: ApplicationFailure.create({ type: 'QuotaExceeded', message: 'q' }) })))).toBe(2);
  });
});

describe('tenantctl output', () => {
  const plain = new Output(new PassThrough(), false);
  const coloured = new Output(new PassThrough(), true);

  it('aligns columns on the visible text, with colour codes added after padding', () => {
    const rows = [['acme', { text: 'succeeded', colour: 'green' as const }, 'x'], ['globex-long', 'running', 'y']];
    expect(renderTable(plain, ['TENANT', 'STATUS', 'NOTE'], rows)).toEqual(['TENANT       STATUS     NOTE', 'acme         succeeded  x', 'globex-long  running    y']);
    const painted = renderTable(coloured, ['TENANT', 'STATUS', 'NOTE'], rows);
    // eslint-disable-next-line no-control-regex -- stripping the colour codes the table added
    expect(painted.map((l) => l.replace(/\u001b\[\d+m/g, ''))).toEqual(renderTable(plain, ['TENANT', 'STATUS', 'NOTE'], rows));
    expect(painted[1]).toContain('\u001b[32msucceeded');
  });

  it('uses colour only on a terminal, never with NO_COLOR or --no-color, always with FORCE_COLOR', () => {
    const tty = Object.assign(new PassThrough(), { isTTY: true });
    const pipe = new PassThrough();
    expect(colourWanted(tty, {}, false)).toBe(true);
    expect(colourWanted(pipe, {}, false)).toBe(false);
    expect(colourWanted(tty, { NO_COLOR: '1' }, false)).toBe(false);
    expect(colourWanted(tty, {}, true)).toBe(false);
    expect(colourWanted(tty, { TERM: 'dumb' }, false)).toBe(false);
    expect(colourWanted(pipe, { FORCE_COLOR: '1' }, false)).toBe(true);
  });

  const progress = (over: Partial<ReleaseProgress> = {}): ReleaseProgress => ({
    releaseId: 'r1',
    version: '2.0.0',
    plan: 'standard',
    status: 'running',
    phase: 'wave-1/running',
    counts: { pending: 1, running: 1, busy: 0, succeeded: 0, 'rolled-back': 0, 'rollback-failed': 0, skipped: 0 },
    waves: [{ name: 'canary', status: 'running', size: 1, counts: { pending: 0, running: 1, busy: 0, succeeded: 0, 'rolled-back': 0, 'rollback-failed': 0, skipped: 0 } }],
    tenants: { acme: { wave: 0, status: 'running', attempts: 1 }, globex: { wave: 1, status: 'pending', attempts: 0 } },
    page: { page: 1, pageSize: 100, pages: 1, total: 2 },
    inFlight: ['acme'],
    failures: [],
    failuresNotListed: 0,
    ...over,
  });

  it('logs only what changed between two progress snapshots (the plain view for CI)', () => {
    const first = progress();
    expect(progressEvents(undefined, first)).toEqual(['release r1 of 2.0.0 (plan standard): running, wave-1/running; waves canary (1)', 'tenant acme: running']);
    expect(progressEvents(first, first)).toEqual([]);
    const next = progress({
      phase: 'wave-2/awaiting-approval',
      tenants: { acme: { wave: 0, status: 'succeeded', attempts: 1 }, globex: { wave: 1, status: 'pending', attempts: 0 } },
      inFlight: [],
    });
    expect(progressEvents(first, next)).toEqual(['phase wave-2/awaiting-approval', 'tenant acme: running → succeeded', 'waiting for approval: tenantctl release approve r1']);
    const aborted = progress({ status: 'aborted', abort: { by: 'alice', reason: 'errors', at: 'now', rollback: false } });
    expect(progressEvents(next, aborted)).toContain('aborted by alice: errors');
  });

  it('redraws the live view in place on a terminal and clears it before the summary', async () => {
    const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 200 });
    let written = '';
    stream.on('data', (chunk: Buffer) => (written += chunk.toString()));
    const summary = { releaseId: 'r1', version: '2.0.0', status: 'succeeded' as const, counts: progress().waves[0]!.counts, tenants: [] };
    let polls = 0;
    let finish: (value: typeof summary) => void = () => undefined;
    const handle = {
      query: () => {
        if (++polls === 3) finish(summary);
        return Promise.resolve(progress());
      },
      result: () => new Promise<typeof summary>((resolve) => (finish = resolve)),
    } as unknown as ReleaseHandle;
    const client = { withDeadline: (_: number, fn: () => Promise<unknown>) => fn() } as unknown as Client;
    const result = await followRelease(client, handle, { view: 'live', out: new Output(stream, false), intervalMs: 5 });
    expect(result).toEqual({ interrupted: false, summary });
    const blockRows = written.split('\u001b[')[0]!.split('\n').length - 1;
    expect(blockRows).toBeGreaterThan(2);
    // Every redraw moves up over the previous block and clears it; the last clear leaves nothing behind.
    expect(written.match(new RegExp(`\u001b\\[${blockRows}A\u001b\\[0J`, 'g'))?.length).toBe(polls);
    expect(written.endsWith('\u001b[0J')).toBe(true);
  });

  it('ends the plain log with the transitions only the final summary saw', () => {
    const counts = { pending: 0, running: 0, busy: 0, succeeded: 1, 'rolled-back': 1, 'rollback-failed': 0, skipped: 0 };
    const summary = {
      releaseId: 'r1',
      version: '2.0.0',
      status: 'halted' as const,
      reason: 'wave "canary": 1 of 1 tenants failed',
      counts,
      tenants: [
        { tenantId: 'acme', wave: 'canary', status: 'rolled-back' as const, reason: 'rollout failed' },
        { tenantId: 'globex', wave: 'early', status: 'skipped' as const },
      ],
    };
    expect(finalEvents(progress(), summary)).toEqual([
      'tenant acme: running → rolled-back (rollout failed)',
      'tenant globex: pending → skipped',
      'release r1 halted: wave "canary": 1 of 1 tenants failed (1 succeeded, 1 rolled-back)',
    ]);
    // A summary lists only the tenants that did not succeed: one last seen running and not listed succeeded.
    const done = { releaseId: 'r1', version: '2.0.0', status: 'succeeded' as const, counts: { ...counts, succeeded: 2, 'rolled-back': 0 }, tenants: [] };
    expect(finalEvents(progress(), done)).toEqual(['tenant acme: running → succeeded', 'tenant globex: pending → succeeded', 'release r1 succeeded (2 succeeded)']);
    // Unless some never started: a pending one may be among them.
    expect(finalEvents(progress(), { ...done, status: 'halted', notStarted: { count: 1, reason: 'not started: release halted' } })).toEqual(['tenant acme: running → succeeded', 'release r1 halted (2 succeeded)']);
  });

  it('shows the current wave by status and the failures, not every tenant, in the plain log', () => {
    const first = progress({ tenants: {}, currentWave: { name: 'canary', tenants: { running: ['acme'], pending: ['hooli'] } } });
    const next = progress({
      tenants: {},
      currentWave: { name: 'canary', tenants: { succeeded: ['acme'], 'rolled-back': ['hooli'] } },
      failures: [{ tenantId: 'hooli', wave: 'canary', status: 'rolled-back', attempts: 1, reason: 'alarm', failed: true }],
    });
    expect(progressEvents(first, next)).toEqual(['tenant acme: running → succeeded', 'tenant hooli: pending → rolled-back (alarm)']);
  });
});

describe('tenantctl settings', () => {
  it('links to a workflow in the UI with the ID encoded', () => {
    const ui = UiLinks.fromEnv({ TEMPORAL_UI_URL: 'http://127.0.0.1:8233/' }, 'default');
    expect(ui.workflow('release/r1/tenant/acme')).toBe('http://127.0.0.1:8233/namespaces/default/workflows/release%2Fr1%2Ftenant%2Facme');
    expect(UiLinks.fromEnv({}, 'default').workflow('x')).toBeUndefined();
    expect(UiLinks.fromEnv({ TEMPORAL_UI_URL: 'not a url' }, 'default').problem).toContain('TEMPORAL_UI_URL: expected an http(s) URL');
  });

  it('names the actor: --by, else the CI job, else the login', () => {
    expect(defaultActor({ GITHUB_ACTIONS: 'true', GITHUB_RUN_ID: '812', GITHUB_REPOSITORY: 'acme/app', GITHUB_ACTOR: 'bob', USER: 'runner' })).toBe('github-actions:acme/app/runs/812 (bob)');
    expect(defaultActor({ GITLAB_CI: 'true', CI_JOB_ID: '77', CI_PROJECT_PATH: 'ops/fleet' })).toBe('gitlab-ci:ops/fleet/jobs/77');
    expect(defaultActor({ USER: 'alice' })).toBe('alice');
  });

  it('generates release IDs the workflow accepts', () => {
    const id = generatedReleaseId('2.4.0-rc.1', new Date('2026-03-01T14:05:09Z'));
    expect(id).toBe('rel-20260301-140509-2.4.0-rc.1');
    expect(generatedReleaseId('v'.repeat(128))).toMatch(RELEASE_ID_PATTERN);
  });

  it("reads Temporal's client config file, with the environment winning", () => {
    const dir = tempDir('tenantctl-');
    const file = join(dir, 'temporal.toml');
    writeFileSync(file, '[profile.default]\naddress = "temporal.example.com:7233"\nnamespace = "fleet-prod"\napi_key = "secret-key"\n\n[profile.staging]\naddress = "staging.example.com:7233"\n');
    const base = { TEMPORAL_CONFIG_FILE: file, TENANT_FLEET_CODEC_KEYS: CODEC_KEYS };
    const fromFile = cliTemporalSettings(base);
    expect(fromFile.namespace).toBe('fleet-prod');
    expect(fromFile.connection).toMatchObject({ address: 'temporal.example.com:7233', apiKey: 'secret-key', tls: true });
    expect(cliTemporalSettings({ ...base, TEMPORAL_PROFILE: 'staging' }).connection.address).toBe('staging.example.com:7233');
    const overridden = cliTemporalSettings({ ...base, TEMPORAL_ADDRESS: '127.0.0.1:7233', TEMPORAL_NAMESPACE: 'default' });
    expect(overridden.namespace).toBe('default');
    expect(overridden.connection.address).toBe('127.0.0.1:7233');
    // The default file is optional; one named explicitly must exist.
    expect(cliTemporalSettings({ TENANT_FLEET_CODEC_KEYS: CODEC_KEYS, HOME: dir }).connection.address).toBe('127.0.0.1:7233');
    expect(() => cliTemporalSettings({ TENANT_FLEET_CODEC_KEYS: CODEC_KEYS, TEMPORAL_CONFIG_FILE: join(dir, 'missing.toml') })).toThrow(/TEMPORAL_CONFIG_FILE: no such file/);
  });
});
