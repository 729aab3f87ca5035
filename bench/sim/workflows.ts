// The bench worker's workflow bundle: the product's workflows, unchanged, plus the trivial
// workflow that measures what Temporal itself can do on this machine.
import { proxyActivities } from '@temporalio/workflow';
import type { SimulatedAwsActivities } from './activities';

export * from '../../src/workflows';

const { benchNoop } = proxyActivities<SimulatedAwsActivities>({ taskQueue: 'tenant-fleet-aws', startToCloseTimeout: '1 minute' });

/** As many activities as one releaseTenant runs (8 steps and the lock request), doing nothing, one after another. */
export async function trivialTenant(activities: number): Promise<void> {
  for (let i = 0; i < activities; i++) await benchNoop();
}
