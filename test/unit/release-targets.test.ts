import { PassThrough } from 'node:stream';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { ReleaseTarget } from '../../src/activities/runtime/types';
import { Output } from '../../src/client/cli/output';
import { tenantLines, tenantRows } from '../../src/client/cli/release-view';
import { describeTenantTargets, tenantReleaseTargets, type TargetSources } from '../../src/client/release-targets';
import { parseFleetConfig } from '../../src/shared/config/load';
import { resolveTenantSpec } from '../../src/shared/config/resolve';
import type { ReleaseProgress } from '../../src/shared/messages/release';
import type { ReleaseManifest } from '../../src/shared/release/manifest';
import type { ReleaseRecord } from '../../src/shared/release/record';
import type { TenantSpec } from '../../src/shared/tenant-spec';

/**
 * `tenantctl release status <id> --tenant <t>` on a release with a target (docs/tenantctl.md,
 * docs/releases.md "Release manifests"): the target the tenant was given, from the release's input
 * and the fleet config, and the one it replaced, from the tenant's record.
 */
type Raw = { environments: Record<string, unknown>[]; tenants: Record<string, unknown>[] };
const raw = parse(readFileSync(join(__dirname, '..', '..', 'config', 'fleet.example.yaml'), 'utf8')) as Raw;
for (const t of [...raw.tenants, ...raw.environments]) delete t.services;
raw.tenants.find((t) => t.id === 'globex')!.services = { web: { traffic: true }, worker: { environment: { QUEUE: 'jobs' } }, api: {} };
const config = parseFleetConfig(stringify(raw));
const globex = resolveTenantSpec(config, 'globex');
const acme = resolveTenantSpec(config, 'acme');
const REPO = globex.image;

const manifest: ReleaseManifest = {
  version: '2.6.0',
  services: { web: `${REPO}:2.6.0`, worker: 'ghcr.io/acme/worker:2.6.0-w', api: `${REPO}-api:2.6.0` },
  environment: { worker: { QUEUE: 'jobs-v2', OLD_FLAG: null } },
};
const before: ReleaseTarget = {
  version: '2.5.0',
  services: [
    { name: 'web', image: `${REPO}:2.5.0` },
    { name: 'api', image: `${REPO}-api:2.5.0` },
    { name: 'worker', image: 'ghcr.io/acme/worker:2.5.0', environment: { OLD_FLAG: 'on' } },
  ],
};

function sources(over: Partial<TargetSources> & { record?: ReleaseRecord } = {}) {
  const reads: string[] = [];
  const { record, ...rest } = over;
  const s: TargetSources = {
    release: { version: '2.6.0', manifest },
    tenant: () => Promise.resolve(globex),
    previousVersion: '2.5.0',
    readRecord: (tenant: TenantSpec) => {
      reads.push(tenant.id);
      return Promise.resolve(record ?? { release: { ...manifestTarget() }, previous: before });
    },
    ...rest,
  };
  return { s, reads };
}

/** What the child deploys for `manifest` on globex: the primary first, each image from the manifest, the worker's two changes. */
const manifestTarget = (): ReleaseTarget => ({
  version: '2.6.0',
  services: [
    { name: 'web', image: `${REPO}:2.6.0` },
    { name: 'api', image: `${REPO}-api:2.6.0` },
    { name: 'worker', image: 'ghcr.io/acme/worker:2.6.0-w', environment: { QUEUE: 'jobs-v2', OLD_FLAG: null } },
  ],
});

describe('the release target of one tenant (release status --tenant)', () => {
  it("is each service's image and the manifest's changes; the replaced one is the record's target for the version before", async () => {
    const { s, reads } = sources();
    expect(await tenantReleaseTargets(s)).toEqual({ target: manifestTarget(), replaced: before });
    expect(reads).toEqual(['globex']);
  });

  it('finds the replaced target after a rollback too (the record then names the version it went back to)', async () => {
    const { s } = sources({ record: { release: before } });
    expect(await tenantReleaseTargets(s)).toEqual({ target: manifestTarget(), replaced: before });
  });

  it('a release by version to a tenant with services: each service at its repository with that tag', async () => {
    const { s } = sources({ release: { version: '2.6.0' }, record: {} });
    const { target, replaced } = await tenantReleaseTargets(s);
    expect(target).toEqual({ version: '2.6.0', services: [{ name: 'web', image: `${REPO}:2.6.0` }, { name: 'api', image: `${REPO}:2.6.0` }, { name: 'worker', image: `${REPO}:2.6.0` }] });
    // Nothing recorded for 2.5.0 (or the record was overwritten since): not guessed.
    expect(replaced).toBeNull();
  });

  it('no target and no read for a tenant without services released by version (the primary tag alone)', async () => {
    const { s, reads } = sources({ release: { version: '2.6.0' }, tenant: () => Promise.resolve(acme) });
    expect(await tenantReleaseTargets(s)).toEqual({ target: null, replaced: null });
    expect(reads).toEqual([]);
  });

  it('no read before the tenant started (no version before) or when it already ran the version', async () => {
    for (const previousVersion of [undefined, '2.6.0']) {
      const { s, reads } = sources({ previousVersion });
      expect(await tenantReleaseTargets(s)).toEqual({ target: manifestTarget(), replaced: null });
      expect(reads).toEqual([]);
    }
  });

  it('says why a part is missing instead of failing: the record not readable, the tenant not in the config', async () => {
    const denied = sources({ readRecord: () => Promise.reject(new Error('AccessDenied: not authorized to perform ssm:GetParameters')) }).s;
    expect(await tenantReleaseTargets(denied)).toEqual({ target: manifestTarget(), replaced: null, targetError: 'replaced target not read: AccessDenied: not authorized to perform ssm:GetParameters' });
    const unknown = sources({ tenant: () => Promise.reject(new Error('unknown tenant "globex"')) }).s;
    expect(await tenantReleaseTargets(unknown)).toEqual({ target: null, replaced: null, targetError: 'target not shown: unknown tenant "globex"' });
    // A manifest without an image for one of the tenant's services (as the child refuses it).
    const short = sources({ release: { version: '2.6.0', manifest: { ...manifest, services: { web: `${REPO}:2.6.0` } } } }).s;
    expect((await tenantReleaseTargets(short)).targetError).toMatch(/^target not shown: manifest\.services\.api: tenant globex runs a service "api"; expected an image for it \(got none\); manifest\.services\.worker/);
  });
});

