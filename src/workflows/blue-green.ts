import { CancellationScope, condition, isCancellation, ParentClosePolicy, setHandler, sleep, startChild } from '@temporalio/workflow';
import type { CloudFormationActivities } from '../activities/cloudformation';
import type { ListenerRuleActivities } from '../activities/listener-rule';
import type { Colour, TrafficWeights } from '../activities/runtime/types';
import type { SsmActivities } from '../activities/ssm';
import type { HealthActivities } from '../activities/verify-health';
import { workflowIds } from '../shared/ids';
import {
  approveStepUpdate,
  type BlueGreenStrategy,
  type ColourProgress,
  type ReleaseTenantInput,
  type ReleaseTenantResult,
  type ReleaseTenantStep,
} from '../shared/messages/release';
import type { WatchSpec } from '../shared/release/bake-watch';
import type { TenantSpec } from '../shared/tenant-spec';
import { ErrorType, permanentFailure } from '../shared/errors';
import { activitiesFor } from './activity-options';
import { retireColour } from './retire-colour';
import type { TenantRuntime } from './runtime';
import { messageOf } from './steps';
import { trafficStackNameFor } from './tenant-footprint';

const cfn = activitiesFor<CloudFormationActivities>();
const rules = activitiesFor<ListenerRuleActivities>();
const ssm = activitiesFor<SsmActivities>();
/** A step's verification reads what its colour's group counted during the bake: one look, a few minutes at most. */
const health = activitiesFor<HealthActivities>({ startToCloseTimeout: '5 minutes', scheduleToCloseTimeout: '15 minutes' });

const otherColour = (colour: Colour): Colour => (colour === 'blue' ? 'green' : 'blue');
/** All of the traffic on `colour`. */
export const allOn = (colour: Colour): TrafficWeights => ({ blue: colour === 'blue' ? 100 : 0, green: colour === 'green' ? 100 : 0 });
/** `weight` percent on `to`, the rest on the other colour. */
export const shareOn = (to: Colour, weight: number): TrafficWeights => (to === 'blue' ? { blue: weight, green: 100 - weight } : { blue: 100 - weight, green: weight });

/** What the tenant's traffic stack gives blue/green (infra/cloudformation/tenant-traffic.yaml, BlueGreen). */
export interface TrafficSlots {
  target: TenantSpec['aws'];
  ruleArn: string;
  testRuleArn: string;
  groups: Record<Colour, string>;
  groupFullNames: Record<Colour, string>;
  alarms: Record<Colour, string[]>;
  loadBalancerFullName: string;
}

/**
 * A colour judged by its own target group's metrics and alarms since `sinceMs`, never by the
 * tenant's totals, which mix in the other colour's requests.
 */
export function verifyColour(tenantId: string, tenant: TenantSpec, slots: TrafficSlots, colour: Colour, sinceMs: number) {
  return health.verifyTenantHealth({
    tenantId,
    target: tenant.aws,
    alarmNames: [],
    windowMs: 0,
    readMetrics: true,
    sinceMs,
    loadBalancer: { target: slots.target, alarmNames: slots.alarms[colour], loadBalancerFullName: slots.loadBalancerFullName, targetGroupFullName: slots.groupFullNames[colour] },
  });
}

export async function trafficSlotsOf(tenant: TenantSpec): Promise<TrafficSlots | string> {
  const lb = tenant.loadBalancer;
  if (!lb) return `tenant ${tenant.id} has no load balancer: blue/green needs one`;
  const o = (await cfn.getStackOutputs({ target: lb.aws, stackName: trafficStackNameFor(tenant.id) })) ?? {};
  if (!o.ListenerRuleArn || !o.TargetGroupArn || !o.GreenTargetGroupArn || !o.TestListenerRuleArn || !o.TargetGroupFullName || !o.GreenTargetGroupFullName || !o.LoadBalancerFullName) {
    return `tenant ${tenant.id}'s traffic stack ${trafficStackNameFor(tenant.id)} has no green slot: provision the tenant again now that its load balancer has a testListenerArn`;
  }
  return {
    target: lb.aws,
    ruleArn: o.ListenerRuleArn,
    testRuleArn: o.TestListenerRuleArn,
    groups: { blue: o.TargetGroupArn, green: o.GreenTargetGroupArn },
    groupFullNames: { blue: o.TargetGroupFullName, green: o.GreenTargetGroupFullName },
    alarms: {
      blue: [o.TargetErrorsAlarmName, o.UnhealthyHostsAlarmName].filter((n): n is string => !!n),
      green: [o.GreenTargetErrorsAlarmName, o.GreenUnhealthyHostsAlarmName].filter((n): n is string => !!n),
    },
    loadBalancerFullName: o.LoadBalancerFullName,
  };
}

export interface BlueGreenContext {
  input: ReleaseTenantInput & { strategy: BlueGreenStrategy };
  tenant: TenantSpec;
  runtime: TenantRuntime;
  snapshot?: string;
  /** The tenant's progress (its query): the step, and the colours beside it. */
  step: (name: ReleaseTenantStep, detail?: string, colours?: ColourProgress) => void;
  /** Cancelled by the release's stop signal (an abort with rollback). */
  scope: CancellationScope;
  stopReason: () => string | undefined;
}

