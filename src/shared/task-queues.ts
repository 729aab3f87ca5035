/** Workflows and AWS activities; Kubernetes activities run on one queue per cluster (see resolve.ts). */
export const TASK_QUEUES = {
  workflows: 'tenant-fleet',
  aws: 'tenant-fleet-aws',
  /**
   * AWS activities that wait (stacks, snapshots, rollouts, verification), served by the same AWS
   * worker with slots of their own, so thousands of them waiting never hold the slots quick calls need.
   */
  awsWait: 'tenant-fleet-aws-wait',
} as const;
