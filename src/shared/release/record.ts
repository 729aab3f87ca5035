import { z } from 'zod';
import type { ReleaseTarget } from '../../activities/runtime/types';
import { envVarNameSchema, serviceNameSchema } from '../config/services';
import { imageTagSchema } from '../ids';
import { imageReferenceSchema } from './manifest';

/**
 * Where a tenant's applied release target is recorded (docs/releases.md, "Release manifests"),
 * beside `workload/version` and at the same moments: the target the tenant runs, and the one it
 * ran before that, so a revert or a bake rollback started after the deploy's child ended still
 * goes back to the previous manifest whole. A record is trusted only while its version is the
 * tenant's version: a release without a target records none, and leaves an older record behind.
 */
export const RELEASE_PARAMETER = 'workload/release';
export const PREVIOUS_RELEASE_PARAMETER = 'workload/release-previous';

/** SSM's standard tier holds 4 KB a value: tenantctl refuses a manifest whose targets do not fit. */
export const RELEASE_RECORD_MAX_CHARS = 4096;

export const releaseTargetSchema = z.strictObject({
  version: imageTagSchema,
  services: z
    .array(
      z.strictObject({
        name: serviceNameSchema,
        image: imageReferenceSchema,
        environment: z.record(envVarNameSchema, z.string().nullable()).optional(),
      }),
    )
    .min(1),
});

export interface ReleaseRecord {
  /** The target the tenant runs, as last recorded. */
  release?: ReleaseTarget;
  /** The target it ran before the last release. */
  previous?: ReleaseTarget;
}

/** The parameters a release writes for `target` (and, on a deploy, the target it replaced). */
export function releaseRecordParameters(target: ReleaseTarget, previous?: ReleaseTarget): Record<string, string> {
  return {
    'workload/version': target.version,
    [RELEASE_PARAMETER]: JSON.stringify(target),
    ...(previous && previous.version !== target.version ? { [PREVIOUS_RELEASE_PARAMETER]: JSON.stringify(previous) } : {}),
  };
}

/**
 * The recorded target for `version`: the last one or the one before it, whichever names that
 * version; undefined when neither does (it ran without a target, or before records existed).
 */
export function recordedTargetFor(record: ReleaseRecord | undefined, version: string): ReleaseTarget | undefined {
  return [record?.release, record?.previous].find((t) => t?.version === version);
}
