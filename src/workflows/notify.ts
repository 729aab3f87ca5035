import { isCancellation, patched, workflowInfo } from '@temporalio/workflow';
import type { NotificationActivities } from '../activities/notify';
import { notificationKey, type Notification } from '../shared/notifications/events';
import { activitiesFor } from './activity-options';
import { messageOf } from './steps';

const activities = activitiesFor<NotificationActivities>();

/**
 * Starts a delivery and never rejects: a channel that is down must not fail or hold up the workflow.
 * Callers do not wait for it while they work; before they end they wait for what is still in flight,
 * which the activity's schedule-to-close bounds (activity-options.ts, notifyCall).
 */
export function notify(notification: Notification): Promise<void> {
  return activities.deliverNotification(notification).then(
    () => undefined,
    () => undefined,
  );
}

/**
 * Runs a tenant operation; when it fails (a cancellation is not a failure), subscribers hear of it
 * before the failure is rethrown. The key's sequence is the run ID: the workflow ID is reused by the
 * tenant's next operation.
 */
export async function notifyingFailure<T>(
  event: 'provisioning-failed' | 'deprovisioning-failed',
  tenant: { id: string; environment: string },
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!isCancellation(error) && patched('tenant-failure-notifications')) {
      const { workflowId, runId } = workflowInfo();
      const what = event === 'provisioning-failed' ? 'provisioning' : 'deprovisioning';
      await notify({
        event,
        key: notificationKey(workflowId, event, runId),
        environments: [tenant.environment],
        workflowId,
        runId,
        text: `${what} tenant ${tenant.id} failed: ${messageOf(error)}`,
        fields: { tenant: tenant.id },
      });
    }
    throw error;
  }
}
