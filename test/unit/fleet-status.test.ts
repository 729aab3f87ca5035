import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { summariseFleet, type TenantFacts } from '../../src/client/fleet-status';
import type { ReleaseListing } from '../../src/client/releases';
import type { TenantWorkflow } from '../../src/client/tenants';
import { parseFleetConfig } from '../../src/shared/config/load';
import type { CertificatesStatus } from '../../src/shared/messages/certificates';
import { OFFLINE_CLI_ENV, runCliCaptured } from '../support/cli';

const EXAMPLE_PATH = join(__dirname, '..', '..', 'config', 'fleet.example.yaml');
const example = parseFleetConfig(readFileSync(EXAMPLE_PATH, 'utf8'), EXAMPLE_PATH);
/** The example's tenants and one more, with no workload yet. */
const config = { ...example, tenants: [...example.tenants, { ...example.tenants[0]!, id: 'hooli' }] };
const NOW = new Date('2026-12-01T12:00:00Z');

const workflow = (over: Partial<TenantWorkflow>): TenantWorkflow => ({
  workflowId: 'tenant/x/provision',
  runId: 'r1',
  type: 'provisionTenant',
  status: 'COMPLETED',
  startTime: '2026-12-01T10:00:00Z',
  ...over,
});

const release = (over: Partial<ReleaseListing>): ReleaseListing => ({
  releaseId: 'r',
  workflowId: 'release/r',
  runId: 'x',
  status: 'RUNNING',
  startTime: '2026-12-01T11:00:00Z',
  ...over,
});

const certs = (over: Partial<CertificatesStatus>): CertificatesStatus => ({
  group: 'g',
  health: 'ok',
  phase: 'certs/idle',
  certificates: [],
  stuck: [],
  uncovered: [],
  adopted: [],
  problems: [],
  rejectedSignals: [],
  ...over,
});

describe('fleet status summary', () => {
  const [first, second, ...rest] = config.tenants;

  it('groups tenants by environment, tier and version; unreadable and missing versions are their own rows', () => {
    const tenants: TenantFacts[] = [
      { id: first!.id, version: '2.0.0' },
      { id: second!.id, version: null, versionError: 'AccessDenied' },
      ...rest.map((t) => ({ id: t.id })),
    ];
    const { versions } = summariseFleet({ config, tenants, runningReleases: [], certificates: [], now: NOW, certificateWindowDays: 14 });
    expect(versions.flatMap((v) => v.tenants).sort()).toEqual(config.tenants.map((t) => t.id).sort());
    expect(versions).toContainEqual({ environment: first!.environment, tier: first!.tier, version: '2.0.0', tenants: [first!.id] });
    expect(versions.find((v) => v.tenants.includes(second!.id))!.version).toBe('unknown');
    expect(versions.find((v) => v.tenants.includes(rest[0]!.id))!.version).toBe('none');
    const envOrder = config.environments.map((e) => e.name);
    const order = versions.map((v) => envOrder.indexOf(v.environment));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it('lists a tenant whose latest operation failed, and not one whose release rolled back (that completes)', () => {
    const tenants: TenantFacts[] = [
      { id: first!.id, latest: workflow({ status: 'FAILED', workflowId: `tenant/${first!.id}/provision`, phase: 'stack/deploying' }) },
      { id: second!.id, latest: workflow({ type: 'releaseTenant', releaseId: 'r9', status: 'COMPLETED' }) },
    ];
    const { failedTenants } = summariseFleet({ config, tenants, runningReleases: [], certificates: [], now: NOW, certificateWindowDays: 14 });
    expect(failedTenants).toEqual([expect.objectContaining({ tenantId: first!.id, operation: 'provision', status: 'FAILED', phase: 'stack/deploying' })]);
  });

  it('a running release waiting at a gate is a pending approval, with the command that approves it', () => {
    const runningReleases = [
      release({ releaseId: 'gated', workflowId: 'release/gated', phase: 'wave-2/awaiting-approval', version: '2.4.0' }),
      release({ releaseId: 'busy', phase: 'wave-1/deploying' }),
      release({ releaseId: 'over', status: 'COMPLETED', phase: 'wave-2/awaiting-approval' }),
    ];
    const { pendingApprovals } = summariseFleet({ config, tenants: [], runningReleases, certificates: [], now: NOW, certificateWindowDays: 14 });
    expect(pendingApprovals).toEqual([expect.objectContaining({ releaseId: 'gated', wave: 'wave-2', version: '2.4.0', approveCommand: 'tenantctl release approve gated' })]);
  });

  it('certificates expiring within the window or stuck are due; a group without a workflow is unwatched', () => {
    const status = certs({
      certificates: [
        { arn: 'arn:aws:acm:r:1:certificate/soon', names: ['a.example.com'], status: 'ISSUED', notAfter: '2026-12-10T00:00:00Z', attached: true },
        { arn: 'arn:aws:acm:r:1:certificate/later', names: ['b.example.com'], status: 'ISSUED', notAfter: '2027-06-01T00:00:00Z', attached: true },
        { arn: 'arn:aws:acm:r:1:certificate/stuck', names: ['c.example.com'], status: 'PENDING_VALIDATION', attached: false },
      ],
      stuck: [{ arn: 'arn:aws:acm:r:1:certificate/stuck', names: ['c.example.com'], since: '2026-11-30T00:00:00Z', pendingRecords: [] }],
    });
    const fleet = summariseFleet({ config, tenants: [], runningReleases: [], certificates: [{ group: 'alb-a', status }, { group: 'alb-b', status: undefined }], now: NOW, certificateWindowDays: 14 });
    expect(fleet.certificatesDue.map((c) => [c.arn.split('/').pop(), c.reason])).toEqual([
      ['stuck', 'stuck'],
      ['soon', 'expiring'],
    ]);
    expect(fleet.unwatchedCertificateGroups).toEqual(['alb-b']);
    // A narrower window leaves the certificate due in 9 days out.
    const narrow = summariseFleet({ config, tenants: [], runningReleases: [], certificates: [{ group: 'alb-a', status }], now: NOW, certificateWindowDays: 7 });
    expect(narrow.certificatesDue.map((c) => c.reason)).toEqual(['stuck']);
  });
});

describe('tenantctl fleet status arguments (refused before connecting)', () => {
  it.each([
    [['fleet', 'status', '--bogus'], '--bogus: unknown option for `tenantctl fleet status`'],
    [['fleet', 'status', '--env', 'qa'], '--env: unknown environment; expected one of: dev, staging, prod (got "qa")'],
    [['fleet', 'status', '--cert-days', 'soon'], '--cert-days: expected a whole number from 0 to 365 (got "soon")'],
    [['fleet', 'status', 'extra'], 'extra: unexpected argument'],
  ])('%j', async (argv, message) => {
    const { code, err } = await runCliCaptured(argv, { ...OFFLINE_CLI_ENV });
    expect(code).toBe(2);
    expect(err).toContain(message);
  });

  it('--help documents the command and its --json', async () => {
    const { code, out } = await runCliCaptured(['fleet', 'status', '--help'], { ...OFFLINE_CLI_ENV });
    expect(code).toBe(0);
    expect(out).toContain('tenantctl fleet status');
    expect(out).toContain('--json');
  });
});
