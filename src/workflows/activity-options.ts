import type { RetryPolicy } from '@temporalio/common';
import type { ActivityOptions } from '@temporalio/workflow';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/errors';
import { TASK_QUEUES } from '../shared/task-queues';

const retry: RetryPolicy = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
};

/**
 * Quick AWS calls. The start-to-close is what a worker killed in the middle of one costs (the
 * server only learns of it by the timeout), so it is kept short: each SDK request gives up after
 * 10 s (aws/clients.ts) and a slow retry is Temporal's job.
 */
export const awsCall: ActivityOptions = { taskQueue: TASK_QUEUES.aws, startToCloseTimeout: '30 seconds', retry };

/** Activities that wait inside (stacks, rollouts, snapshots): a missed heartbeat means the worker died. */
export const awsWait: ActivityOptions = {
  taskQueue: TASK_QUEUES.aws,
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '30 seconds',
  retry,
};

/**
 * Kubernetes calls; the task queue is the tenant's cluster's own (see `onQueue`). A minute: the
 * client gives up on one request after 30 s, and an apply makes several.
 */
export const kubeCall: ActivityOptions = { startToCloseTimeout: '1 minute', retry };
export const kubeWait: ActivityOptions = { startToCloseTimeout: '1 hour', heartbeatTimeout: '30 seconds', retry };

export const onQueue = (options: ActivityOptions, taskQueue: string): ActivityOptions => ({ ...options, taskQueue });
