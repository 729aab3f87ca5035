/**
 * One target's health state as an Application Load Balancer tracks it
 * (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html):
 * a newly registered target is `initial` until it passes one health check (then `healthy`) or fails
 * the unhealthy threshold in a row (then `unhealthy`); afterwards it takes HealthyThresholdCount
 * consecutive passes to become healthy again and UnhealthyThresholdCount consecutive failures to
 * become unhealthy. Pure, so it is unit-tested alone.
 */

export type TargetState = 'initial' | 'healthy' | 'unhealthy' | 'unused' | 'draining' | 'unavailable';

export interface TargetHealth {
  state: TargetState;
  reason?: string;
  description?: string;
}

export type CheckResult = { ok: true } | { ok: false; reason: 'Target.ResponseCodeMismatch' | 'Target.Timeout' | 'Target.FailedHealthChecks'; description: string };

export interface Thresholds {
  healthy: number;
  unhealthy: number;
}

export class TargetHealthTracker {
  private passes = 0;
  private failures = 0;
  health: TargetHealth = { state: 'initial', reason: 'Elb.RegistrationInProgress', description: 'Target registration is in progress' };

  /** Applies one health check's result; true when the state changed. */
  record(result: CheckResult, thresholds: Thresholds): boolean {
    const before = this.health.state;
    if (result.ok) {
      this.passes += 1;
      this.failures = 0;
      if (before === 'initial' || (before === 'unhealthy' && this.passes >= thresholds.healthy)) this.health = { state: 'healthy' };
    } else {
      this.failures += 1;
      this.passes = 0;
      if (before === 'initial' && this.failures < thresholds.unhealthy) {
        this.health = { state: 'initial', reason: 'Elb.InitialHealthChecking', description: 'Initial health checks in progress' };
      } else if (this.failures >= thresholds.unhealthy || before === 'unhealthy') {
        this.health = { state: 'unhealthy', reason: result.reason, description: result.description };
      }
    }
    return this.health.state !== before;
  }
}

/** ALB matcher syntax: "200", "200,202", "200-299". */
export function matchesHttpCode(matcher: string, status: number): boolean {
  return matcher.split(',').some((part) => {
    const [low, high] = part.trim().split('-').map(Number);
    return high === undefined ? status === low : status >= low! && status <= high;
  });
}
