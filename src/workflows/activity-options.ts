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

/** Quick AWS calls. */
export const awsCall: ActivityOptions = { taskQueue: TASK_QUEUES.aws, startToCloseTimeout: '2 minutes', retry };

/** Activities that wait inside (stacks, rollouts, snapshots): a missed heartbeat means the worker died. */
export const awsWait: ActivityOptions = {
  taskQueue: TASK_QUEUES.aws,
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '30 seconds',
  retry,
};

/** Kubernetes calls; the task queue is the tenant's cluster's own (see `onQueue`). */
export const kubeCall: ActivityOptions = { startToCloseTimeout: '2 minutes', retry };
export const kubeWait: ActivityOptions = { startToCloseTimeout: '1 hour', heartbeatTimeout: '30 seconds', retry };

export const onQueue = (options: ActivityOptions, taskQueue: string): ActivityOptions => ({ ...options, taskQueue });
