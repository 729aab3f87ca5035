import { z } from 'zod';
import { ErrorType, permanentFailure, retryableFailure } from '../../shared/errors';
import { imageTagSchema, releaseIdSchema, tenantIdSchema } from '../../shared/ids';
import { describeMigration, lastLines, migrationKey, type MigrationRun } from '../../shared/release/migration';
import { parseOrFail } from '../../shared/validation';
import type { KubeClient, KubeObject } from '../kube-client/client';
import { kubeStep } from '../kube-client/errors';
import { followObject } from '../kube-client/follow';
import { describe } from '../kube-client/resources';
import { TENANT_OBJECTS, tenantNamespace } from '../kube-chart/tenant-chart';
import { heartbeat } from '../poll';
import { imageRef } from './types';
import { RELEASE_FIELD_MANAGER, type KubernetesRuntime } from './kubernetes';

/** The label value that tells a migration's pods from the app's (which the Service and the sandbox's kubelet select by `tenant-app`). */
export const MIGRATION_APP_NAME = 'tenant-migration';
const ANNOTATIONS = { releaseId: 'tenant-fleet.io/release-id', version: 'tenant-fleet.io/version' } as const;
/** A finished Job stays this long for people and retries to read, then Kubernetes deletes it (and its pod). */
const TTL_AFTER_FINISHED_SECONDS = 7 * 24 * 3600;

const inputSchema = z.object({
  runtime: z.object({ kind: z.literal('kubernetes'), cluster: z.string().min(1) }).passthrough(),
  tenantId: tenantIdSchema,
  releaseId: releaseIdSchema,
  image: z.string().regex(/^[^\s@]+$/, 'expected an image repository without a tag, such as "ghcr.io/acme/app"'),
  version: imageTagSchema,
  command: z.array(z.string().min(1)).min(1),
  timeoutMs: z.number().int().min(1_000),
});
export type KubernetesMigrationInput = { runtime: KubernetesRuntime } & Omit<z.input<typeof inputSchema>, 'runtime'>;

interface Container {
  name: string;
  image?: string;
  command?: string[];
  [field: string]: unknown;
}
type PodTemplate = { metadata?: { annotations?: Record<string, string> }; spec?: { containers?: Container[]; readinessGates?: unknown; restartPolicy?: string; [field: string]: unknown } };
type Deployment = KubeObject & { spec?: { template?: PodTemplate } };
type Job = KubeObject & {
  spec?: { template?: PodTemplate };
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[]; startTime?: string };
};
type Pod = KubeObject & {
  status?: {
    phase?: string;
    containerStatuses?: { name: string; state?: { terminated?: { exitCode?: number; reason?: string; message?: string }; waiting?: { reason?: string; message?: string } } }[];
  };
};

/**
 * The migration's Job: the pod of the tenant's Deployment (as its chart rendered it: service
 * account, configuration, security context, resources, the annotations that give it its security
 * groups) with the new image, the command, no probes, ports or readiness gates, one try, and a
 * deadline. Its termination message falls back to the end of its log when it fails, so the
 * output can be read from the API without a kubelet's log endpoint.
 */
export function migrationJob(deployment: Deployment, input: Omit<KubernetesMigrationInput, 'runtime'>): Job {
  const template = deployment.spec?.template ?? {};
  const app = template.spec?.containers?.find((c) => c.name === TENANT_OBJECTS.container);
  if (!app) throw permanentFailure(ErrorType.ResourceNotFound, `${describe(deployment)} has no container "${TENANT_OBJECTS.container}"; expected the one from the tenant template`);
  const { readinessProbe: _r, livenessProbe: _l, startupProbe: _s, ports: _p, lifecycle: _h, ...container } = app;
  const { readinessGates: _g, ...podSpec } = template.spec ?? {};
  const labels = { 'app.kubernetes.io/name': MIGRATION_APP_NAME, 'app.kubernetes.io/instance': input.tenantId, 'app.kubernetes.io/managed-by': 'tenant-fleet' };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: migrationKey(input.releaseId, input.tenantId),
      namespace: tenantNamespace(input.tenantId),
      labels,
      annotations: { [ANNOTATIONS.releaseId]: input.releaseId, [ANNOTATIONS.version]: input.version },
    },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: Math.ceil(input.timeoutMs / 1000),
      ttlSecondsAfterFinished: TTL_AFTER_FINISHED_SECONDS,
      template: {
        metadata: { labels, ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}) },
        spec: {
          ...podSpec,
          restartPolicy: 'Never',
          containers: [{ ...container, image: imageRef({ image: input.image, version: input.version }), command: input.command, terminationMessagePolicy: 'FallbackToLogsOnError' }],
        },
      },
    },
  } as Job;
}

