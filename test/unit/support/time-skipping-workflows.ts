// The workflows the time-skipping tests run: the real releaseWave, tenantLock and certificates,
// with releaseTenant replaced by a child that succeeds at once (those tests are about timers in
// the parent, not about deploying), except for tenant `stuck`, which runs until it is terminated.
import { condition, proxyActivities } from '@temporalio/workflow';
import type { NotificationActivities } from '../../../src/activities/notify';
import type { ReleaseTenantInput, ReleaseTenantResult } from '../../../src/shared/messages/release';
import type { Notification } from '../../../src/shared/notifications/events';
import { notifyCall } from '../../../src/workflows/activity-options';

export { certificates, releaseWave, tenantLock } from '../../../src/workflows';

export async function releaseTenant(input: ReleaseTenantInput): Promise<ReleaseTenantResult> {
  if (input.tenantId === 'stuck') await condition(() => false);
  return Promise.resolve({ tenantId: input.tenantId, status: 'succeeded', previousVersion: '1.0.0', deployed: true });
}

/** One delivery with the product's retry options, on a queue whose worker runs the real delivery activity. */
export async function deliverOnce(notification: Notification, taskQueue: string): Promise<{ delivered: string[] }> {
  return proxyActivities<NotificationActivities>({ ...notifyCall, taskQueue }).deliverNotification(notification);
}
