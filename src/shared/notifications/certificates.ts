import { notificationKey, type Notification } from './events';

const DAY = 86_400_000;

/** What a certificate group's notifications carry about it: the group and the environments of its tenants. */
export interface CertificateGroupScope {
  group: string;
  environments: string[];
  workflowId: string;
  runId: string;
}

/**
 * A certificate still pending validation past the policy's `validationTimeout`. Keyed by its ARN:
 * a certificate is requested once, so it is reported stuck once, however many checks still find it so.
 */
export function validationStuckNotification(scope: CertificateGroupScope, cert: { arn: string; names: string[]; since: string; pendingRecords: { name: string }[] }): Notification {
  const pending = cert.pendingRecords.map((r) => r.name);
  return {
    event: 'certificate-validation-stuck',
    key: notificationKey(scope.workflowId, 'certificate-validation-stuck', cert.arn),
    environments: scope.environments,
    workflowId: scope.workflowId,
    runId: scope.runId,
    text: `certificate for ${cert.names.join(', ')} (group ${scope.group}) is stuck in DNS validation since ${cert.since}${pending.length > 0 ? `; ACM still waits for ${pending.join(', ')}` : ''}`,
    fields: { group: scope.group, arn: cert.arn, names: cert.names.join(','), since: cert.since },
  };
}

/**
 * The thresholds (from `certificates.expiryWarnings`) a certificate has crossed, as the notifications
 * they call for: one per certificate and threshold, keyed by both, so a later check that finds the
 * same certificate on the same side of the same threshold has nothing new to say.
 */
export function expiringNotifications(
  scope: CertificateGroupScope,
  cert: { arn: string; names: string[]; notAfter?: string; status: string },
  thresholdsMs: number[],
  now: number,
): Notification[] {
  if (cert.status !== 'ISSUED' || cert.notAfter === undefined) return [];
  const left = Date.parse(cert.notAfter) - now;
  // Only the tightest threshold crossed: a certificate first seen 2 days before expiry is one message, not one per threshold.
  const crossed = thresholdsMs.filter((t) => left < t).sort((a, b) => a - b)[0];
  if (crossed === undefined) return [];
  const days = Math.max(0, Math.floor(left / DAY));
  return [
    {
      event: 'certificate-expiring',
      key: expiringKey(scope.workflowId, cert.arn, crossed),
      environments: scope.environments,
      workflowId: scope.workflowId,
      runId: scope.runId,
      text: `certificate for ${cert.names.join(', ')} (group ${scope.group}) expires ${cert.notAfter} (${left <= 0 ? 'expired' : `in ${days} d`}) and has not been replaced`,
      fields: { group: scope.group, arn: cert.arn, names: cert.names.join(','), notAfter: cert.notAfter, thresholdDays: String(crossed / DAY) },
    },
  ];
}

export const expiringKey = (workflowId: string, arn: string, thresholdMs: number) => notificationKey(workflowId, 'certificate-expiring', `${arn}/${thresholdMs / DAY}d`);

/** The times at which a certificate crosses a threshold not crossed yet: the workflow wakes for them. */
export function expiryWakeTimes(cert: { notAfter?: string; status: string }, thresholdsMs: number[], now: number): number[] {
  if (cert.status !== 'ISSUED' || cert.notAfter === undefined) return [];
  return thresholdsMs.map((t) => Date.parse(cert.notAfter!) - t).filter((at) => at > now);
}