/** A migration's Job and its pod on one cluster, served on that cluster's task queue. */
export function createKubernetesMigrationActivities({ cluster, kube }: { cluster: string; kube: KubeClient }) {
  const where = `in Kubernetes cluster ${cluster}`;
  return {
    /**
     * Runs the migration as a Job named after the release and tenant, and waits for it to end:
     * a retry (also after the worker died) finds the Job by its name and waits for it, or reads
     * the result of one that ended. Its deadline (`activeDeadlineSeconds`) is the timeout, counted
     * by Kubernetes from the Job's start. The exit code and the container's termination message
     * (the end of its log when it failed) are returned, not thrown.
     */
    async k8sRunMigration(raw: KubernetesMigrationInput): Promise<MigrationRun> {
      const input = parseOrFail(inputSchema, raw, 'k8sRunMigration input');
      if (input.runtime.cluster !== cluster) {
        throw permanentFailure(ErrorType.InvalidInput, `k8sRunMigration: runtime.cluster is "${input.runtime.cluster}" but this worker serves cluster "${cluster}"; check kubernetesClusters[].taskQueue`);
      }
      const namespace = tenantNamespace(input.tenantId);
      const ref = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: migrationKey(input.releaseId, input.tenantId), namespace } };
      const what = `${describe(ref)} ${where}`;
      heartbeat({ step: 'find' });
      const existing = await kubeStep(`reading ${what}`, () => kube.get<Job>(ref));
      if (existing) {
        const annotations = existing.metadata.annotations ?? {};
        if (annotations[ANNOTATIONS.releaseId] !== input.releaseId || annotations[ANNOTATIONS.version] !== input.version) {
          throw permanentFailure(
            ErrorType.InvalidInput,
            `${what} exists for release ${annotations[ANNOTATIONS.releaseId] ?? '(none)'} version ${annotations[ANNOTATIONS.version] ?? '(none)'}; expected release ${input.releaseId} version ${input.version}: delete it or choose another release ID`,
          );
        }
      } else {
        const deploymentRef = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: TENANT_OBJECTS.deployment, namespace } };
        const deployment = await kubeStep(`reading ${describe(deploymentRef)} ${where}`, () => kube.get<Deployment>(deploymentRef));
        if (!deployment) throw permanentFailure(ErrorType.ResourceNotFound, `${describe(deploymentRef)} not found ${where}: provision tenant ${input.tenantId} before releasing to it`);
        // An apply of the same Job by a concurrent attempt changes nothing; the name makes it one Job.
        await kubeStep(`creating ${what}`, () => kube.apply(migrationJob(deployment, input), { fieldManager: RELEASE_FIELD_MANAGER, force: false }));
      }
      const ended = await kubeStep(`following ${what}`, () =>
        followObject<Job, { done: boolean; failed?: { reason?: string; message?: string } } | undefined>(kube, {
          ref,
          what: `migration ${what}`,
          judge: (job) => {
            if (!job) return undefined;
            const condition = (type: string) => job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
            const failed = condition('Failed');
            if (failed) return { done: true, failed: { reason: failed.reason, message: failed.message } };
            return { done: condition('Complete') !== undefined };
          },
          done: (state) => state === undefined || state.done,
          // Kubernetes ends the Job at its deadline; this only bounds a Job controller that never reports.
          timeoutMs: input.timeoutMs + 5 * 60_000,
          onTimeout: () => retryableFailure(ErrorType.Timeout, `${what} has not ended ${Math.round(input.timeoutMs / 1000) + 300} s after it was created`),
        }),
      );
      if (!ended) throw retryableFailure(ErrorType.ResourceNotFound, `${what} disappeared while it ran`);
      const pods = await kubeStep(`listing the pods of ${what}`, () => kube.list<Pod>('v1', 'Pod', namespace, { labelSelector: `batch.kubernetes.io/job-name=${ref.metadata.name}` }));
      const terminated = pods.items
        .map((pod) => pod.status?.containerStatuses?.find((c) => c.name === TENANT_OBJECTS.container)?.state?.terminated)
        .find((t) => t !== undefined);
      const exitCode = typeof terminated?.exitCode === 'number' ? terminated.exitCode : null;
      const failure = ended.failed ? [ended.failed.reason, ended.failed.message].filter(Boolean).join(': ') : undefined;
      const succeeded = !ended.failed && exitCode === 0;
      const reason = succeeded ? undefined : exitCode === null ? failure ?? 'ended without an exit code' : ended.failed?.reason === 'DeadlineExceeded' ? failure : undefined;
      const run: MigrationRun = {
        task: `Job ${namespace}/${ref.metadata.name}`,
        exitCode,
        succeeded,
        ...(reason ? { reason } : {}),
        output: lastLines(terminated?.message ?? ''),
        reused: existing !== undefined,
      };
      heartbeat({ step: 'done', run: describeMigration(run) });
      return run;
    },
  };
}

export type KubernetesMigrationActivities = ReturnType<typeof createKubernetesMigrationActivities>;
