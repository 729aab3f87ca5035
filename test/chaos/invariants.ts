import { ListCertificatesCommand, ListTagsForCertificateCommand } from '@aws-sdk/client-acm';
import { DescribeServicesCommand } from '@aws-sdk/client-ecs';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeDBClusterSnapshotsCommand } from '@aws-sdk/client-rds';
import { GetParametersByPathCommand } from '@aws-sdk/client-ssm';
import { CERTIFICATE_TAGS } from '../../src/activities/acm';
import { releaseTenants } from '../../src/client/releases';
import { preReleaseSnapshotId, stackNameFor } from '../../src/shared/ids';
import type { ReleaseSummary } from '../../src/shared/messages/release';
import { deploysOf, liveVersion } from '../sandbox/runtime-reads';
import type { ChaosWorld } from './world';

/**
 * The invariants every chaos scenario must keep, each read from the real servers (never from
 * what the product recorded about itself). Each returns the violations it found, one line
 * each, so a run can count them and print what broke.
 */

/** Every workflow matching `query` has closed (a worker crash or a server restart lost none). */
export async function workflowsFinished(world: ChaosWorld, query: string): Promise<string[]> {
  const open: string[] = [];
  for await (const wf of world.client.workflow.list({ query: `(${query}) AND ExecutionStatus = 'Running'` })) open.push(wf.workflowId);
  return open.map((id) => `workflow ${id} is still running`);
}

/** Workflows matching `query` that ended in anything but Completed. */
export async function workflowsCompleted(world: ChaosWorld, query: string): Promise<string[]> {
  const bad: string[] = [];
  for await (const wf of world.client.workflow.list({ query })) if (wf.status.name !== 'COMPLETED') bad.push(`workflow ${wf.workflowId} ended ${wf.status.name}`);
  return bad;
}

/** Stacks named after the tenant that exist (not DELETE_COMPLETE); CloudFormation names are unique, so >1 is a duplicate. */
export async function stacksOf(world: ChaosWorld, tenantId: string): Promise<number> {
  const tenant = world.tenant(tenantId);
  try {
    const { Stacks = [] } = await world.admin.cloudFormation(tenant.aws).send(new DescribeStacksCommand({ StackName: stackNameFor(tenantId) }));
    return Stacks.filter((s) => s.StackStatus !== 'DELETE_COMPLETE').length;
  } catch (error) {
    if (/does not exist/.test((error as Error).message)) return 0;
    throw error;
  }
}

/** A freshly provisioned tenant: one stack, running `version`, deployed once. */
export async function provisioned(world: ChaosWorld, tenantId: string, version: string): Promise<string[]> {
  const problems: string[] = [];
  const stacks = await stacksOf(world, tenantId);
  if (stacks !== 1) problems.push(`${tenantId}: ${stacks} stacks named ${stackNameFor(tenantId)}, expected 1`);
  const live = await liveVersion(world, tenantId);
  if (live !== version) problems.push(`${tenantId}: runs ${live ?? 'nothing'}, expected ${version}`);
  const deploys = await deploysOf(world, tenantId, version);
  if (deploys !== 1) problems.push(`${tenantId}: ${deploys} deploys of ${version}, expected exactly 1`);
  return problems;
}

/**
 * After a release: each tenant on the new version (succeeded) or back on its previous one
 * (rolled back); nobody deployed twice; at most one pre-release snapshot per tenant.
 */
export async function releaseKept(world: ChaosWorld, summary: ReleaseSummary, tenants: readonly string[]): Promise<string[]> {
  const problems: string[] = [];
  // The summary lists only the tenants that did not succeed; the release's paged progress has them all.
  await world.ensureWorker(); // a query needs a workflow worker, which a kill may have taken
  const records = await releaseTenants(world.client, summary.releaseId);
  for (const tenantId of tenants) {
    const entry = summary.tenants.find((t) => t.tenantId === tenantId) ?? records[tenantId];
    const live = await liveVersion(world, tenantId);
    if (entry?.status === 'succeeded') {
      if (live !== summary.version) problems.push(`${tenantId}: release says succeeded but it runs ${live ?? 'nothing'}, expected ${summary.version}`);
    } else if (entry?.status === 'rolled-back') {
      if (live !== entry.previousVersion) problems.push(`${tenantId}: rolled back but runs ${live ?? 'nothing'}, expected ${entry.previousVersion ?? '?'}`);
    } else {
      problems.push(`${tenantId}: ended ${entry?.status ?? 'missing from the summary'}${entry?.reason ? ` (${entry.reason})` : ''}, expected succeeded or rolled-back`);
    }
    const deploys = await deploysOf(world, tenantId, summary.version);
    if (deploys > 1) problems.push(`${tenantId}: deployed ${summary.version} ${deploys} times`);
    const snapshots = await snapshotsOf(world, summary.releaseId, tenantId);
    if (snapshots > 1) problems.push(`${tenantId}: ${snapshots} pre-release snapshots for ${summary.releaseId}`);
  }
  return problems;
}

