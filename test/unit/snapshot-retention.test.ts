/* eslint-disable @typescript-eslint/unbound-method -- the activity factories return plain closures that never use `this`. */
import { DeleteDBClusterSnapshotCommand, DescribeDBClusterSnapshotsCommand, DBClusterSnapshotNotFoundFault, RDSClient, type DBClusterSnapshot } from '@aws-sdk/client-rds';
import { quietActivityEnvironment } from '../support/mock-activity';
import { mockClient } from 'aws-sdk-client-mock';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { AwsClients } from '../../src/activities/aws/clients';
import { createRdsActivities } from '../../src/activities/rds';
import { parseFleetConfig } from '../../src/shared/config/load';
import { resolveTenantSpec } from '../../src/shared/config/resolve';
import type { AwsTarget } from '../../src/shared/tenant-spec';
import { InputValidationError } from '../../src/shared/validation';

const exampleText = readFileSync(join(__dirname, '..', '..', 'config', 'fleet.example.yaml'), 'utf8');
const DAY = 86_400_000;

describe('pre-release snapshot retention in the fleet config', () => {
  it('defaults per tenant, production longer, and reaches the tenant spec', () => {
    const config = parseFleetConfig(exampleText);
    expect(config.snapshots).toEqual({ preRelease: { keep: 3, maxAge: 14 * DAY, production: { keep: 7, maxAge: 60 * DAY } }, quotaPerRegion: 100, reservedPerRegion: 20 });
    expect(resolveTenantSpec(config, 'acme').snapshotRetention).toEqual({ keep: 7, maxAgeMs: 60 * DAY });
    expect(resolveTenantSpec(config, 'globex').snapshotRetention).toEqual({ keep: 3, maxAgeMs: 14 * DAY });
  });

  it('refuses a policy under which the tenants of one account and region could fill the snapshot quota', () => {
    const raw = parse(exampleText) as Record<string, unknown>;
    raw.snapshots = { quotaPerRegion: 8, reservedPerRegion: 2 };
    let refusal: unknown;
    try {
      parseFleetConfig(stringify(raw), 'fleet.yaml');
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(InputValidationError);
    expect((refusal as InputValidationError).problems).toContainEqual(
      expect.stringMatching(/^snapshots\.preRelease\.keep: 1 tenant of account "acme-prod" in eu-west-1 keeps up to 7 pre-release snapshots, more than snapshots\.quotaPerRegion \(8\) minus snapshots\.reservedPerRegion \(2\) allows \(6\)/),
    );
  });
});

describe('prunePreReleaseSnapshots', () => {
  const target: AwsTarget = { accountId: '123456789012', region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/TenantFleetAccess', externalId: 'ext' };
  const rds = mockClient(RDSClient);
  let clients: AwsClients;
  const snap = (id: string, ageDays: number, tags: Record<string, string>, Status = 'available'): DBClusterSnapshot => ({
    DBClusterSnapshotIdentifier: id,
    DBClusterIdentifier: 'tenant-acme',
    Status,
    SnapshotCreateTime: new Date(Date.now() - ageDays * DAY),
    TagList: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
  });
  const pre = { TenantId: 'acme', Reason: 'pre-release' };
  const prune = () =>
    quietActivityEnvironment().run(createRdsActivities({ aws: clients }).prunePreReleaseSnapshots, {
      target,
      tenantId: 'acme',
      clusterIdentifier: 'tenant-acme',
      keep: 2,
      maxAgeMs: 10 * DAY,
      except: 'pre-r9-acme-00000009',
    });

  beforeEach(() => {
    rds.reset();
    clients = new AwsClients({ baseCredentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' } });
    rds
      .on(DescribeDBClusterSnapshotsCommand)
      .resolvesOnce({
        DBClusterSnapshots: [
          snap('pre-r9-acme-00000009', 0, pre, 'creating'),
          snap('pre-r1-acme-00000001', 1, pre),
          snap('pre-r2-acme-00000002', 2, pre),
          snap('pre-r3-acme-00000003', 3, pre),
        ],
        Marker: 'page-2',
      })
      .resolves({
        DBClusterSnapshots: [
          snap('pre-r0-acme-00000000', 0.5, pre, 'creating'),
          snap('pre-old-acme-0000000a', 30, pre),
          snap('final-acme-202601010000', 40, { TenantId: 'acme', Reason: 'deprovision' }),
          snap('pre-r1-other-00000001', 50, { TenantId: 'other', Reason: 'pre-release' }),
          snap('hand-made', 60, {}),
        ],
      });
  });
  afterEach(() => clients.destroy());

  it('keeps the newest within the age limit and deletes the rest of the tenant’s pre-release snapshots, and nothing else', async () => {
    const result = (await prune()) as { kept: string[]; deleted: string[] };
    // Newest first: r0 (creating, kept and counted), r1; then r2 and r3 are over the count, "old" over the age.
    expect(result).toEqual({ kept: ['pre-r0-acme-00000000', 'pre-r1-acme-00000001'], deleted: ['pre-r2-acme-00000002', 'pre-r3-acme-00000003', 'pre-old-acme-0000000a'] });
    expect(rds.commandCalls(DeleteDBClusterSnapshotCommand).map((c) => c.args[0].input.DBClusterSnapshotIdentifier)).toEqual(result.deleted);
  });

  it('is safe to run twice: a snapshot already deleted counts as deleted', async () => {
    rds.on(DeleteDBClusterSnapshotCommand).rejects(new DBClusterSnapshotNotFoundFault({ message: 'gone', $metadata: { httpStatusCode: 404 } }));
    await expect(prune()).resolves.toMatchObject({ deleted: ['pre-r2-acme-00000002', 'pre-r3-acme-00000003', 'pre-old-acme-0000000a'] });
  });
});
