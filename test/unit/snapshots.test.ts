/* eslint-disable @typescript-eslint/unbound-method -- the activity factories return plain closures that never use `this`. */
import {
  CreateDBClusterSnapshotCommand,
  DBClusterNotFoundFault,
  DBInstanceNotFoundFault,
  DeleteDBClusterCommand,
  DeleteDBInstanceCommand,
  DescribeDBClustersCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBInstancesCommand,
  ModifyDBClusterCommand,
  RestoreDBClusterFromSnapshotCommand,
  ListTagsForResourceCommand,
  RDSClient,
  type DBClusterSnapshot,
} from '@aws-sdk/client-rds';
import { ApplicationFailure } from '@temporalio/common';
import { quietActivityEnvironment } from '../support/mock-activity';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsClients } from '../../src/activities/aws/clients';
import { createRdsActivities } from '../../src/activities/rds';
import { ErrorType } from '../../src/shared/errors';
import { preReleaseSnapshotId, RELEASE_ID_PATTERN } from '../../src/shared/ids';
import type { AwsTarget } from '../../src/shared/tenant-spec';

describe('pre-release snapshot IDs', () => {
  it('differ for release IDs that fold to the same text', () => {
    expect(preReleaseSnapshotId('v1.2', 'acme')).not.toBe(preReleaseSnapshotId('v1-2', 'acme'));
    expect(preReleaseSnapshotId('a_b', 'acme')).not.toBe(preReleaseSnapshotId('a-b', 'acme'));
    expect(preReleaseSnapshotId('r1', 'ab-c')).not.toBe(preReleaseSnapshotId('r1-ab', 'c'));
  });

  it('are stable, readable and valid RDS identifiers even for the longest release ID', () => {
    expect(preReleaseSnapshotId('v1.2', 'acme')).toMatch(/^pre-v1-2-acme-[0-9a-f]{8}$/);
    expect(preReleaseSnapshotId('v1.2', 'acme')).toBe(preReleaseSnapshotId('v1.2', 'acme'));
    const longest = preReleaseSnapshotId(`9${'._-'.repeat(21)}`, 'a'.repeat(32));
    expect(RELEASE_ID_PATTERN.test(`9${'._-'.repeat(21)}`)).toBe(true);
    expect(longest).toMatch(/^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,254}$/);
  });
});

