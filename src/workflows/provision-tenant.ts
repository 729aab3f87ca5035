import { CancellationScope, patched, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { CloudFormationActivities } from '../activities/cloudformation';
import type { Elbv2Activities } from '../activities/elbv2';
import type { ListenerRuleActivities } from '../activities/listener-rule';
import type { Route53Activities } from '../activities/route53';
import type { SsmActivities } from '../activities/ssm';
import type { TemporalActivities } from '../activities/temporal';
import { ErrorType, permanentFailure } from '../shared/errors';
import { stackNameFor } from '../shared/ids';
import { reconcileForTenant } from '../shared/messages/certificates';
import {
  provisionTenantInputSchema,
  tenantProgressQuery,
  type ProvisionTenantInput,
  type ProvisionTenantResult,
} from '../shared/messages/provisioning';
import { EnvironmentKey, TenantIdKey } from '../shared/search-attributes';
import { activitiesFor } from './activity-options';
import { tenantRuntime } from './runtime';
import { StepTracker, failedStepOf, failureTypeOf, messageOf } from './steps';
import {
  dnsRecordsFor,
  stackParametersFor,
  stackTagsFor,
  BLUE_GREEN_TRAFFIC_PATCH,
  TRAFFIC_STACK_PATCH,
  trafficStackNameFor,
  trafficStackParametersFor,
  WORKLOAD_GROUP_PATCH,
  workloadSpecFor,
} from './tenant-footprint';
import { parseOrFail } from '../shared/validation';
import { notifyingFailure } from './notify';
import { withTenantLock } from './with-tenant-lock';

const cfn = activitiesFor<CloudFormationActivities>();
const ssm = activitiesFor<SsmActivities>();
const dns = activitiesFor<Route53Activities>();
const temporal = activitiesFor<TemporalActivities>();
const elb = activitiesFor<Elbv2Activities>();
const listenerRule = activitiesFor<ListenerRuleActivities>();

/**
 * Re-provisioning a running tenant keeps what its last release set (docs/releases.md, "Release
 * manifests"): the recorded target's images and variables, when it names the version the tenant
 * runs. Runs before it applied each service's repository at the version.
 */
export const PROVISION_KEEPS_RELEASE_PATCH = 'provision-keeps-release';

const STEPS = ['lock', 'traffic', 'stack', 'parameters', 'workload', 'dns', 'certificates'];

/**
 * Creates or updates a tenant's footprint: stack, parameters, workload, DNS. A failed fresh
 * provisioning is compensated in reverse (unless asked to keep it); a failed update of an
 * existing tenant never deletes anything.
 */
export async function provisionTenant(rawInput: ProvisionTenantInput): Promise<ProvisionTenantResult> {
  const input = parseOrFail(provisionTenantInputSchema, rawInput, 'provisionTenant input');
  const { tenant } = input;
  const steps = new StepTracker(tenant.id, 'provision', STEPS);
  setHandler(tenantProgressQuery, () => steps.progress);
  upsertSearchAttributes([
    { key: TenantIdKey, value: tenant.id },
    { key: EnvironmentKey, value: tenant.environment },
  ]);

  const stackName = stackNameFor(tenant.id);
  const runtime = tenantRuntime(tenant);
  steps.setPhase('waiting-for-lock');

  return notifyingFailure('provisioning-failed', tenant, () => withTenantLock(tenant.id, { operation: 'provision', wait: true, timeout: '30 minutes' }, async () => {
    steps.skip('lock', 'held');
    const existingOutputs = await cfn.getStackOutputs({ target: tenant.aws, stackName });
    const fresh = existingOutputs === undefined;
    steps.progress.fresh = fresh;
    let result: ProvisionTenantResult;
    try {
      const lb = tenant.loadBalancer;
      const deployTraffic = async (): Promise<Record<string, string>> => {
        if (!lb || !patched(TRAFFIC_STACK_PATCH)) {
          steps.skip('traffic', lb ? 'provisioned before tenants had traffic stacks' : 'no load balancer');
          return {};
        }
        const trafficStack = trafficStackNameFor(tenant.id);
        return steps.run(
          'traffic',
          async () => {
            const existing = await cfn.getStackOutputs({ target: lb.aws, stackName: trafficStack });
            // Once a stack holds a priority it keeps it: re-provisioning never moves a tenant's rule.
            const priority = existing?.RulePriority
              ? Number(existing.RulePriority)
              : (await elb.allocateRulePriority({ target: lb.aws, listenerArn: lb.listenerArn, tenantId: tenant.id, hostnames: tenant.hostnames })).priority;
            if (!lb.testListenerArn && existing?.GreenTargetGroupArn) {
              // Without it the update would delete the green slot, maybe the live one.
              throw permanentFailure(
                ErrorType.InvalidInput,
                `tenant ${tenant.id}: its traffic stack has a green slot but load balancer ${lb.name} has no testListenerArn in the fleet config; put it back (blue/green tenants keep both slots)`,
              );
            }
            // A stack update passes the rule's current weights: provisioning never moves traffic (docs/releases.md, "Blue/green").
            const weights =
              lb.testListenerArn && existing?.ListenerRuleArn && existing.TargetGroupArn && patched(BLUE_GREEN_TRAFFIC_PATCH)
                ? await listenerRule.readTrafficWeights({
                    target: lb.aws,
                    ruleArn: existing.ListenerRuleArn,
                    targetGroups: { blue: existing.TargetGroupArn, green: existing.GreenTargetGroupArn ?? '' },
                  })
                : undefined;
            await cfn.deployStack({
              target: lb.aws,
              stackName: trafficStack,
              template: 'tenant-traffic',
              parameters: trafficStackParametersFor(tenant, lb, priority, weights?.forwards ? weights : undefined),
              tags: stackTagsFor(tenant),
            });
            if (fresh) steps.onCompensate('traffic', () => cfn.deleteStack({ target: lb.aws, stackName: trafficStack }));
            return (await cfn.waitForStack({ target: lb.aws, stackName: trafficStack })).outputs;
          },
          (outputs) => `${trafficStack}: rule priority ${outputs.RulePriority}`,
        );
      };

      // The traffic stack makes the workload security group the tenant stack's database admits, and
      // needs nothing from the tenant stack: it goes first (compensated last).
      const trafficFirst = patched(WORKLOAD_GROUP_PATCH);
      let traffic: Record<string, string> = trafficFirst ? await deployTraffic() : {};

      const deployed = await steps.run(
        'stack',
        async () => {
          const result = await cfn.deployStack({
            target: tenant.aws,
            stackName,
            template: 'tenant',
            parameters: stackParametersFor(tenant, {}, traffic),
            tags: stackTagsFor(tenant),
          });
          if (fresh) steps.onCompensate('stack', () => cfn.deleteStack({ target: tenant.aws, stackName }));
          const state = await cfn.waitForStack({ target: tenant.aws, stackName });
          return { operation: result.operation, outputs: state.outputs };
        },
        (r) => `${stackName}: ${r.operation}`,
      );

      if (!trafficFirst) traffic = await deployTraffic();

      const current = await runtime.current();
      const version = current?.version ?? input.initialVersion;
      const record = current && !fresh && patched(PROVISION_KEEPS_RELEASE_PATCH) ? await ssm.readReleaseRecord({ target: tenant.aws, tenantId: tenant.id }) : undefined;
      const release = record?.release?.version === version ? record.release : undefined;
      await steps.run(
        'parameters',
        async () => {
          const parameters = { 'workload/version': version, 'workload/runtime': tenant.runtime.kind, hostnames: tenant.hostnames.join(',') };
          if (fresh) steps.onCompensate('parameters', () => ssm.deleteTenantParameters({ target: tenant.aws, tenantId: tenant.id, names: Object.keys(parameters) }));
          return ssm.putTenantParameters({ target: tenant.aws, tenantId: tenant.id, parameters });
        },
        (r) => `${r.written.length} written, ${r.unchanged.length} unchanged`,
      );

      await steps.run(
        'workload',
        async () => {
          if (fresh) steps.onCompensate('workload', () => runtime.remove());
          const applied = await runtime.apply(workloadSpecFor(tenant, { version, stackOutputs: deployed.outputs, trafficOutputs: traffic, ...(release ? { release } : {}) }));
          const rollout = await runtime.waitForRollout();
          if (!rollout.ready) {
            throw permanentFailure(ErrorType.RolloutFailed, `workload of tenant ${tenant.id} (${tenant.runtime.kind} ${tenant.runtime.cluster}) did not become ready: ${rollout.failureReason ?? 'unknown reason'}`);
          }
          return applied;
        },
        (r) => (r.changed ? `applied ${r.revision}` : 'unchanged'),
      );

      const records = dnsRecordsFor(tenant);
      let dnsChanged: string[] = [];
      if (records) {
        dnsChanged = await steps.run('dns', async () => {
          if (fresh) steps.onCompensate('dns', () => dns.deleteDnsRecords(records));
          return (await dns.upsertDnsRecords(records)).changed;
        });
      } else {
        steps.skip('dns', 'no load balancer or hosted zone configured');
      }

      result = { tenantId: tenant.id, fresh, stackOperation: deployed.operation, version, outputs: deployed.outputs, dnsChanged };
    } catch (error) {
      throw await failProvisioning(error, { fresh, keep: input.keepPartialOnFailure, steps, tenantId: tenant.id });
    }
    // Last, and outside the compensation above: the footprint is complete whatever happens here.
    const certificates = reconcileForTenant(tenant, false);
    if (certificates) {
      await steps.run('certificates', () => temporal.signalCertificates(certificates), (r) => `reconcile sent to ${r.workflowId}`);
    } else {
      steps.skip('certificates', 'no load balancer');
    }
    steps.setPhase('done');
    return result;
  }));
}

async function failProvisioning(
  error: unknown,
  { fresh, keep, steps, tenantId }: { fresh: boolean; keep: boolean; steps: StepTracker; tenantId: string },
): Promise<Error> {
  const step = failedStepOf(error) ?? steps.progress.phase;
  const cause = failedStepOf(error) !== undefined ? (error as Error).cause : error;
  let outcome: string;
  if (!fresh) {
    outcome = 'existing tenant: nothing was deleted';
  } else if (keep) {
    outcome = 'partial footprint kept for debugging (keepPartialOnFailure)';
  } else {
    const problems = await CancellationScope.nonCancellable(() => steps.compensate());
    outcome = problems.length === 0 ? 'everything created was removed' : `compensation incomplete: ${problems.join('; ')}`;
  }
  steps.progress.error = `${step}: ${messageOf(cause)}`;
  steps.setPhase('failed');
  return permanentFailure(failureTypeOf(cause), `provisioning tenant ${tenantId} failed at step "${step}": ${messageOf(cause)} (${outcome})`, {
    cause,
    details: [{ step, outcome }],
  });
}
