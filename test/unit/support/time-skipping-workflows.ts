// The workflows the time-skipping tests run: the real releaseWave, tenantLock and certificates,
// with releaseTenant replaced by a child that succeeds at once (those tests are about timers in
// the parent, not about deploying), except for tenant `stuck`, which runs until it is terminated.
// A tenant with maintenance windows first waits for them with the real wait (src/workflows/maintenance-window.ts).
import { condition, proxyActivities, setHandler } from '@temporalio/workflow';
import type { NotificationActivities } from '../../../src/activities/notify';
import { stopTenantSignal, type ReleaseTenantInput, type ReleaseTenantResult } from '../../../src/shared/messages/release';
import type { Notification } from '../../../src/shared/notifications/events';
import { notifyCall } from '../../../src/workflows/activity-options';
import { deployWindow, skipNote } from '../../../src/workflows/maintenance-window';
import type { RollbackTenantInput, RollbackTenantResult } from '../../../src/shared/messages/rollback';

export { certificates, releaseRollback, releaseWave, tenantLock } from '../../../src/workflows';

export async function releaseTenant(input: ReleaseTenantInput): Promise<ReleaseTenantResult> {
  let stopped: string | undefined;
  setHandler(stopTenantSignal, ({ reason }) => void (stopped ??= reason));
  const window = deployWindow(input);
  if (input.tenantId === 'stuck') await condition(() => false);
  const opening = await window.wait(() => undefined, () => stopped);
  if (!opening.go) return { tenantId: input.tenantId, status: 'skipped', reason: `not deployed: ${opening.reason}`, deployed: false };
  const note = opening.window && skipNote(opening.window);
  return { tenantId: input.tenantId, status: 'succeeded', previousVersion: '1.0.0', deployed: true, ...(opening.window ? { window: opening.window } : {}), ...(note ? { reason: note } : {}) };
}

/** One delivery with the product's retry options, on a queue whose worker runs the real delivery activity. */
export async function deliverOnce(notification: Notification, taskQueue: string): Promise<{ delivered: string[] }> {
  return proxyActivities<NotificationActivities>({ ...notifyCall, taskQueue }).deliverNotification(notification);
}

/** tenantctl release rollback's child, in place of the real one (src/workflows/release-rollback.ts): `fail-*` tenants fail their switch, the others are back at once. */
export function rollbackTenant(input: RollbackTenantInput): Promise<RollbackTenantResult> {
  if (input.tenantId.startsWith('fail-')) return Promise.resolve({ tenantId: input.tenantId, status: 'failed', reason: 'verification of blue failed' });
  return Promise.resolve({ tenantId: input.tenantId, status: 'rolled-back', colour: 'blue', backTo: '1.0.0', retire: 'cancelled' });
}