/**
 * A tenant's blue/green deploy (docs/releases.md, "Blue/green"): the new version goes into the idle
 * colour beside the live one, is reached through the test route, then takes the traffic in the
 * plan's steps, each baked by a durable timer and verified on the colour's own target group. Any
 * failure, stop or cancellation puts 100 % back on the live colour first, then scales the new one
 * to 0. On success the formerly live colour is retained by its own workflow (retire-colour.ts).
 */
export async function blueGreenDeploy(ctx: BlueGreenContext): Promise<ReleaseTenantResult> {
  const { input, tenant, runtime, snapshot, step } = ctx;
  const { tenantId, version, strategy } = input;
  const slots = await trafficSlotsOf(tenant);
  if (typeof slots === 'string') return { tenantId, status: 'skipped', reason: `not deployed: ${slots}`, deployed: false, ...(snapshot ? { snapshot } : {}) };
  const [weights, colours] = await Promise.all([rules.readTrafficWeights({ target: slots.target, ruleArn: slots.ruleArn, targetGroups: slots.groups }), runtime.colours.read()]);
  // The live colour takes the most traffic; a mix (a run that stopped half-way) is corrected to it first.
  const from: Colour = weights.green > weights.blue ? 'green' : 'blue';
  const to = otherColour(from);
  const previousVersion = colours[from].version ?? 'unknown';
  if (previousVersion === version && weights[from] === 100) return { tenantId, status: 'succeeded', reason: `already on ${version}`, previousVersion, deployed: false };
  let progress: ColourProgress = { from, to, weights: { blue: weights.blue, green: weights.green } };
  const report = (name: ReleaseTenantStep, detail?: string, change: Partial<ColourProgress> = {}) => {
    progress = { ...progress, ...change };
    step(name, detail, progress);
  };
  const setWeights = async (ruleArn: string, w: TrafficWeights) => {
    await rules.setTrafficWeights({ target: slots.target, ruleArn, targetGroups: slots.groups, weights: w });
    if (ruleArn === slots.ruleArn) progress = { ...progress, weights: w };
  };

  let approvals = 0;
  let waitingForApproval = false;
  setHandler(
    approveStepUpdate,
    (_approval: { by: string; comment?: string }) => {
      approvals += 1;
    },
    {
      validator: (_approval: { by: string; comment?: string }) => {
        if (!waitingForApproval) throw permanentFailure(ErrorType.InvalidInput, `tenant ${tenantId} is not waiting at a blue/green step's approval (step: ${progress.step ? `${progress.step.index} of ${progress.step.of}` : 'none'})`);
      },
    },
  );

  let failure: string | undefined;
  let watch: WatchSpec | undefined;
  try {
    await ctx.scope.run(async () => {
      if (weights.forwards && (weights[from] !== 100 || weights[to] !== 0)) {
        report('shift', `all traffic back on ${from} before the deploy`);
        await setWeights(slots.ruleArn, allOn(from));
      }
      report('deploy', `${previousVersion} on ${from} → ${version} on ${to}`);
      const rollout = await runtime.colours.deploy(to, version, slots.groups[to]);
      if (!rollout.ready) {
        failure = `${to} with ${version} did not become ready: ${rollout.failureReason ?? 'not ready'}`;
        return;
      }
      // Before any user does, the hostnames reach the new colour on the load balancer's test listener.
      report('test-route', `test listener → ${to}`);
      await setWeights(slots.testRuleArn, allOn(to));
      const of = strategy.steps.length;
      for (const [i, s] of strategy.steps.entries()) {
        const at = { step: { index: i + 1, of } };
        if (s.approval) {
          report('approval', `waiting for approval before ${s.weight} % on ${to}`, at);
          waitingForApproval = true;
          const before = approvals;
          await condition(() => approvals > before);
          waitingForApproval = false;
        }
        report('shift', `${s.weight} % on ${to}`, at);
        await setWeights(slots.ruleArn, shareOn(to, s.weight));
        const since = Date.now();
        report('bake', `${s.weight} % on ${to} for ${Math.round(s.bakeMs / 1000)} s`, at);
        if (s.bakeMs > 0) await sleep(s.bakeMs);
        report('verify', `${to}'s own target group at ${s.weight} %`, at);
        const verdict = await verifyColour(tenantId, tenant, slots, to, since);
        if (!verdict.healthy) {
          failure = `verification of ${to} at ${s.weight} % failed: ${verdict.reason ?? 'unhealthy'}`;
          return;
        }
      }
      watch = { target: tenant.aws, alarmNames: [], loadBalancer: { target: slots.target, alarmNames: slots.alarms[to] } };
    });
  } catch (error) {
    if (isCancellation(error) && ctx.stopReason() === undefined) {
      // The workflow itself was cancelled (the release terminated): back on the live colour, then stop.
      await switchBack('release cancelled');
      throw error;
    }
    failure = ctx.stopReason() !== undefined ? `stopped: ${ctx.stopReason()}` : `deploy failed: ${messageOf(error)}`;
  }
  if (failure !== undefined) return { ...(await switchBack(failure)), previousVersion, deployed: true, ...(snapshot ? { snapshot } : {}) };

  // The new colour is live: record it, and retain the old one by a timer that outlives this workflow.
  report('record', `${version} live on ${to}`);
  await ssm.putTenantParameters({ target: tenant.aws, tenantId, parameters: { 'workload/version': version } });
  const retireId = workflowIds.retireColour(tenantId, input.releaseId);
  await startChild(retireColour, {
    workflowId: retireId,
    args: [{ tenantId, releaseId: input.releaseId, colour: from, version: previousVersion, retainMs: strategy.blueRetentionMs }],
    parentClosePolicy: ParentClosePolicy.ABANDON,
    staticSummary: `retire ${from} (${previousVersion}) of ${tenantId} after ${Math.round(strategy.blueRetentionMs / 1000)} s`,
  });
  const until = new Date(Date.now() + strategy.blueRetentionMs).toISOString();
  report('done', `${version} on ${to}; ${from} retained until ${until}`, { retained: { colour: from, until, workflowId: retireId } });
  return { tenantId, status: 'succeeded', previousVersion, deployed: true, ...(snapshot ? { snapshot } : {}), ...(watch ? { watch } : {}) };

  /** 100 % back on the live colour FIRST, then the new one to 0; never interrupted. */
  function switchBack(why: string): Promise<Pick<ReleaseTenantResult, 'tenantId' | 'status' | 'reason'>> {
    return CancellationScope.nonCancellable(async () => {
      const s = slots as TrafficSlots;
      report('rollback', `100 % back on ${from}: ${why}`);
      try {
        await setWeights(s.ruleArn, allOn(from));
        await runtime.colours.retire(to);
        report('rollback', `on ${from}, ${to} scaled to 0: ${why}`);
        return { tenantId, status: 'rolled-back', reason: why } as const;
      } catch (error) {
        return { tenantId, status: 'rollback-failed', reason: `${why}; switching back to ${from} failed: ${messageOf(error)}` } as const;
      }
    });
  }
}