async function snapshotsOf(world: ChaosWorld, releaseId: string, tenantId: string): Promise<number> {
  const tenant = world.tenant(tenantId);
  const wanted = preReleaseSnapshotId(releaseId, tenantId);
  const { DBClusterSnapshots = [] } = await world.admin.rds(tenant.aws).send(new DescribeDBClusterSnapshotsCommand({ SnapshotType: 'manual' }));
  return DBClusterSnapshots.filter((s) => s.DBClusterSnapshotIdentifier === wanted || s.TagList?.some((t) => t.Key === 'ReleaseId' && t.Value === releaseId) && s.TagList.some((t) => t.Key === 'TenantId' && t.Value === tenantId)).length;
}

/** A failed fresh provisioning left nothing behind: no stack, workload or parameters. */
export async function noOrphans(world: ChaosWorld, tenantId: string): Promise<string[]> {
  const tenant = world.tenant(tenantId);
  const problems: string[] = [];
  const stacks = await stacksOf(world, tenantId);
  if (stacks > 0) problems.push(`${tenantId}: orphaned stack ${stackNameFor(tenantId)}`);
  if (tenant.runtime.kind === 'ecs') {
    const { services = [] } = await world.admin.ecs(tenant.runtime.aws).send(new DescribeServicesCommand({ cluster: tenant.runtime.clusterName, services: [`tenant-${tenantId}`] }));
    if (services.some((s) => s.status === 'ACTIVE')) problems.push(`${tenantId}: orphaned ECS service tenant-${tenantId}`);
  } else {
    const namespaces = world.kubectl(['get', 'namespaces', '-o', 'jsonpath={.items[*].metadata.name}']).split(/\s+/);
    if (namespaces.includes(`tenant-${tenantId}`)) problems.push(`${tenantId}: orphaned namespace tenant-${tenantId}`);
  }
  const { Parameters = [] } = await world.admin.ssm(tenant.aws).send(new GetParametersByPathCommand({ Path: `/tenant-fleet/${tenantId}/`, Recursive: true }));
  if (Parameters.length > 0) problems.push(`${tenantId}: orphaned parameters ${Parameters.map((p) => p.Name).join(', ')}`);
  return problems;
}

/**
 * No two live certificates of the group carry the same names: that is what a lost idempotency
 * token would make (replacements differ in their names, so create-before-destroy is not one).
 */
export async function certificatesUnique(world: ChaosWorld, group: string): Promise<string[]> {
  const lb = world.config.loadBalancers.find((l) => l.name === group);
  if (!lb) return [`no load balancer ${group} in the fleet config`];
  const account = world.config.accounts.find((a) => a.name === lb.account)!;
  const acm = world.admin.acm({ roleArn: account.roleArn, externalId: account.externalId, region: lb.region, accountId: account.accountId });
  const { CertificateSummaryList = [] } = await acm.send(new ListCertificatesCommand({ Includes: {} }));
  const byNames = new Map<string, string[]>();
  for (const c of CertificateSummaryList) {
    const { Tags = [] } = await acm.send(new ListTagsForCertificateCommand({ CertificateArn: c.CertificateArn }));
    if (!Tags.some((t) => t.Key === CERTIFICATE_TAGS.group && t.Value === group)) continue;
    const names = [c.DomainName, ...(c.SubjectAlternativeNameSummaries ?? [])].filter((n): n is string => !!n);
    const key = [...new Set(names)].sort().join(',');
    byNames.set(key, [...(byNames.get(key) ?? []), c.CertificateArn!]);
  }
  return [...byNames].filter(([, arns]) => arns.length > 1).map(([names, arns]) => `group ${group}: ${arns.length} certificates for the same names ${names}`);
}
