import { CancellationScope, isCancellation, patched, sleep, workflowInfo } from '@temporalio/workflow';
import type { NotificationActivities } from '../activities/notify';
import { notificationKey, type Notification } from '../shared/notifications/events';
import { approvalOverdueNotification, gateOf, releaseNotification } from '../shared/notifications/release';
import type { ReleasePlanInput } from '../shared/release/machine-types';
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
 * Deliveries a long-running workflow starts without waiting: each key once per run (a phase or
 * check that comes round again has nothing new to say), and `settled()` before the run ends or
 * continues as new, since Temporal drops the activities of a closed run.
 */
export class Deliveries {
  private readonly inFlight: Promise<void>[] = [];
  private readonly sent = new Set<string>();

  send(notification: Notification): void {
    if (this.sent.has(notification.key)) return;
    this.sent.add(notification.key);
    this.inFlight.push(notify(notification));
  }

  wasSent(key: string): boolean {
    return this.sent.has(key);
  }

  /** Resolves once every delivery started is done or given up: at most one schedule-to-close after the last start. */
  async settled(): Promise<void> {
    await Promise.all(this.inFlight);
  }
}

/**
 * A release's notifications (docs/operators.md, "Notifications"), read from the phases the release
 * machine sets: approval gates (and a reminder when one waits longer than the plan's
 * `approval.notifyAfter`, on a durable timer), halts and the end. The release never waits for a
 * delivery except, bounded, before its run ends. Off (`patched('release-notify')` false) for runs
 * started before it, whose histories hold no such commands.
 */
export class ReleaseNotifier {
  private readonly deliveries = new Deliveries();
  private reminder?: { gate: number; scope: CancellationScope };

  private constructor(
    private readonly input: ReleasePlanInput,
    private readonly on: boolean,
  ) {}

  static start(input: ReleasePlanInput): ReleaseNotifier {
    return new ReleaseNotifier(input, patched('release-notify'));
  }

  /** The machine set `phase`; `reason` is the abort's or halt's, if any. */
  onPhase(phase: string, reason?: string): void {
    if (!this.on) return;
    const { workflowId, runId } = workflowInfo();
    const gate = gateOf(phase);
    if (this.reminder && this.reminder.gate !== gate) {
      this.reminder.scope.cancel();
      this.reminder = undefined;
    }
    const notification = releaseNotification(this.input, phase, workflowId, runId, reason);
    if (notification) this.deliveries.send(notification);
    if (gate !== undefined && !this.reminder) this.remind(gate);
  }

  private remind(gate: number): void {
    const afterMs = this.input.waves[gate - 2]?.approval?.notifyAfterMs;
    const { workflowId, runId } = workflowInfo();
    if (afterMs === undefined || this.deliveries.wasSent(notificationKey(workflowId, 'approval-overdue', gate - 1))) return;
    const scope = new CancellationScope();
    this.reminder = { gate, scope };
    scope.run(() => sleep(afterMs)).then(
      () => {
        if (this.reminder?.scope !== scope) return;
        this.reminder = undefined;
        this.deliveries.send(approvalOverdueNotification(this.input, gate, afterMs, workflowId, runId));
      },
      (error: unknown) => {
        if (!isCancellation(error)) throw error;
      },
    );
  }

  /** Before the run ends: no reminder left, and every delivery done or given up. */
  async settled(): Promise<void> {
    this.reminder?.scope.cancel();
    this.reminder = undefined;
    await this.deliveries.settled();
  }
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