/**
 * A blue/green tenant's revert or rollback (after an abort with rollback, or a regression in the
 * wave's bake): the colour that ran the version before this release takes all the traffic again,
 * scaled back up first if its retention already ended, and the release's colour goes to 0.
 */
export async function blueGreenRevert(ctx: Omit<BlueGreenContext, 'scope' | 'stopReason'>): Promise<ReleaseTenantResult> {
  const { input, tenant, runtime, step } = ctx;
  const { tenantId } = input;
  const slots = await trafficSlotsOf(tenant);
  if (typeof slots === 'string') return { tenantId, status: 'skipped', reason: slots, deployed: false };
  const [weights, colours] = await Promise.all([rules.readTrafficWeights({ target: slots.target, ruleArn: slots.ruleArn, targetGroups: slots.groups }), runtime.colours.read()]);
  const live: Colour = weights.green > weights.blue ? 'green' : 'blue';
  const back = otherColour(live);
  const target = input.revertTo ?? colours[back].version;
  if (!target) return { tenantId, status: 'skipped', reason: `${back} runs nothing to go back to`, deployed: false };
  if (colours[live].version === target && weights[live] === 100) return { tenantId, status: 'rolled-back', reason: `already on ${target}`, previousVersion: target, deployed: false };
  if (colours[live].version !== input.version) return { tenantId, status: 'skipped', reason: `runs ${colours[live].version ?? 'nothing'}, not ${input.version}`, previousVersion: target, deployed: false };
  const why = input.mode === 'revert' ? 'release aborted' : (input.reason ?? 'regressed during the bake');
  const colourProgress = (w: TrafficWeights): ColourProgress => ({ from: live, to: back, weights: w });
  return CancellationScope.nonCancellable(async () => {
    try {
      if (colours[back].version !== target || colours[back].readyReplicas < tenant.replicas) {
        step('deploy', `${target} on ${back} again: ${why}`, colourProgress(weights));
        const rollout = await runtime.colours.deploy(back, target, slots.groups[back]);
        if (!rollout.ready) return { tenantId, status: 'rollback-failed', reason: `${why}; ${back} with ${target} did not become ready: ${rollout.failureReason ?? 'not ready'}`, previousVersion: target, deployed: true };
      }
      step('rollback', `100 % back on ${back}: ${why}`, colourProgress(weights));
      await rules.setTrafficWeights({ target: slots.target, ruleArn: slots.ruleArn, targetGroups: slots.groups, weights: allOn(back) });
      await runtime.colours.retire(live);
      await ssm.putTenantParameters({ target: tenant.aws, tenantId, parameters: { 'workload/version': target } });
      step('rollback', `on ${back} (${target}), ${live} scaled to 0: ${why}`, colourProgress(allOn(back)));
      return { tenantId, status: 'rolled-back', reason: why, previousVersion: target, deployed: true };
    } catch (error) {
      return { tenantId, status: 'rollback-failed', reason: `${why}; switching back to ${back} failed: ${messageOf(error)}`, previousVersion: target, deployed: true };
    }
  });
}
