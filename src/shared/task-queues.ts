/** Workflows and AWS activities; Kubernetes activities run on one queue per cluster (see resolve.ts). */
export const TASK_QUEUES = {
  workflows: 'tenant-fleet',
  aws: 'tenant-fleet-aws',
} as const;
