import { patched, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { CloudFormationActivities } from '../activities/cloudformation';
import type { RdsActivities } from '../activities/rds';
import type { Route53Activities } from '../activities/route53';
import type { SsmActivities } from '../activities/ssm';
import type { TemporalActivities } from '../activities/temporal';
import { ErrorType, permanentFailure } from '../shared/errors';
import { stackNameFor } from '../shared/ids';
import { PREVIOUS_RELEASE_PARAMETER, RELEASE_PARAMETER } from '../shared/release/record';
import { reconcileForTenant } from '../shared/messages/certificates';
import {
  deprovisionTenantInputSchema,
  tenantProgressQuery,
  type DeprovisionTenantInput,
  type DeprovisionTenantResult,
} from '../shared/messages/provisioning';
import { EnvironmentKey, TenantIdKey } from '../shared/search-attributes';
import { activitiesFor } from './activity-options';
import { tenantRuntime } from './runtime';
import { StepTracker } from './steps';
import { dnsRecordsFor, TRAFFIC_STACK_PATCH, trafficStackNameFor, WORKLOAD_GROUP_PATCH } from './tenant-footprint';
import { redeployTenantStack } from './tenant-stack';
import { parseOrFail } from '../shared/validation';
import { notifyingFailure } from './notify';
import { withTenantLock } from './with-tenant-lock';

const cfn = activitiesFor<CloudFormationActivities>();
const rds = activitiesFor<RdsActivities>();
const ssm = activitiesFor<SsmActivities>();
const dns = activitiesFor<Route53Activities>();
const temporal = activitiesFor<TemporalActivities>();

const STEPS = ['lock', 'final-snapshot', 'workload', 'dns', 'deletion-protection', 'stack', 'traffic', 'parameters', 'certificates'];

/** The final snapshot's ID depends only on the tenant and this workflow's start, so retries reuse it. */
export function finalSnapshotId(tenantId: string, startTime: Date): string {
  const stamp = startTime.toISOString().replace(/[-:T]/g, '').slice(0, 12);
  return `final-${tenantId}-${stamp}`;
}

/** Final snapshot, then workload, DNS and stack; production tenants need explicit confirmation. */
export async function deprovisionTenant(rawInput: DeprovisionTenantInput): Promise<DeprovisionTenantResult> {
  const input = parseOrFail(deprovisionTenantInputSchema, rawInput, 'deprovisionTenant input');
  const { tenant } = input;
  if (tenant.production && input.confirmProduction !== tenant.id) {
    throw permanentFailure(
      ErrorType.ProductionConfirmationRequired,
      `tenant ${tenant.id} is in production environment "${tenant.environment}": set confirmProduction to "${tenant.id}" to deprovision it (got ${JSON.stringify(input.confirmProduction ?? null)})`,
    );
  }
  const steps = new StepTracker(tenant.id, 'deprovision', STEPS);
  setHandler(tenantProgressQuery, () => steps.progress);
  upsertSearchAttributes([
    { key: TenantIdKey, value: tenant.id },
    { key: EnvironmentKey, value: tenant.environment },
  ]);
  const stackName = stackNameFor(tenant.id);
  const runtime = tenantRuntime(tenant);
  steps.setPhase('waiting-for-lock');

  return notifyingFailure('deprovisioning-failed', tenant, () => withTenantLock(tenant.id, { operation: 'deprovision', wait: true, timeout: '30 minutes' }, async () => {
    steps.skip('lock', 'held');
    const outputs = await cfn.getStackOutputs({ target: tenant.aws, stackName });

    let finalSnapshot: string | undefined;
    if (outputs?.DatabaseClusterIdentifier) {
      const snapshot = await steps.run(
        'final-snapshot',
        () =>
          rds.snapshotCluster({
            target: tenant.aws,
            clusterIdentifier: outputs.DatabaseClusterIdentifier!,
            snapshotIdentifier: finalSnapshotId(tenant.id, workflowInfo().startTime),
            tags: { TenantId: tenant.id, Reason: 'deprovision' },
          }),
        (s) => `${s.snapshotIdentifier} (${s.created ? 'created' : 'already existed'})`,
      );
      finalSnapshot = snapshot.snapshotIdentifier;
    } else {
      steps.skip('final-snapshot', 'no stack or database');
    }

    await steps.run('workload', () => runtime.remove(), (r) => (r.deleted ? 'deleted' : 'already gone'));

    const records = dnsRecordsFor(tenant);
    if (records) await steps.run('dns', () => dns.deleteDnsRecords(records), (r) => `deleted ${r.deleted.length}, left ${r.skipped.length} repointed`);
    else steps.skip('dns', 'no DNS managed for this tenant');

    // After the workload (nothing registers targets any more): its rule goes, so its hostnames get the listener's 404.
    const lb = tenant.loadBalancer;
    const deleteTraffic = async () => {
      if (lb && patched(TRAFFIC_STACK_PATCH)) {
        const trafficStack = trafficStackNameFor(tenant.id);
        await steps.run('traffic', () => cfn.deleteStack({ target: lb.aws, stackName: trafficStack }), (r) => (r.deleted ? `${trafficStack} deleted` : 'no traffic stack'));
      } else {
        steps.skip('traffic', lb ? 'started before tenants had traffic stacks' : 'no load balancer');
      }
    };
    // The traffic stack's workload security group is named by the database's rule in the tenant
    // stack, and AWS refuses to delete a group another group's rule still names: that stack goes first.
    const trafficLast = patched(WORKLOAD_GROUP_PATCH);
    if (!trafficLast) await deleteTraffic();

    let stackDeleted = false;
    if (outputs) {
      if (tenant.production) {
        // The confirmation above is the human's decision; only now may the cluster lose its protection.
        await steps.run('deletion-protection', () => redeployTenantStack(tenant, { deletionProtection: false }));
      } else {
        steps.skip('deletion-protection', 'not production');
      }
      stackDeleted = (await steps.run('stack', () => cfn.deleteStack({ target: tenant.aws, stackName }))).deleted;
    } else {
      steps.skip('deletion-protection', 'no stack');
      steps.skip('stack', 'no stack');
    }
    if (trafficLast) await deleteTraffic();

    // With the stack's kept slot (docs/releases.md, "Infrastructure changes"): an input field of the same activity, no new command.
    await steps.run('parameters', () =>
      ssm.deleteTenantParameters({
        target: tenant.aws,
        tenantId: tenant.id,
        names: ['workload/version', 'workload/runtime', 'hostnames', RELEASE_PARAMETER, PREVIOUS_RELEASE_PARAMETER],
        stackBefore: stackName,
      }),
    );
    // Last: the certificates workflow retires the tenant's names (replacement attached before anything is removed).
    const certificates = reconcileForTenant(tenant, true);
    if (certificates) {
      await steps.run('certificates', () => temporal.signalCertificates(certificates), (r) => `reconcile sent to ${r.workflowId}`);
    } else {
      steps.skip('certificates', 'no load balancer');
    }
    steps.setPhase('done');
    return { tenantId: tenant.id, finalSnapshot, stackDeleted };
  }));
}
