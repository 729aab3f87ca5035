/**
 * The events a fleet config can subscribe to (docs/operators.md, "Notifications"). The names are
 * part of the config's interface: renaming one breaks every fleet config that subscribes to it.
 */
export const NOTIFICATION_EVENTS = [
  'approval-awaited',
  'approval-overdue',
  'wave-halted',
  'release-ended',
  'provisioning-failed',
  'deprovisioning-failed',
  'certificate-validation-stuck',
  'certificate-expiring',
] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

/** What a workflow hands the delivery activity: references and words only, never a secret. */
export interface Notification {
  event: NotificationEvent;
  /**
   * workflow ID + event + a sequence the workflow derives from its own state (a wave's number),
   * so a retried activity or a re-run of the same point after a continue-as-new sends the same key.
   */
  key: string;
  /** Subscriptions match on these (a release covers several environments). */
  environments: string[];
  workflowId: string;
  runId?: string;
  /** One line, Slack's `text`. */
  text: string;
  /** The command a person runs next, e.g. `tenantctl release approve <id> --wave <name>`. */
  command?: string;
  fields?: Record<string, string>;
}

export const notificationKey = (workflowId: string, event: NotificationEvent, sequence: string | number): string => `${workflowId}/${event}/${sequence}`;
