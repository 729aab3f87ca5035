import type { RetryPolicy } from '@temporalio/common';
import { proxyActivities, type ActivityOptions, type LocalActivityOptions } from '@temporalio/workflow';
import type { AcmActivities } from '../activities/acm';
import type { BakeWatchActivities } from '../activities/bake-watch';
import type { CloudFormationActivities } from '../activities/cloudformation';
import type { Elbv2Activities } from '../activities/elbv2';
import type { ListenerRuleActivities } from '../activities/listener-rule';
import type { FleetActivities } from '../activities/fleet';
import type { HealthActivities } from '../activities/verify-health';
import type { LockActivities } from '../activities/lock';
import type { NotificationActivities } from '../activities/notify';
import type { RdsActivities } from '../activities/rds';
import type { Route53Activities } from '../activities/route53';
import type { EcsActivities } from '../activities/runtime/ecs';
import type { EcsReleaseActivities } from '../activities/runtime/ecs-release';
import type { EcsColourActivities } from '../activities/runtime/types';
import type { EcsMigrationActivities } from '../activities/runtime/ecs-migration';
import type { KubernetesActivities } from '../activities/runtime/kubernetes';
import type { KubernetesMigrationActivities } from '../activities/runtime/kubernetes-migration';
import type { SsmActivities } from '../activities/ssm';
import type { TemporalActivities } from '../activities/temporal';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/errors';
import { TASK_QUEUES } from '../shared/task-queues';

const retry: RetryPolicy = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
};

/*
 * Every activity has a schedule-to-close limit: the retry policies set no attempt limit (throttling
 * and 5xx retry with backoff), and an activity that retried for ever would hold its tenant's lock
 * for ever. The limit covers all attempts and the time in the queue.
 */

/**
 * Quick AWS calls. The start-to-close is what a worker killed in the middle of one costs (the
 * server only learns of it by the timeout), so it is kept short: each SDK request gives up after
 * 10 s (aws/clients.ts) and a slow retry is Temporal's job.
 */
export const awsCall: ActivityOptions = { taskQueue: TASK_QUEUES.aws, startToCloseTimeout: '30 seconds', scheduleToCloseTimeout: '10 minutes', retry };

/**
 * Activities that wait inside (stacks, change sets, rollouts, snapshots, restores, DNS changes):
 * a missed heartbeat means the worker died. The pollers heartbeat while they sleep (activities/poll.ts),
 * so the heartbeat timeout does not depend on how far their back-off has grown.
 */
export const awsWait: ActivityOptions = {
  // A queue of their own: held for minutes each, they would otherwise take every slot the quick calls need.
  taskQueue: TASK_QUEUES.awsWait,
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '30 seconds',
  scheduleToCloseTimeout: '4 hours',
  retry,
};

/**
 * Kubernetes calls; the task queue is the tenant's cluster's own (see `onQueue`). A minute: the
 * client gives up on one request after 30 s, and an apply makes several.
 */
export const kubeCall: ActivityOptions = { startToCloseTimeout: '1 minute', scheduleToCloseTimeout: '10 minutes', retry };
export const kubeWait: ActivityOptions = { startToCloseTimeout: '1 hour', heartbeatTimeout: '30 seconds', scheduleToCloseTimeout: '2 hours', retry };

/** Calls to Temporal itself (signal-with-start, describe). */
export const temporalCall: ActivityOptions = { startToCloseTimeout: '30 seconds', scheduleToCloseTimeout: '5 minutes', retry: { maximumAttempts: 10 } };
/** The fleet config, read from the worker's file. */
export const fleetCall: ActivityOptions = { startToCloseTimeout: '1 minute', scheduleToCloseTimeout: '5 minutes', retry: { maximumAttempts: 5 } };
/**
 * The lock's own messages, as local activities. Bounded too: a release that cannot be delivered
 * within the limit is reclaimed by the lock's holder check once the holder has ended.
 */
