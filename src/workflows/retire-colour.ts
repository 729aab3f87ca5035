import { proxyLocalActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { CloudFormationActivities } from '../activities/cloudformation';
import type { FleetActivities } from '../activities/fleet';
import type { ListenerRuleActivities } from '../activities/listener-rule';
import { retireColourInputSchema, retireColourProgressQuery, type RetireColourInput, type RetireColourProgress } from '../shared/messages/release';
import { parseOrFail } from '../shared/validation';
import { activitiesFor, fleetCall } from './activity-options';
import { tenantRuntime } from './runtime';
import { trafficStackNameFor } from './tenant-footprint';
import { withTenantLock } from './with-tenant-lock';

const fleetLocal = proxyLocalActivities<FleetActivities>(fleetCall);
const cfn = activitiesFor<CloudFormationActivities>();
const rules = activitiesFor<ListenerRuleActivities>();

/**
 * After a blue/green release, the formerly live colour stays warm for `retainMs` (an instant switch
 * back), then is scaled to 0. Its own workflow (ID `tenant/<id>/retire/<releaseId>`, started by
 * the tenant's release child with ParentClosePolicy ABANDON), so the durable timer outlives the
 * child and any continue-as-new of the release; its `retireProgress` query shows the deadline.
 * By then a later release may have deployed into the colour or switched back to it: it is scaled
 * down only if it still takes no traffic and still runs the version it was retained with.
 */
export async function retireColour(rawInput: RetireColourInput): Promise<RetireColourProgress> {
  const input = parseOrFail(retireColourInputSchema, rawInput, 'retireColour input');
  const until = new Date(workflowInfo().startTime.getTime() + input.retainMs).toISOString();
  let progress: RetireColourProgress = { tenantId: input.tenantId, colour: input.colour, version: input.version, state: 'retained', until };
  setHandler(retireColourProgressQuery, () => progress);
  await sleep(input.retainMs);

  progress = { ...progress, state: 'retiring' };
  return withTenantLock(input.tenantId, { operation: `retire ${input.colour} (${input.version}) after release ${input.releaseId}`, wait: true, timeout: '1 day' }, async () => {
    const tenant = await fleetLocal.loadTenantSpec({ tenantId: input.tenantId });
    const keep = (reason: string) => (progress = { ...progress, state: 'kept', reason });
    const lb = tenant.loadBalancer;
    const outputs = lb ? await cfn.getStackOutputs({ target: lb.aws, stackName: trafficStackNameFor(tenant.id) }) : undefined;
    if (!lb || !outputs?.ListenerRuleArn || !outputs.TargetGroupArn || !outputs.GreenTargetGroupArn) return keep('the tenant has no blue/green traffic stack any more');
    const weights = await rules.readTrafficWeights({ target: lb.aws, ruleArn: outputs.ListenerRuleArn, targetGroups: { blue: outputs.TargetGroupArn, green: outputs.GreenTargetGroupArn } });
    if (!weights.forwards || weights[input.colour] > 0) return keep(`${input.colour} takes ${weights[input.colour]} % of the traffic again`);
    const runtime = tenantRuntime(tenant);
    const colours = await runtime.colours.read();
    if (colours[input.colour].version !== input.version) return keep(`${input.colour} runs ${colours[input.colour].version ?? 'nothing'} now, not ${input.version}`);
    await runtime.colours.retire(input.colour);
    return (progress = { ...progress, state: 'retired' });
  });
}