describe('snapshotCluster reuses only its own snapshot', () => {
  const target: AwsTarget = { accountId: '123456789012', region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/TenantFleetAccess', externalId: 'ext' };
  const rds = mockClient(RDSClient);
  let clients: AwsClients;
  const input = {
    target,
    clusterIdentifier: 'tenant-acme-db',
    snapshotIdentifier: preReleaseSnapshotId('v1.2', 'acme'),
    tags: { TenantId: 'acme', ReleaseId: 'v1.2', Reason: 'pre-release' },
  };
  const existing = (snapshot: Partial<DBClusterSnapshot>) =>
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({
      DBClusterSnapshots: [{ DBClusterSnapshotIdentifier: input.snapshotIdentifier, DBClusterSnapshotArn: 'arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:x', Status: 'available', ...snapshot }],
    });
  const run = () => quietActivityEnvironment().run(createRdsActivities({ aws: clients }).snapshotCluster, input);

  beforeEach(() => {
    rds.reset();
    clients = new AwsClients({ baseCredentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' } });
  });
  afterEach(() => clients.destroy());

  it('reuses a snapshot of the same cluster whose tags name the same tenant and release', async () => {
    existing({ DBClusterIdentifier: 'tenant-acme-db', TagList: [{ Key: 'TenantId', Value: 'acme' }, { Key: 'ReleaseId', Value: 'v1.2' }] });
    await expect(run()).resolves.toMatchObject({ created: false, status: 'available' });
    expect(rds.commandCalls(CreateDBClusterSnapshotCommand)).toHaveLength(0);
  });

  it('reads the tags when the listing carries none', async () => {
    existing({ DBClusterIdentifier: 'tenant-acme-db' });
    rds.on(ListTagsForResourceCommand).resolves({ TagList: [{ Key: 'TenantId', Value: 'acme' }, { Key: 'ReleaseId', Value: 'v1.2' }] });
    await expect(run()).resolves.toMatchObject({ created: false });
  });

  it.each([
    ['another release', { DBClusterIdentifier: 'tenant-acme-db', TagList: [{ Key: 'TenantId', Value: 'acme' }, { Key: 'ReleaseId', Value: 'v1-2' }] }, /ReleaseId v1-2.*ReleaseId v1\.2/],
    ['another cluster', { DBClusterIdentifier: 'tenant-other-db', TagList: [{ Key: 'TenantId', Value: 'acme' }, { Key: 'ReleaseId', Value: 'v1.2' }] }, /cluster tenant-other-db.*cluster tenant-acme-db/],
    ['no tags at all', { DBClusterIdentifier: 'tenant-acme-db', TagList: [] }, /TenantId \(none\).*TenantId acme/],
  ])('refuses a snapshot of %s, naming both', async (_, snapshot, names) => {
    existing(snapshot);
    rds.on(ListTagsForResourceCommand).resolves({ TagList: [] });
    const failure = await run().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: ErrorType.SnapshotFailed, nonRetryable: true });
    expect((failure as Error).message).toMatch(names);
    expect((failure as Error).message).toContain(input.snapshotIdentifier);
    expect(rds.commandCalls(CreateDBClusterSnapshotCommand)).toHaveLength(0);
  });
});

describe('restoreClusterFromSnapshot with an age limit', () => {
  const target: AwsTarget = { accountId: '123456789012', region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/TenantFleetAccess', externalId: 'ext' };
  const rds = mockClient(RDSClient);
  let clients: AwsClients;
  const takenAgo = (ms: number) =>
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({
      DBClusterSnapshots: [{ DBClusterSnapshotIdentifier: 'pre-r1-acme-0a1b2c3d', Status: 'available', SnapshotCreateTime: new Date(Date.now() - ms) }],
    });
  const restore = () =>
    quietActivityEnvironment().run(createRdsActivities({ aws: clients }).restoreClusterFromSnapshot, {
      target,
      clusterIdentifier: 'tenant-acme',
      snapshotIdentifier: 'pre-r1-acme-0a1b2c3d',
      maxSnapshotAge: { ms: 6 * 3_600_000, setting: 'releasePlans[].restoreDatabaseOnRevert.maxSnapshotAge' },
    });

  beforeEach(() => {
    rds.reset();
    clients = new AwsClients({ baseCredentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' } });
    rds.on(DescribeDBClustersCommand).rejects(new DBClusterNotFoundFault({ message: 'no such cluster', $metadata: { httpStatusCode: 404 } }));
    rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'tenant-acme' }).resolves({ DBClusters: [{ DBClusterIdentifier: 'tenant-acme', Status: 'available', Engine: 'aurora-postgresql' }] });
    rds.on(RestoreDBClusterFromSnapshotCommand).rejects(new Error('stop here: the restore was started'));
  });
  afterEach(() => clients.destroy());

  it('refuses a snapshot older than the limit, naming the setting, before restoring anything', async () => {
    takenAgo(7 * 3_600_000);
    const failure = await restore().catch((e: unknown) => e);
    expect(failure).toMatchObject({ type: ErrorType.SnapshotFailed, nonRetryable: true });
    expect((failure as Error).message).toMatch(/snapshot pre-r1-acme-0a1b2c3d was taken at .* \(7 h ago\), longer ago than releasePlans\[\]\.restoreDatabaseOnRevert\.maxSnapshotAge \(6 h\)/);
    expect(rds.commandCalls(RestoreDBClusterFromSnapshotCommand)).toHaveLength(0);
  });

  it('restores a snapshot within the limit', async () => {
    takenAgo(5 * 3_600_000);
    await expect(restore()).rejects.toThrow(/the restore was started/);
    expect(rds.commandCalls(RestoreDBClusterFromSnapshotCommand)).toHaveLength(1);
  });
});

describe('restoreClusterFromSnapshot waits for the new writer', () => {
  const target: AwsTarget = { accountId: '123456789012', region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/TenantFleetAccess', externalId: 'ext' };
  const rds = mockClient(RDSClient);
  let clients: AwsClients;
  beforeEach(() => {
    rds.reset();
    clients = new AwsClients({ baseCredentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' } });
  });
  afterEach(() => clients.destroy());

  it('moves the tenant\'s identifier to the restored cluster only once its writer is available', async () => {
    const events: string[] = [];
    let staging = '';
    rds.on(DescribeDBClustersCommand).callsFake(({ DBClusterIdentifier }: { DBClusterIdentifier: string }) => {
      if (DBClusterIdentifier === 'tenant-acme') {
        return { DBClusters: [{ DBClusterIdentifier, Status: 'available', Engine: 'aurora-postgresql', DBClusterMembers: [{ DBInstanceIdentifier: 'tenant-acme-writer', IsClusterWriter: true }] }] };
      }
      if (DBClusterIdentifier.includes('-r')) {
        staging = DBClusterIdentifier;
        return { DBClusters: [{ DBClusterIdentifier, Status: 'available', Engine: 'aurora-postgresql' }] };
      }
      if (DBClusterIdentifier.includes('-o')) return { DBClusters: [{ DBClusterIdentifier, Status: 'available' }] };
      throw new DBClusterNotFoundFault({ message: 'no such cluster', $metadata: { httpStatusCode: 404 } });
    });
    let writerReads = 0;
    rds.on(DescribeDBInstancesCommand).callsFake(({ DBInstanceIdentifier }: { DBInstanceIdentifier: string }) => {
      // The staging cluster and its writer (under the stack's writer identifier) exist already (a retry): the writer is still being created.
      writerReads++;
      const status = writerReads < 2 ? 'creating' : 'available';
      events.push(`writer ${status}`);
      return { DBInstances: [{ DBInstanceIdentifier, DBClusterIdentifier: staging, DBInstanceStatus: status }] };
    });
    rds.on(ModifyDBClusterCommand).callsFake(({ DBClusterIdentifier }: { DBClusterIdentifier: string }) => {
      events.push(`rename ${DBClusterIdentifier}`);
      return {};
    });
    const restore = quietActivityEnvironment().run(createRdsActivities({ aws: clients }).restoreClusterFromSnapshot, {
      target,
      clusterIdentifier: 'tenant-acme',
      snapshotIdentifier: 'pre-r1-acme-0a1b2c3d',
    });
    const outcome = await restore.catch((e: unknown) => e);
    expect(outcome).toMatchObject({ restored: true });
    expect(events.indexOf('writer available')).toBeGreaterThan(-1);
    expect(events.indexOf('writer available')).toBeLessThan(events.findIndex((e) => e.startsWith('rename')));
  }, 30_000);
});

describe('retireCluster deletes a replaced cluster, leaving a final snapshot', () => {
  const target: AwsTarget = { accountId: '123456789012', region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/TenantFleetAccess', externalId: 'ext' };
  const rds = mockClient(RDSClient);
  let clients: AwsClients;
  beforeEach(() => {
    rds.reset();
    clients = new AwsClients({ baseCredentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' } });
  });
  afterEach(() => clients.destroy());
  const notFound = (Fault: typeof DBClusterNotFoundFault | typeof DBInstanceNotFoundFault) => new Fault({ message: 'not found', $metadata: { httpStatusCode: 404 } });
  const retire = () => quietActivityEnvironment().run(createRdsActivities({ aws: clients }).retireCluster, { target, clusterIdentifier: 'tenant-acme-o0a1b2c3d' });

  it('lifts deletion protection, deletes the writer renamed aside, then the cluster with a final snapshot', async () => {
    const events: string[] = [];
    let clusterGone = false;
    let writerGone = false;
    rds.on(DescribeDBClustersCommand).callsFake(() => {
      if (clusterGone) throw notFound(DBClusterNotFoundFault);
      return { DBClusters: [{ DBClusterIdentifier: 'tenant-acme-o0a1b2c3d', Status: 'available', DeletionProtection: true, DBClusterMembers: [{ DBInstanceIdentifier: 'tenant-acme-writer-o0a1b2c3d', IsClusterWriter: true }] }] };
    });
    rds.on(DescribeDBInstancesCommand).callsFake(() => {
      if (writerGone) throw notFound(DBInstanceNotFoundFault);
      return { DBInstances: [{ DBInstanceIdentifier: 'tenant-acme-writer-o0a1b2c3d', DBInstanceStatus: 'deleting' }] };
    });
    rds.on(ModifyDBClusterCommand).callsFake((input: { DeletionProtection?: boolean }) => void events.push(`protection ${input.DeletionProtection}`));
    rds.on(DeleteDBInstanceCommand).callsFake((input: { DBInstanceIdentifier: string }) => {
      events.push(`delete ${input.DBInstanceIdentifier}`);
      writerGone = true;
      return {};
    });
    rds.on(DeleteDBClusterCommand).callsFake((input: { DBClusterIdentifier: string; FinalDBSnapshotIdentifier?: string; SkipFinalSnapshot?: boolean }) => {
      events.push(`delete ${input.DBClusterIdentifier} final ${input.FinalDBSnapshotIdentifier} skip ${input.SkipFinalSnapshot}`);
      clusterGone = true;
      return {};
    });
    await expect(retire()).resolves.toEqual({ deleted: true, finalSnapshotIdentifier: 'tenant-acme-o0a1b2c3d-final' });
    expect(events).toEqual([
      'protection false',
      'delete tenant-acme-writer-o0a1b2c3d',
      'delete tenant-acme-o0a1b2c3d final tenant-acme-o0a1b2c3d-final skip undefined',
    ]);
  }, 30_000);

  it('is safe to run again: a cluster already gone is nothing to do, one already deleting is only waited for', async () => {
    rds.on(DescribeDBClustersCommand).rejects(notFound(DBClusterNotFoundFault));
    await expect(retire()).resolves.toEqual({ deleted: false, finalSnapshotIdentifier: 'tenant-acme-o0a1b2c3d-final' });

    rds.reset();
    let reads = 0;
    rds.on(DescribeDBClustersCommand).callsFake(() => {
      if (++reads > 1) throw notFound(DBClusterNotFoundFault);
      return { DBClusters: [{ DBClusterIdentifier: 'tenant-acme-o0a1b2c3d', Status: 'deleting', DBClusterMembers: [] }] };
    });
    await expect(retire()).resolves.toMatchObject({ deleted: true });
    expect(rds.commandCalls(DeleteDBClusterCommand)).toHaveLength(0);
  }, 30_000);
});
