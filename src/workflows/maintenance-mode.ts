import { CancellationScope, sleep } from '@temporalio/workflow';
import type { CloudFormationActivities } from '../activities/cloudformation';
import type { ListenerRuleActivities } from '../activities/listener-rule';
import type { MaintenanceMode, ReleaseTenantResult, ReleaseTenantStep } from '../shared/messages/release';
import { isMaintenancePage, maintenancePageActions, type RuleAction } from '../shared/release/listener-rule-actions';
import type { AwsTarget, TenantSpec } from '../shared/tenant-spec';
import { activitiesFor } from './activity-options';
import { messageOf } from './steps';
import { trafficStackNameFor } from './tenant-footprint';

const cfn = activitiesFor<CloudFormationActivities>();
const rules = activitiesFor<ListenerRuleActivities>();
/** Giving traffic back is retried for an hour, not ten minutes: a tenant left on its maintenance page is down. */
const restoreRules = activitiesFor<ListenerRuleActivities>({ scheduleToCloseTimeout: '1 hour' });

/** ALB's default deregistration delay, for specs recorded before tenants had `service`. */
const DEFAULT_DRAIN_MS = 30_000;

interface Hold {
  target: AwsTarget;
  ruleArn: string;
  /** The rule's actions before the page, exactly as read (a forward, possibly weighted). */
  previous: RuleAction[];
  note?: string;
}

/**
 * A release's maintenance mode for one tenant (docs/releases.md, "Maintenance mode"): `begin` reads
 * the tenant's listener rule, then makes it answer with the maintenance page and waits for the
 * requests in flight to drain; `end` puts the rule's previous actions back exactly. `around` wraps
 * the tenant's whole deploy, so traffic returns whatever happens in it (a failure, a rollback, a
 * cancellation), in a scope nothing can cancel, as a rollback runs.
 *
 * Every step is safe to repeat: the actions before the page are read by an activity of their own
 * and recorded in the history before the rule changes, so a worker killed in maintenance leaves a
 * history from which the resumed workflow restores the same actions (ModifyRule to exact actions,
 * never relative). Without maintenance mode in the input it issues no command.
 */
export class TenantMaintenance {
  private hold?: Hold;
  private pageFrom?: string;
  private trafficBack?: string;
  private restoreFailed?: string;

  constructor(
    private readonly mode: MaintenanceMode | undefined,
    private readonly step: (name: ReleaseTenantStep, detail?: string) => void,
  ) {}

  get asked(): boolean {
    return this.mode !== undefined;
  }

  /** Puts the tenant in maintenance; a reason when it cannot (nothing changed then). */
  async begin(tenant: TenantSpec): Promise<string | undefined> {
    if (!this.mode) return undefined;
    const lb = tenant.loadBalancer;
    if (!lb) return `maintenance mode: tenant ${tenant.id} has no load balancer, so no listener rule can answer with the maintenance page`;
    this.step('maintenance', 'reading the listener rule');
    const outputs = (await cfn.getStackOutputs({ target: lb.aws, stackName: trafficStackNameFor(tenant.id) })) ?? {};
    const ruleArn = outputs.ListenerRuleArn;
    if (!ruleArn) return `maintenance mode: tenant ${tenant.id} has no listener rule (stack ${trafficStackNameFor(tenant.id)} has no ListenerRuleArn output): provision it first`;
    const { actions } = await rules.readListenerRule({ target: lb.aws, ruleArn });
    let previous = actions;
    let note: string | undefined;
    if (isMaintenancePage(actions)) {
      // Only a run stopped without its cleanup (terminated) leaves the page: traffic goes back where the traffic stack sends it.
      if (!outputs.TargetGroupArn) return `maintenance mode: listener rule ${ruleArn} already answers with the maintenance page and stack ${trafficStackNameFor(tenant.id)} names no target group to send traffic back to`;
      previous = [{ Type: 'forward', Order: 1, TargetGroupArn: outputs.TargetGroupArn }];
      note = 'the rule already answered with the maintenance page (an earlier run stopped in maintenance); traffic returns to the traffic stack target group';
    }
    // Known (in the history) before the rule changes: from here on, `end` restores it.
    this.hold = { target: lb.aws, ruleArn, previous, ...(note ? { note } : {}) };
    await rules.setListenerRuleActions({ target: lb.aws, ruleArn, actions: maintenancePageActions() });
    this.pageFrom = new Date().toISOString();
    // The rule sends no new request to the targets; those in flight get what ALB gives a
    // deregistered target to finish: the deregistration delay (docs/releases.md explains the choice).
    const drainMs = this.mode.drainMs ?? (tenant.service ? tenant.service.deregistrationDelaySeconds * 1000 : DEFAULT_DRAIN_MS);
    this.step('maintenance', `answering with the maintenance page; draining requests in flight for ${drainMs / 1000} s`);
    if (drainMs > 0) await sleep(drainMs);
    return undefined;
  }

  /** Traffic back to the rule's previous actions; once, never interrupted, a no-op when not in maintenance. */
  async end(): Promise<void> {
    const hold = this.hold;
    if (!hold || this.trafficBack || this.restoreFailed) return;
    await CancellationScope.nonCancellable(async () => {
      this.step('traffic', 'restoring the listener rule');
      try {
        await restoreRules.setListenerRuleActions({ target: hold.target, ruleArn: hold.ruleArn, actions: hold.previous });
        this.trafficBack = new Date().toISOString();
      } catch (error) {
        this.restoreFailed = messageOf(error);
      }
    });
  }

  /** Runs the tenant's deploy; traffic returns when it ends, however it ends. */
  async around(deploy: () => Promise<ReleaseTenantResult>): Promise<ReleaseTenantResult> {
    if (!this.mode) return deploy();
    let result: ReleaseTenantResult;
    try {
      result = await deploy();
    } finally {
      await this.end();
    }
    return this.annotate(result);
  }

  private annotate(result: ReleaseTenantResult): ReleaseTenantResult {
    if (!this.hold || !this.pageFrom) return result;
    const maintenance = { pageFrom: this.pageFrom, ...(this.trafficBack ? { trafficBack: this.trafficBack } : {}), ...(this.hold.note ? { note: this.hold.note } : {}) };
    if (!this.restoreFailed) return { ...result, maintenance };
    // Down for users until someone acts: counted as a failure, with what to put back.
    const stuck = `listener rule ${this.hold.ruleArn} still answers with the maintenance page (${this.restoreFailed}); put back its actions: ${JSON.stringify(this.hold.previous)}`;
    return { ...result, status: 'rollback-failed', reason: result.reason ? `${result.reason}; ${stuck}` : stuck, maintenance };
  }
}