describe('release status --tenant output', () => {
  const plain = new Output(new PassThrough(), false);
  const progress: ReleaseProgress = {
    releaseId: 'r1',
    version: '2.6.0',
    plan: 'standard',
    status: 'succeeded',
    phase: 'done',
    counts: { pending: 0, running: 0, busy: 0, succeeded: 1, 'rolled-back': 0, 'rollback-failed': 0, skipped: 0 },
    waves: [{ name: 'canary', status: 'done', size: 1, counts: { pending: 0, running: 0, busy: 0, succeeded: 1, 'rolled-back': 0, 'rollback-failed': 0, skipped: 0 } }],
    tenants: { globex: { wave: 0, status: 'succeeded', attempts: 1, previousVersion: '2.5.0', deployed: true } },
    page: { tenant: 'globex' },
    inFlight: [],
    failures: [],
    failuresNotListed: 0,
  } as unknown as ReleaseProgress;

  it('--json: the target and the replaced one are fields of the tenant row', () => {
    const rows = tenantRows(progress, undefined, { target: manifestTarget(), replaced: before });
    expect(JSON.parse(JSON.stringify(rows))).toEqual([
      {
        tenantId: 'globex',
        wave: 'canary',
        status: 'succeeded',
        attempts: 1,
        previousVersion: '2.5.0',
        deployed: true,
        target: {
          version: '2.6.0',
          services: [
            { name: 'web', image: `${REPO}:2.6.0` },
            { name: 'api', image: `${REPO}-api:2.6.0` },
            { name: 'worker', image: 'ghcr.io/acme/worker:2.6.0-w', environment: { QUEUE: 'jobs-v2', OLD_FLAG: null } },
          ],
        },
        replaced: before,
      },
    ]);
    // --page reads no targets: its rows are as before.
    expect(tenantRows(progress)[0]).not.toHaveProperty('target');
    // A tenant without a target says so (null), with the reason when one could not be read.
    expect(tenantRows(progress, undefined, { target: null, replaced: null })[0]).toMatchObject({ target: null, replaced: null });
  });

  it('text: the table, then one line per service of the target and of the one it replaced', () => {
    const lines = tenantLines(plain, tenantRows(progress, undefined, { target: manifestTarget(), replaced: before }), false);
    expect(lines).toEqual([
      'TENANT  WAVE    STATUS     ATTEMPTS  FROM   REASON',
      'globex  canary  succeeded  1         2.5.0',
      'target 2.6.0',
      `  web     ${REPO}:2.6.0`,
      `  api     ${REPO}-api:2.6.0`,
      '  worker  ghcr.io/acme/worker:2.6.0-w  QUEUE=jobs-v2, OLD_FLAG removed',
      'replaced 2.5.0 (recorded)',
      `  web     ${REPO}:2.5.0`,
      `  api     ${REPO}-api:2.5.0`,
      '  worker  ghcr.io/acme/worker:2.5.0  OLD_FLAG=on',
    ]);
    // Without targets (--page, or no target): the table alone.
    expect(tenantLines(plain, tenantRows(progress, undefined, { target: null, replaced: null }), false)).toHaveLength(2);
  });

  it('text: a version before without a recorded target, and a part that could not be read', () => {
    expect(describeTenantTargets({ target: manifestTarget(), replaced: null }, '2.5.0').slice(-1)).toEqual(['replaced 2.5.0: no target recorded for it']);
    expect(describeTenantTargets({ target: manifestTarget(), replaced: null, targetError: 'replaced target not read: AccessDenied' }, '2.5.0').slice(-1)).toEqual(['replaced target not read: AccessDenied']);
    expect(describeTenantTargets({ target: null, replaced: null, targetError: 'target not shown: unknown tenant' }, '2.5.0')).toEqual(['target not shown: unknown tenant']);
    expect(describeTenantTargets({ target: manifestTarget(), replaced: null }, undefined)).toHaveLength(4);
  });
});
