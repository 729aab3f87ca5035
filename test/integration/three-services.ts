import { releaseOutcome } from '../../src/client/releases';
import { workflowIds } from '../../src/shared/ids';
import { releaseWaveInputSchema, type ReleaseSummary } from '../../src/shared/messages/release';
import type { ReleaseManifest } from '../../src/shared/release/manifest';
import { expandReleasePlan } from '../../src/shared/release/plan';
import { TASK_QUEUES } from '../../src/shared/task-queues';
import { parseOrThrow } from '../../src/shared/validation';
import type { Harness } from './harness';

/*
 * The sandbox fleet's three-service tenants (config/fleet.sandbox.yaml: stark on ECS, oscorp on
 * Kubernetes), each with web (the primary), worker and api: what provisioning.test.ts and
 * kubernetes.test.ts release to them.
 */

/** A release manifest for every service: images of their own, and the worker's concurrency changed (16 for 1.2.0, else 32). */
export const threeServiceManifest = (version: string, workerTag: string): ReleaseManifest => ({
  version,
  services: { web: `registry.sandbox.test/tenant-app:${version}`, worker: `registry.sandbox.test/tenant-worker:${workerTag}`, api: `registry.sandbox.test/tenant-api:${version}-api` },
  environment: { worker: { WORKER_CONCURRENCY: version === '1.2.0' ? '16' : '32' } },
});

/** What one service runs, compared as one line: its image, TENANT_FLEET_VERSION and (the worker) its concurrency. */
export const runningLine = (image: string | undefined, env: Record<string, string | undefined>) =>
  `${image} ${env.TENANT_FLEET_VERSION ?? '-'}${env.WORKER_CONCURRENCY ? ` ${env.WORKER_CONCURRENCY}` : ''}`;

/** A one-tenant quick release, with a manifest when given (carried whole in the release's input, docs/releases.md). */
export async function releaseOneTenant(
  h: Pick<Harness, 'client' | 'config'>,
  { tenantId, releaseIdPrefix, version, manifest }: { tenantId: string; releaseIdPrefix: string; version: string; manifest?: ReleaseManifest },
): Promise<ReleaseSummary> {
  const releaseId = `${releaseIdPrefix}-${version}-${Date.now()}`;
  const input = parseOrThrow(
    releaseWaveInputSchema,
    { ...expandReleasePlan(h.config, { releaseId, plan: 'quick', requestedBy: 'jest', version, tenants: [tenantId] }), ...(manifest ? { manifest } : {}) },
    'release request',
  );
  const handle = await h.client.workflow.start('releaseWave', { workflowId: workflowIds.release(releaseId), taskQueue: TASK_QUEUES.workflows, args: [input] });
  return releaseOutcome(handle as Parameters<typeof releaseOutcome>[0]);
}
