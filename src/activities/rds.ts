import {
  CreateDBClusterSnapshotCommand,
  DescribeDBClusterSnapshotsCommand,
  type DBClusterSnapshot,
} from '@aws-sdk/client-rds';
import { ErrorType, permanentFailure, retryableFailure } from '../shared/errors';
import type { AwsTarget } from '../shared/tenant-spec';
import type { AwsClients } from './aws/clients';
import { pollWithHeartbeat } from './poll';

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

/** RDS snapshot identifiers: letters, digits, hyphens; start with a letter; no "--"; at most 255. */
export function snapshotIdentifier(...parts: string[]): string {
  const id = parts
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  return (/^[a-z]/.test(id) ? id : `s-${id}`).slice(0, 255).replace(/-$/, '');
}

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

  return {
    /** Creates the cluster snapshot unless it exists, then waits until it is available. */
    async snapshotCluster(input: SnapshotInput): Promise<SnapshotResult> {
      const rds = aws.rds(input.target);
      let created = false;
      if (!(await find(input.target, input.snapshotIdentifier))) {
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
