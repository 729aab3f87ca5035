import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { adoptedHostname, ADOPTED_WILDCARD_ENVIRONMENT, USABLE_CERTIFICATE_STATUSES } from '../shared/certificates/adoption';
import { certificatesInputFromConfig } from '../shared/certificates/from-config';
import { planCertificates, type CertificatePlan, type DesiredHostname } from '../shared/certificates/planner';
import type { FleetConfig } from '../shared/config/schema';
import { workflowIds } from '../shared/ids';
import { certificatesStatusQuery, reconcileSignal, type CertificatesStatus, type ReconcileRequest } from '../shared/messages/certificates';
import { TASK_QUEUES } from '../shared/task-queues';

/* Client side of the certificates workflow (`certs/<group>`), for `tenantctl certs`. */

async function isRunning(client: Client, workflowId: string): Promise<boolean> {
  try {
    return (await client.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw error;
  }
}

/** The workflow's own status report, or undefined when no run is going. */
export async function certificatesStatus(client: Client, group: string): Promise<CertificatesStatus | undefined> {
  const workflowId = workflowIds.certificates(group);
  if (!(await isRunning(client, workflowId))) return undefined;
  return client.withDeadline(Date.now() + 10_000, () => client.workflow.getHandle(workflowId).query(certificatesStatusQuery));
}

export interface CertificatesSync {
  group: string;
  workflowId: string;
  /** False when a run was already going: it was told about every tenant, not started again. */
  started: boolean;
  tenants: string[];
}

/**
 * Makes `certs/<group>` know every tenant the fleet config puts on the group's load balancer:
 * starts it from the config if it does not run (signal-with-start, as provisioning does) and
 * sends each tenant's hostnames as a `reconcile` signal; the workflow handles them together.
 * Tenants removed from the config are not retired here: deprovisioning does that.
 */
export async function syncCertificates(client: Client, config: FleetConfig, group: string): Promise<CertificatesSync> {
  const start = certificatesInputFromConfig(config, group);
  const workflowId = workflowIds.certificates(group);
  const requests: ReconcileRequest[] = Object.entries(start.tenants ?? {}).map(([tenantId, t]) => ({ tenantId, hostnames: t.hostnames, environment: t.environment, dns: t.dns }));
  const running = await isRunning(client, workflowId);
  const options = { workflowId, taskQueue: TASK_QUEUES.workflows, args: [start] as [typeof start], staticSummary: `certificates of ${group}` };
  if (requests.length === 0) {
    await client.workflow.start('certificates', { ...options, workflowIdConflictPolicy: 'USE_EXISTING' });
  } else {
    const [first, ...rest] = requests;
    const handle = await client.workflow.signalWithStart('certificates', { ...options, signal: reconcileSignal, signalArgs: [first!] });
    for (const request of rest) await handle.signal(reconcileSignal, request);
  }
  return { group, workflowId, started: !running, tenants: requests.map((r) => r.tenantId) };
}

export interface CertificatesDryRun {
  group: string;
  /** What the plan compared against: the running workflow's last view of ACM, or nothing yet. */
  basis: 'workflow-status' | 'no-workflow-yet';
  plan: CertificatePlan;
}

/**
 * What a sync would aim for, without changing anything: the planner (the workflow's own) over
 * the fleet config's hostnames and the certificates the running workflow last saw. Renewals that
 * fall due are decided by the workflow when it reconciles, so they do not show here.
 */
export async function planCertificatesDryRun(client: Client, config: FleetConfig, group: string): Promise<CertificatesDryRun> {
  const input = certificatesInputFromConfig(config, group);
  const status = await certificatesStatus(client, group);
  const hostnames: DesiredHostname[] = [
    ...Object.entries(input.tenants ?? {}).flatMap(([tenantId, t]) => t.hostnames.map((hostname) => ({ hostname, tenantId, environment: t.environment }))),
    // Names the workflow adopted, planned as the workflow plans them.
    ...(status?.adopted ?? []).map((hostname) => adoptedHostname(hostname)),
  ];
  const policy = config.certificates;
  const plan = planCertificates({
    group,
    hostnames,
    existing: (status?.certificates ?? []).filter((c) => USABLE_CERTIFICATE_STATUSES.has(c.status)).map((c) => ({ arn: c.arn, names: c.names })),
    maxNamesPerCertificate: policy.maxNamesPerCertificate,
    maxCertificatesPerListener: policy.maxCertificatesPerListener,
    wildcardEnvironments: [...(input.wildcardEnvironments ?? []), ADOPTED_WILDCARD_ENVIRONMENT],
  });
  return { group, basis: status ? 'workflow-status' : 'no-workflow-yet', plan };
}