/**
 * Notification delivery (src/activities/notify.ts), on the workflows queue beside the fleet config
 * it reads. Bounded tight: workflows never wait on it during a release, and before they end they wait
 * at most this long for deliveries still retrying, so a dead endpoint costs a release one bound once.
 */
export const notifyCall: ActivityOptions = {
  startToCloseTimeout: '15 seconds',
  // Its heartbeat carries the channels that took the notification, for a retry to skip; as a liveness
  // signal it adds nothing to the start-to-close, which it equals (an attempt heartbeats only between channels).
  heartbeatTimeout: '15 seconds',
  scheduleToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES] },
};
export const lockLocal: LocalActivityOptions = { startToCloseTimeout: '10 seconds', scheduleToCloseTimeout: '10 minutes', retry: { maximumInterval: '30 seconds' } };

type AllActivities = CloudFormationActivities &
  RdsActivities &
  Route53Activities &
  SsmActivities &
  EcsActivities &
  EcsReleaseActivities &
  EcsColourActivities &
  EcsMigrationActivities &
  KubernetesMigrationActivities &
  HealthActivities &
  BakeWatchActivities &
  AcmActivities &
  Elbv2Activities &
  ListenerRuleActivities &
  KubernetesActivities &
  TemporalActivities &
  FleetActivities &
  NotificationActivities &
  LockActivities;
export type ActivityName = Extract<keyof AllActivities, string>;

/**
 * The options of every activity the workflows schedule, by name: workflows get their proxies from
 * `activitiesFor`, so an activity's timeouts are chosen here once, and test/unit/activity-options.test.ts
 * checks this table against what each activity does (one that polls AWS must have a heartbeat timeout).
 * The type makes a new activity without an entry a compile error.
 */
