import type { AwsClients } from '../activities/aws/clients';
import { withAwsFailures } from '../activities/aws/errors';
import { createCloudFormationActivities, type StackPreview } from '../activities/cloudformation';
import { createEcsActivities } from '../activities/runtime/ecs';
import type { KubernetesRuntime } from '../activities/runtime/kubernetes';
import type { WorkloadPreview, WorkloadSpec } from '../activities/runtime/types';
import type { TemplateStore } from '../activities/templates';
import { stackNameFor } from '../shared/ids';
import { provisionTenantInputSchema } from '../shared/messages/provisioning';
import type { TenantSpec } from '../shared/tenant-spec';
import { stackParametersFor, stackTagsFor, trafficStackNameFor, trafficStackParametersFor, workloadSpecFor } from '../workflows/tenant-footprint';

/*
 * `tenantctl tenant diff`: what provisioning the tenant again with the current fleet config and
 * templates would change, found without changing anything. It calls the activities provisioning
 * uses (their preview operations) over the same cross-account clients, with the inputs the
 * provisioning workflow would give them (workflows/tenant-footprint.ts).
 */

/**
 * How the Kubernetes side is previewed (through the cluster's worker: client/kubernetes-inspect.ts):
 * `workload` at the initial version; the answer names the version the workload keeps.
 */
export type KubernetesPreviewer = (runtime: KubernetesRuntime, workload: WorkloadSpec) => Promise<{ version: string; preview: WorkloadPreview }>;

export interface TenantDiff {
  tenantId: string;
  stacks: StackPreview[];
  /** Undefined with `workloadSkipped` when it cannot be previewed (no Kubernetes access, no stack yet). */
  workload?: WorkloadPreview;
  workloadSkipped?: string;
  /** The version the workload would run: its current one (provisioning keeps it), or the initial version. */
  version: string;
  /** True when anything would change. */
  changes: boolean;
}

/** A rule priority for a traffic stack that does not exist yet: such a stack is listed from its template, never given a change set. */
const UNALLOCATED_PRIORITY = 1;

export async function tenantDiff({
  aws,
  templates,
  tenant,
  kubernetes,
}: {
  aws: AwsClients;
  templates: TemplateStore;
  tenant: TenantSpec;
  kubernetes?: KubernetesPreviewer;
}): Promise<TenantDiff> {
  const cfn = withAwsFailures(createCloudFormationActivities({ aws, templates }));
  const stackName = stackNameFor(tenant.id);
  const stacks: StackPreview[] = [];
  const lb = tenant.loadBalancer;
  const trafficStack = trafficStackNameFor(tenant.id);
  // Provisioning passes the traffic stack's workload security group to the tenant stack.
  const trafficOutputs = lb ? ((await cfn.getStackOutputs({ target: lb.aws, stackName: trafficStack })) ?? {}) : {};
  const tenantStack = await cfn.previewStack({ target: tenant.aws, stackName, template: 'tenant', parameters: stackParametersFor(tenant, {}, trafficOutputs), tags: stackTagsFor(tenant) });
  stacks.push(tenantStack);

  if (lb) {
    // Provisioning keeps the rule priority the stack already holds.
    const priority = trafficOutputs.RulePriority ? Number(trafficOutputs.RulePriority) : UNALLOCATED_PRIORITY;
    stacks.push(
      await cfn.previewStack({
        target: lb.aws,
        stackName: trafficStack,
        template: 'tenant-traffic',
        parameters: trafficStackParametersFor(tenant, lb, priority),
        tags: stackTagsFor(tenant),
      }),
    );
  }

  const stackOutputs = (await cfn.getStackOutputs({ target: tenant.aws, stackName })) ?? {};
  const initialVersion = provisionTenantInputSchema.shape.initialVersion.parse(undefined);
  let workload: WorkloadPreview | undefined;
  let workloadSkipped: string | undefined;
  let version = initialVersion;
  const runtime = tenant.runtime;
  if (tenantStack.state === 'absent' || tenantStack.state === 'recreate') {
    workloadSkipped = 'the tenant stack is created first; the workload follows from its outputs';
  } else if (runtime.kind === 'ecs') {
    const ecs = withAwsFailures(createEcsActivities({ aws }));
    version = (await ecs.ecsCurrentWorkload({ runtime, tenantId: tenant.id }))?.version ?? initialVersion;
    workload = await ecs.ecsPreviewWorkload({ runtime, workload: workloadSpecFor(tenant, { version, stackOutputs, trafficOutputs }) });
  } else if (kubernetes) {
    ({ version, preview: workload } = await kubernetes(runtime, workloadSpecFor(tenant, { version, stackOutputs, trafficOutputs })));
  } else {
    workloadSkipped = `Kubernetes cluster ${runtime.cluster} is not reachable from here`;
  }
  const changes = stacks.some((s) => s.state !== 'unchanged') || (workload !== undefined && workload.state !== 'unchanged');
  return { tenantId: tenant.id, stacks, ...(workload ? { workload } : {}), ...(workloadSkipped ? { workloadSkipped } : {}), version, changes };
}
