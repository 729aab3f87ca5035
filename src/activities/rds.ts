import {
  AddTagsToResourceCommand,
  CreateDBClusterSnapshotCommand,
  CreateDBInstanceCommand,
  DeleteDBClusterCommand,
  DeleteDBClusterSnapshotCommand,
  DeleteDBInstanceCommand,
  DescribeDBClustersCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBInstancesCommand,
  ListTagsForResourceCommand,
  ModifyDBClusterCommand,
  ModifyDBInstanceCommand,
  RestoreDBClusterFromSnapshotCommand,
  type DBCluster,
  type DBClusterSnapshot,
  type Tag,
} from '@aws-sdk/client-rds';
import { createHash } from 'node:crypto';
import { ErrorType, permanentFailure, retryableFailure } from '../shared/errors';
import type { AwsTarget } from '../shared/tenant-spec';
import type { AwsClients } from './aws/clients';
import { heartbeat, pollWithHeartbeat } from './poll';

export interface SnapshotInput {
  target: AwsTarget;
  clusterIdentifier: string;
  /** Deterministic, e.g. `pre-<release>-<tenant>` or `final-<tenant>-<date>`: a retry finds the first attempt's snapshot. */
  snapshotIdentifier: string;
  tags?: Record<string, string>;
  timeoutMs?: number;
}

export interface SnapshotResult {
  snapshotIdentifier: string;
  snapshotArn: string;
  status: string;
  /** False when the snapshot already existed (a retry, or a release run again). */
  created: boolean;
}

export interface RestoreInput {
  target: AwsTarget;
  /** The tenant's live cluster; after the restore this identifier (and so its endpoint) holds the snapshot's data. */
  clusterIdentifier: string;
  snapshotIdentifier: string;
  /** Refuse to restore a snapshot older than this; `setting` is the configuration that says so, for the refusal. */
  maxSnapshotAge?: { ms: number; setting: string };
  timeoutMs?: number;
}

export interface PruneSnapshotsInput {
  target: AwsTarget;
  tenantId: string;
  clusterIdentifier: string;
  /** Keep the newest this many pre-release snapshots of the tenant (besides `except`)... */
  keep: number;
  /** ...and none older than this. */
  maxAgeMs: number;
  /** Never deleted: the snapshot the running release takes (or took, on a retry). */
  except?: string;
}

export interface PruneSnapshotsResult {
  deleted: string[];
  kept: string[];
}

export interface RestoreResult {
  clusterIdentifier: string;
  /** Where the replaced cluster now lives until retireCluster deletes it (leaving a final snapshot). */
  retiredClusterIdentifier: string;
  restored: boolean;
  /**
   * The RDS-managed master secret of the cluster now behind `clusterIdentifier`. A restored cluster
   * gets a secret of its own (RDS restores none), so this differs from the replaced cluster's,
   * which RDS deletes with it: whatever names the old one (the tenant stack) must follow.
   */
  masterUserSecretArn?: string;
}

export interface RetireClusterInput {
  target: AwsTarget;
  /** A cluster a restore replaced (RestoreResult.retiredClusterIdentifier). */
  clusterIdentifier: string;
  timeoutMs?: number;
}

export interface RetireClusterResult {
  /** False when it was already gone (a retry, or a restore that replaced nothing). */
  deleted: boolean;
  /** What it held since the pre-release snapshot (the failed release's writes), kept for whoever investigates. */
  finalSnapshotIdentifier: string;
}

const RESTORED_FROM_TAG = 'tenant-fleet:restored-from';
/** The tags that say whose snapshot it is; compared when a snapshot ID is already taken. */
const IDENTITY_TAGS = ['TenantId', 'ReleaseId'] as const;

