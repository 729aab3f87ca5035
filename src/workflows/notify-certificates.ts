import { workflowInfo } from '@temporalio/workflow';
import { nameCovers } from '../shared/certificates/hostnames';
import type { DesiredHostname } from '../shared/certificates/planner';
import { expiringNotifications, expiryWakeTimes, validationStuckNotification } from '../shared/notifications/certificates';
import type { CertificatesState, CertificateStatus, StuckCertificate } from '../shared/messages/certificates';
import { Deliveries } from './notify';

/**
 * The certificates workflow's notifications (docs/operators.md, "Notifications"): a certificate
 * stuck in validation, and one with less than a threshold of `policy.expiryWarnings` left. Each key
 * goes once: the keys sent are kept in the workflow's state (`notified`, carried across
 * continue-as-new), so the next check cycle, a signal's reconcile or a new run finds nothing new
 * to say about the same certificate and threshold.
 */
export class CertificateNotifier {
  private readonly deliveries = new Deliveries();

  constructor(private readonly state: CertificatesState) {}

  /**
   * After a reconcile: sends what is new, forgets keys of certificates that are gone, and returns
   * the times at which a certificate crosses a threshold it has not crossed yet (the workflow wakes then).
   */
  checked(certificates: CertificateStatus[], stuck: StuckCertificate[], hostnames: DesiredHostname[]): number[] {
    const { workflowId, runId } = workflowInfo();
    const now = Date.now();
    const scope = (names: string[]) => ({ group: this.state.group, workflowId, runId, environments: environmentsOf(names, hostnames) });
    const thresholds = this.state.policy.expiryWarnings;
    const fresh = [
      ...stuck.map((cert) => validationStuckNotification(scope(cert.names), cert)),
      ...certificates.flatMap((cert) => expiringNotifications(scope(cert.names), cert, thresholds, now)),
    ].filter((n) => !this.state.notified.includes(n.key));
    for (const notification of fresh) {
      this.state.notified.push(notification.key);
      this.deliveries.send(notification);
    }
    const known = [...certificates.map((c) => c.arn), ...stuck.map((s) => s.arn)];
    this.state.notified = this.state.notified.filter((key) => known.some((arn) => key.includes(`/${arn}`)));
    // A threshold still ahead has not been crossed, so not notified either.
    return certificates.flatMap((cert) => expiryWakeTimes(cert, thresholds, now));
  }

  settled(): Promise<void> {
    return this.deliveries.settled();
  }
}

/** The environments of the tenants whose hostnames a certificate covers (subscriptions match on them). */
function environmentsOf(names: string[], hostnames: DesiredHostname[]): string[] {
  return [...new Set(hostnames.filter((h) => names.some((n) => nameCovers(n, h.hostname))).map((h) => h.environment))].sort();
}