export const ACTIVITY_OPTIONS = {
  // CloudFormation: a deploy waits for its change set to be created and for a stack still in progress.
  deployStack: awsWait,
  waitForStack: awsWait,
  deleteStack: awsWait,
  getStackOutputs: awsCall,
  // What a deployment would change (tenantctl tenant diff calls it directly; no workflow schedules it yet).
  previewStack: awsWait,
  // Creating a change set polls until CloudFormation has computed it; executing one is a quick call.
  prepareStackChange: awsWait,
  executeStackChange: awsCall,
  // Reads a few SSM parameters and the stack's template.
  previousStack: awsCall,
  // RDS
  snapshotCluster: awsWait,
  restoreClusterFromSnapshot: awsWait,
  // Waits for the replaced cluster's writer and then the cluster (with its final snapshot) to be deleted.
  retireCluster: awsWait,
  // Reads the tags of each of a tenant's snapshots and deletes the expired ones: many quick calls. A
  // release goes on without it after ten minutes (release-tenant.ts), so it is bounded tighter.
  prunePreReleaseSnapshots: { ...awsWait, startToCloseTimeout: '5 minutes', scheduleToCloseTimeout: '10 minutes' },
  // Route53: every change waits until it is INSYNC.
  upsertDnsRecords: awsWait,
  upsertZoneRecords: awsWait,
  deleteDnsRecords: awsWait,
  // SSM
  putTenantParameters: awsCall,
  deleteTenantParameters: awsCall,
  readReleaseRecord: awsCall,
  // ECS
  ecsApplyWorkload: awsCall,
  ecsSetVersion: awsCall,
  ecsCurrentWorkload: awsCall,
  ecsPreviewWorkload: awsCall,
  ecsWaitForRollout: awsWait,
  // Sets the version and waits for its rollout (a release's deploy).
  ecsDeployVersion: awsWait,
  ecsDeleteWorkload: awsWait,
  // A release's merged steps on ECS (runtime/ecs-release.ts): two reads; the reads with the snapshot
  // (which waits until it is available); the deploy with its record.
  ecsInspectForRelease: awsCall,
  ecsPrepareRelease: awsWait,
  ecsDeployAndRecord: awsWait,
  // A release's migration task (runtime/ecs-migration.ts): release-migration.ts stretches it to the migration's timeout.
  ecsRunMigration: awsWait,
  // Verification: release-tenant.ts stretches the start-to-close to the verify window.
  verifyTenantHealth: awsWait,
  // The active bake's watch of a whole wave: release-wave's bake-watch.ts stretches it to the bake.
  watchBake: awsWait,
  // ACM: validation records appear some seconds after the request; issuance waits for DNS validation.
  listGroupCertificates: awsCall,
  requestCertificate: awsCall,
  getValidationRecords: awsWait,
  waitForCertificateIssued: awsWait,
  deleteCertificate: awsWait,
  // ELBv2
  listListenerCertificates: awsCall,
  attachListenerCertificates: awsCall,
  detachListenerCertificates: awsCall,
  allocateRulePriority: awsCall,
  // Blue/green (src/activities/listener-rule.ts): a rule's forward weights, one ModifyRule at most.
  readTrafficWeights: awsCall,
  setTrafficWeights: awsCall,
  // Maintenance mode (src/workflows/maintenance-mode.ts): a rule's exact actions, one ModifyRule at most.
  readListenerRule: awsCall,
  setListenerRuleActions: awsCall,
  // Blue/green colour slots on ECS (runtime/ecs-colours.ts): the deploy waits for its targets' health.
  ecsDeployColour: awsWait,
  ecsReadColours: awsCall,
  ecsRetireColour: awsCall,
  // Kubernetes (each cluster's own task queue)
  k8sApplyWorkload: kubeCall,
  k8sSetVersion: kubeCall,
  k8sCurrentWorkload: kubeCall,
  // tenantctl tenant diff / resources, through the inspectKubernetesWorkload workflow (read-only).
  k8sPreviewWorkload: kubeCall,
  k8sListWorkload: kubeCall,
  k8sWaitForRollout: kubeWait,
  k8sDeployVersion: kubeWait,
  k8sDeleteWorkload: kubeWait,
  // Blue/green: a colour's deploy waits for its rollout (and so its targets' health); a retire waits for its pods to go.
  k8sDeployColour: kubeWait,
  k8sReadColours: kubeCall,
  k8sRetireColour: kubeWait,
  // A release's migration Job (runtime/kubernetes-migration.ts): release-migration.ts stretches it to the migration's timeout.
  k8sRunMigration: kubeWait,
  // Temporal and the fleet config
  requestTenantLock: temporalCall,
  claimTenantLock: temporalCall,
  releaseClaimedTenantLock: lockLocal,
  signalCertificates: temporalCall,
  isWorkflowRunning: temporalCall,
  // tenantctl release rollback (src/workflows/release-rollback.ts): an abort update, a query and signals; a cancel request.
  stopReleaseForRollback: temporalCall,
  cancelRetireColour: temporalCall,
  loadTenantSpec: fleetCall,
  nextDeployOpening: fleetCall,
  deliverNotification: notifyCall,
  answerLockRequest: lockLocal,
  releaseTenantLock: lockLocal,
} as const satisfies Record<ActivityName, ActivityOptions | LocalActivityOptions>;

/**
 * A proxy for a group of activities, each scheduled with its own entry of `ACTIVITY_OPTIONS`
 * (`overrides` on top: a task queue, a longer start-to-close). An activity without an entry
 * cannot be scheduled through it.
 */
export function activitiesFor<A extends object>(overrides: Partial<ActivityOptions> = {}): A {
  const proxies = new Map<string, unknown>();
  return new Proxy({} as A, {
    get(_, name) {
      if (typeof name !== 'string') return undefined;
      let proxy = proxies.get(name);
      if (proxy === undefined) {
        const options = ACTIVITY_OPTIONS[name as ActivityName] as ActivityOptions | undefined;
        if (!options) throw new TypeError(`activity ${name} has no entry in ACTIVITY_OPTIONS (src/workflows/activity-options.ts)`);
        proxy = (proxyActivities({ ...options, ...overrides }) as Record<string, unknown>)[name];
        proxies.set(name, proxy);
      }
      return proxy;
    },
  });
}

export const onQueue = (options: ActivityOptions, taskQueue: string): ActivityOptions => ({ ...options, taskQueue });