export function createRdsActivities({ aws }: { aws: AwsClients }) {
  const find = async (target: AwsTarget, id: string): Promise<DBClusterSnapshot | undefined> => {
    try {
      const { DBClusterSnapshots = [] } = await aws.rds(target).send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: id }));
      return DBClusterSnapshots[0];
    } catch (error) {
      if ((error as Error).name === 'DBClusterSnapshotNotFoundFault') return undefined;
      throw error;
    }
  };

  const findCluster = async (target: AwsTarget, id: string): Promise<DBCluster | undefined> => {
    try {
      const { DBClusters = [] } = await aws.rds(target).send(new DescribeDBClustersCommand({ DBClusterIdentifier: id }));
      return DBClusters[0];
    } catch (error) {
      if ((error as Error).name === 'DBClusterNotFoundFault') return undefined;
      throw error;
    }
  };

  const waitForCluster = (target: AwsTarget, id: string, timeoutMs?: number, also: (c: DBCluster) => boolean = () => true) =>
    pollWithHeartbeat({
      what: `database cluster ${id} to be available`,
      read: () => findCluster(target, id),
      done: (c) => c?.Status === 'available' && also(c),
      intervalMs: 5_000,
      timeoutMs,
      onTimeout: (c) => retryableFailure(ErrorType.Timeout, `database cluster ${id} still ${c?.Status ?? 'missing'}`),
    });

  /** Data written since an old snapshot would be lost: only a snapshot within the configured age is restored. */
  const refuseIfTooOld = async (input: RestoreInput, limit: { ms: number; setting: string }): Promise<void> => {
    const snapshot = await find(input.target, input.snapshotIdentifier);
    if (!snapshot) {
      throw permanentFailure(ErrorType.ResourceNotFound, `snapshot ${input.snapshotIdentifier} not found in account ${input.target.accountId} ${input.target.region}: nothing to restore`);
    }
    const takenAt = snapshot.SnapshotCreateTime;
    const ageMs = takenAt ? Date.now() - takenAt.getTime() : Infinity;
    if (ageMs > limit.ms) {
      throw permanentFailure(
        ErrorType.SnapshotFailed,
        `snapshot ${input.snapshotIdentifier} was taken ${takenAt ? `at ${takenAt.toISOString()} (${formatDuration(ageMs)} ago)` : 'at an unknown time'}, longer ago than ${limit.setting} (${formatDuration(limit.ms)}): not restored into ${input.clusterIdentifier}, since data written after it would be lost. Restore it by hand if that is intended`,
      );
    }
  };

  /** Why an existing snapshot is not this request's, or undefined when it is. */
  const identityConflict = async (input: SnapshotInput, snapshot: DBClusterSnapshot): Promise<string | undefined> => {
    const tags = snapshot.TagList?.length ? snapshot.TagList : await tagsOf(input.target, snapshot.DBClusterSnapshotArn);
    const theirs: Record<string, string | undefined> = { cluster: snapshot.DBClusterIdentifier };
    const ours: Record<string, string | undefined> = { cluster: input.clusterIdentifier };
    for (const key of IDENTITY_TAGS) {
      if (input.tags?.[key] === undefined) continue;
      theirs[key] = tags.find((t) => t.Key === key)?.Value;
      ours[key] = input.tags[key];
    }
    if (Object.keys(ours).every((key) => theirs[key] === ours[key])) return undefined;
    const show = (of: Record<string, string | undefined>) => Object.entries(of).map(([k, v]) => `${k} ${v ?? '(none)'}`).join(', ');
    return `snapshot ${input.snapshotIdentifier} in account ${input.target.accountId} ${input.target.region} already exists for ${show(theirs)}; this request is for ${show(ours)}, so it is not reused. Delete or rename that snapshot, or use another release ID`;
  };

  const tagsOf = async (target: AwsTarget, arn: string | undefined): Promise<Tag[]> =>
    arn ? ((await aws.rds(target).send(new ListTagsForResourceCommand({ ResourceName: arn }))).TagList ?? []) : [];

  const findInstance = async (target: AwsTarget, id: string) => {
    try {
      return (await aws.rds(target).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }))).DBInstances?.[0];
    } catch (error) {
      if ((error as Error).name === 'DBInstanceNotFoundFault') return undefined;
      throw error;
    }
  };

  const waitForInstance = (target: AwsTarget, id: string, timeoutMs?: number) =>
    pollWithHeartbeat({
      what: `database instance ${id} to be available`,
      read: () => findInstance(target, id),
      done: (i) => i?.DBInstanceStatus === 'available',
      intervalMs: 5_000,
      timeoutMs,
      onTimeout: (i) => retryableFailure(ErrorType.Timeout, `database instance ${id} still ${i?.DBInstanceStatus ?? 'missing'}`),
    });

  /**
   * Gives the restored cluster the replaced cluster's writer under the writer's own identifier, the
   * one the tenant's stack owns (infra/cloudformation/tenant.yaml, DatabaseWriter): the old writer is
   * renamed aside first, so the stack keeps describing what runs and a later stack deletion removes
   * the restored cluster's writer rather than the retired one's. Returns the writer's identifier.
   */
  const moveWriterInto = async (input: RestoreInput, staging: string, source: DBCluster | undefined, asideSuffix: string): Promise<string> => {
    const rds = aws.rds(input.target);
    const current = source?.DBClusterMembers?.find((m) => m.IsClusterWriter)?.DBInstanceIdentifier;
    if (!source || !current) {
      throw permanentFailure(ErrorType.ResourceNotFound, `database cluster ${input.clusterIdentifier} has no writer instance to size the restored cluster's writer from`);
    }
    // A retry may find the old writer already renamed aside: its name then ends in the aside suffix.
    const writer = current.endsWith(asideSuffix) ? current.slice(0, -asideSuffix.length) : current;
    const aside = `${writer.slice(0, 63 - asideSuffix.length)}${asideSuffix}`;
    const existing = await findInstance(input.target, writer);
    if (existing?.DBClusterIdentifier === staging) return writer;
    if (existing) {
      await rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: writer, NewDBInstanceIdentifier: aside, ApplyImmediately: true }));
    } else if (!(await findInstance(input.target, aside))) {
      throw permanentFailure(ErrorType.ResourceNotFound, `database instance ${writer} (the writer of ${source.DBClusterIdentifier}) not found, nor renamed to ${aside}: nothing to size the restored cluster's writer from`);
    }
    const old = await waitForInstance(input.target, aside, input.timeoutMs);
    if (!old?.DBInstanceClass) {
      throw permanentFailure(ErrorType.ResourceNotFound, `database instance ${aside} has no instance class to size the restored cluster's writer from`);
    }
    await rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: writer,
        DBClusterIdentifier: staging,
        Engine: source.Engine,
        DBInstanceClass: old.DBInstanceClass,
        PubliclyAccessible: old.PubliclyAccessible,
        Tags: (old.TagList ?? []).filter((t) => !t.Key?.startsWith('aws:')),
      }),
    );
    return writer;
  };

  /**
   * RDS restores no managed master secret (RestoreDBClusterFromSnapshot cannot ask for one; the
   * restored cluster keeps the password the snapshot holds, which the replaced cluster's secret may
   * since have rotated away from): when the replaced cluster's password was RDS-managed, the
   * restored one's is made so too, with the same KMS key, before it takes the tenant's identifier.
   */
  const manageMasterSecret = async (input: RestoreInput, staging: string, source: DBCluster | undefined): Promise<void> => {
    if (!source?.MasterUserSecret) return;
    const restored = await findCluster(input.target, staging);
    if (!restored?.MasterUserSecret) {
      await aws.rds(input.target).send(
        new ModifyDBClusterCommand({
          DBClusterIdentifier: staging,
          ManageMasterUserPassword: true,
          MasterUserSecretKmsKeyId: source.MasterUserSecret.KmsKeyId,
          ApplyImmediately: true,
        }),
      );
    }
    await waitForCluster(input.target, staging, input.timeoutMs, (c) => c.MasterUserSecret?.SecretStatus === 'active');
  };

  const waitUntilGone = (what: string, read: () => Promise<unknown>, timeoutMs?: number) =>
    pollWithHeartbeat({
      what: `${what} to be deleted`,
      read,
      done: (found) => found === undefined,
      intervalMs: 5_000,
      timeoutMs,
      onTimeout: () => retryableFailure(ErrorType.Timeout, `${what} still being deleted`),
    });

  return {
    /**
     * Puts a snapshot's data behind the tenant's cluster identifier: Aurora cannot restore in
     * place, so the snapshot is restored as a new cluster, whose writer takes over the old writer's
     * identifier (see moveWriterInto), the live cluster is renamed aside and the restored one takes
     * its name, so the endpoint the application uses, and the stack's resources, are unchanged. Every step looks before it acts, so a retry resumes where the last stopped.
     */
    async restoreClusterFromSnapshot(input: RestoreInput): Promise<RestoreResult> {
      const rds = aws.rds(input.target);
      const suffix = createHash('sha256').update(input.snapshotIdentifier).digest('hex').slice(0, 8);
      const staging = `${input.clusterIdentifier.slice(0, 50)}-r${suffix}`;
      const retired = `${input.clusterIdentifier.slice(0, 50)}-o${suffix}`;
      const tagged = (c?: DBCluster) => c?.TagList?.some((t) => t.Key === RESTORED_FROM_TAG && t.Value === input.snapshotIdentifier) ?? false;

      const live = await findCluster(input.target, input.clusterIdentifier);
      if (tagged(live)) {
        return { clusterIdentifier: input.clusterIdentifier, retiredClusterIdentifier: retired, restored: false, masterUserSecretArn: live?.MasterUserSecret?.SecretArn };
      }

      const found = await findCluster(input.target, staging);
      if (found && !tagged(found)) {
        // Left by a run that stopped before its tags were written: the tag is what tells a finished restore.
        await rds.send(new AddTagsToResourceCommand({ ResourceName: found.DBClusterArn, Tags: [{ Key: RESTORED_FROM_TAG, Value: input.snapshotIdentifier }] }));
      }
      if (!found) {
        const source = live ?? (await findCluster(input.target, retired));
        if (!source) throw permanentFailure(ErrorType.ResourceNotFound, `database cluster ${input.clusterIdentifier} not found in account ${input.target.accountId} ${input.target.region}: nothing to restore into`);
        if (input.maxSnapshotAge) await refuseIfTooOld(input, input.maxSnapshotAge);
        await rds.send(
          new RestoreDBClusterFromSnapshotCommand({
            DBClusterIdentifier: staging,
            SnapshotIdentifier: input.snapshotIdentifier,
            Engine: source.Engine,
            EngineVersion: source.EngineVersion,
            DBSubnetGroupName: source.DBSubnetGroup,
            VpcSecurityGroupIds: source.VpcSecurityGroups?.map((g) => g.VpcSecurityGroupId ?? '').filter(Boolean),
            DBClusterParameterGroupName: source.DBClusterParameterGroup,
            Port: source.Port,
            KmsKeyId: source.KmsKeyId,
            EnableIAMDatabaseAuthentication: source.IAMDatabaseAuthenticationEnabled,
            DeletionProtection: source.DeletionProtection,
            Tags: [...(source.TagList ?? []).filter((t) => !t.Key?.startsWith('aws:') && t.Key !== RESTORED_FROM_TAG), { Key: RESTORED_FROM_TAG, Value: input.snapshotIdentifier }],
          }),
        );
      }
      await waitForCluster(input.target, staging, input.timeoutMs);
      const source = live ?? (await findCluster(input.target, retired));
      await manageMasterSecret(input, staging, source);
      const writer = await moveWriterInto(input, staging, source, `-o${suffix}`);
      // The tenant's identifier moves to the restored cluster only once it can take writes.
      await waitForInstance(input.target, writer, input.timeoutMs);

      if (live) {
        await rds.send(new ModifyDBClusterCommand({ DBClusterIdentifier: input.clusterIdentifier, NewDBClusterIdentifier: retired, ApplyImmediately: true }));
        await waitForCluster(input.target, retired, input.timeoutMs);
      }
      await rds.send(new ModifyDBClusterCommand({ DBClusterIdentifier: staging, NewDBClusterIdentifier: input.clusterIdentifier, ApplyImmediately: true }));
      const restored = await waitForCluster(input.target, input.clusterIdentifier, input.timeoutMs);
      return { clusterIdentifier: input.clusterIdentifier, retiredClusterIdentifier: retired, restored: true, masterUserSecretArn: restored?.MasterUserSecret?.SecretArn };
    },

    /**
     * Deletes a cluster a restore replaced, once nothing names it any more (release-tenant.ts calls
     * it after the stack follows the restored cluster): left running it costs a writer instance for
     * ever. Its data (the failed release's writes since the pre-release snapshot) stays in a final
     * snapshot, so this loses nothing a human could still want. Its writer goes first (Aurora
     * refuses to delete a cluster with members), deletion protection is lifted (the snapshot is the
     * protection now). Safe to run twice and after a partial run: each step looks first.
     */
    async retireCluster(input: RetireClusterInput): Promise<RetireClusterResult> {
      const rds = aws.rds(input.target);
      const id = input.clusterIdentifier;
      const finalSnapshotIdentifier = `${id.slice(0, 57)}-final`;
      const cluster = await findCluster(input.target, id);
      if (!cluster) return { deleted: false, finalSnapshotIdentifier };
      if (cluster.Status !== 'deleting') {
        if (cluster.DeletionProtection) {
          await rds.send(new ModifyDBClusterCommand({ DBClusterIdentifier: id, DeletionProtection: false, ApplyImmediately: true }));
        }
        for (const member of cluster.DBClusterMembers ?? []) {
          const instance = member.DBInstanceIdentifier!;
          try {
            await rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: instance }));
          } catch (error) {
            const name = (error as Error).name;
            // Gone already, or being deleted by an earlier attempt.
            if (name !== 'DBInstanceNotFoundFault' && name !== 'InvalidDBInstanceStateFault') throw error;
          }
          await waitUntilGone(`database instance ${instance}`, () => findInstance(input.target, instance), input.timeoutMs);
        }
        try {
          await rds.send(new DeleteDBClusterCommand({ DBClusterIdentifier: id, FinalDBSnapshotIdentifier: finalSnapshotIdentifier }));
        } catch (error) {
          const name = (error as Error).name;
          if (name === 'DBClusterSnapshotAlreadyExistsFault') {
            throw permanentFailure(
              ErrorType.SnapshotFailed,
              `database cluster ${id} in account ${input.target.accountId} ${input.target.region} is not deleted: its final snapshot ${finalSnapshotIdentifier} already exists (from another cluster of that name?). Look at both, then delete the cluster by hand`,
              { cause: error },
            );
          }
          if (name !== 'DBClusterNotFoundFault' && name !== 'InvalidDBClusterStateFault') throw error;
        }
      }
      await waitUntilGone(`database cluster ${id}`, () => findCluster(input.target, id), input.timeoutMs);
      return { deleted: true, finalSnapshotIdentifier };
    },

    /**
     * Applies the fleet's retention to a tenant's pre-release snapshots (those tagged with its
     * TenantId and Reason pre-release, of its cluster): the newest `keep` within `maxAgeMs` stay, the
     * rest are deleted. Snapshots still being created, and `except`, are never touched. Safe to run
     * twice: a snapshot already deleted counts as deleted.
     */
    async prunePreReleaseSnapshots(input: PruneSnapshotsInput): Promise<PruneSnapshotsResult> {
      const rds = aws.rds(input.target);
      const mine: DBClusterSnapshot[] = [];
      let marker: string | undefined;
      do {
        const page = await rds.send(
          new DescribeDBClusterSnapshotsCommand({ DBClusterIdentifier: input.clusterIdentifier, SnapshotType: 'manual', Marker: marker }),
        );
        for (const snapshot of page.DBClusterSnapshots ?? []) {
          if (snapshot.DBClusterSnapshotIdentifier === input.except) continue;
          const tags = snapshot.TagList?.length ? snapshot.TagList : await tagsOf(input.target, snapshot.DBClusterSnapshotArn);
          const tag = (key: string) => tags.find((t) => t.Key === key)?.Value;
          if (tag('TenantId') === input.tenantId && tag('Reason') === 'pre-release') mine.push(snapshot);
        }
        marker = page.Marker;
      } while (marker);

      const now = Date.now();
      const newestFirst = mine.sort((a, b) => (b.SnapshotCreateTime?.getTime() ?? 0) - (a.SnapshotCreateTime?.getTime() ?? 0));
      const deleted: string[] = [];
      const kept: string[] = [];
      newestFirst.forEach((snapshot, index) => {
        const id = snapshot.DBClusterSnapshotIdentifier!;
        const age = now - (snapshot.SnapshotCreateTime?.getTime() ?? now);
        const expired = index >= input.keep || age > input.maxAgeMs;
        (expired && snapshot.Status === 'available' ? deleted : kept).push(id);
      });
      for (const id of deleted) {
        try {
          await rds.send(new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: id }));
        } catch (error) {
          if ((error as Error).name !== 'DBClusterSnapshotNotFoundFault') throw error;
        }
        heartbeat({ pruned: id });
      }
      return { deleted, kept };
    },

    /**
     * Creates the cluster snapshot unless it exists, then waits until it is available. An existing
     * snapshot is reused only when it is of the same cluster and its tags name the same tenant and
     * release: another one under this ID is somebody else's data, and the release fails naming both.
     */
    async snapshotCluster(input: SnapshotInput): Promise<SnapshotResult> {
      const rds = aws.rds(input.target);
      let created = false;
      const existing = await find(input.target, input.snapshotIdentifier);
      if (existing) {
        const conflict = await identityConflict(input, existing);
        if (conflict) throw permanentFailure(ErrorType.SnapshotFailed, conflict);
      } else {
        try {
          await rds.send(
            new CreateDBClusterSnapshotCommand({
              DBClusterIdentifier: input.clusterIdentifier,
              DBClusterSnapshotIdentifier: input.snapshotIdentifier,
              Tags: Object.entries(input.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
            }),
          );
          created = true;
        } catch (error) {
          const name = (error as Error).name;
          if (name === 'DBClusterNotFoundFault') {
            throw permanentFailure(ErrorType.ResourceNotFound, `database cluster ${input.clusterIdentifier} not found in account ${input.target.accountId} ${input.target.region}`, { cause: error });
          }
          if (name !== 'DBClusterSnapshotAlreadyExistsFault') throw error;
        }
      }
      const snapshot = await pollWithHeartbeat({
        what: `snapshot ${input.snapshotIdentifier}`,
        read: () => find(input.target, input.snapshotIdentifier),
        done: (s) => s?.Status === 'available' || s?.Status === 'failed',
        intervalMs: 5_000,
        timeoutMs: input.timeoutMs,
        onTimeout: (s) => retryableFailure(ErrorType.Timeout, `snapshot ${input.snapshotIdentifier} still ${s?.Status ?? 'missing'}`),
      });
      if (snapshot?.Status !== 'available' || !snapshot.DBClusterSnapshotArn) {
        throw permanentFailure(ErrorType.SnapshotFailed, `snapshot ${input.snapshotIdentifier} of ${input.clusterIdentifier} ended ${snapshot?.Status}`);
      }
      return { snapshotIdentifier: input.snapshotIdentifier, snapshotArn: snapshot.DBClusterSnapshotArn, status: snapshot.Status, created };
    },
  };
}

export type RdsActivities = ReturnType<typeof createRdsActivities>;

function formatDuration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 120) return `${minutes} min`;
  const hours = ms / 3_600_000;
  return hours < 48 ? `${Math.round(hours * 10) / 10} h` : `${Math.round(hours / 24)} days`;
}
