import { releaseWaveInputSchema, type ReleaseWaveInput } from '../shared/messages/release';
import { collectDifferences as diff, differenceLines, differingFields, formatValue, plainJson, type RequestDifference } from './request-differences';

/**
 * What a release was asked to do, for the idempotent `startRelease`: the same release ID may only
 * attach when the request is the same one, so a CI retry with a changed pipeline (another plan,
 * other tenants, other options) is refused instead of silently getting the old release.
 */

export type { RequestDifference } from './request-differences';

/**
 * Every difference in what was asked between an existing release's input and the input a new
 * request expands to. `requestedBy` is who asked, not what: a retried CI job may carry another
 * job ID (GitLab gives a retry a new one) and must still attach. Tenants are compared as the set
 * the release selects (what `--tenants`/`--env` changed), and the waves without their tenants
 * (what a changed plan changed), so the message names what the person changed rather than every
 * wave it shifted; when only the split into waves differs, each wave's tenants are named.
 */
export function releaseRequestDifferences(existingInput: unknown, requested: ReleaseWaveInput): RequestDifference[] {
  // The existing input went through the same schema when it was started; parsing it again fills
  // defaults added since, so an older client's release is compared on equal terms.
  const parsed = releaseWaveInputSchema.safeParse(existingInput);
  const existing = plainJson(parsed.success ? parsed.data : existingInput) as Partial<Record<string, unknown>>;
  const asked = plainJson(releaseWaveInputSchema.parse(requested)) as Record<string, unknown>;
  const differences: RequestDifference[] = [];
  for (const field of ['releaseId', 'version', 'plan', 'environments']) diff(field, existing[field], asked[field], differences);

  const existingWaves = Array.isArray(existing.waves) ? (existing.waves as Partial<Record<string, unknown>>[]) : [];
  const askedWaves = asked.waves as Record<string, unknown>[];
  const existingTenants = existingWaves.flatMap((w) => (Array.isArray(w.tenants) ? (w.tenants as unknown[]) : []));
  const askedTenants = askedWaves.flatMap((w) => w.tenants as unknown[]);
  const sameTenants = diff('tenants', sortedCopy(existingTenants), sortedCopy(askedTenants), differences) === 0;
  const withoutTenants = (waves: Partial<Record<string, unknown>>[]) => waves.map(({ tenants: _tenants, ...rest }) => rest);
  diff('waves', withoutTenants(existingWaves), withoutTenants(askedWaves), differences);
  // Another number of waves was named whole above; with as many waves, name those whose tenants moved.
  if (sameTenants && existingWaves.length === askedWaves.length) {
    diff(
      'waves',
      existingWaves.map((w) => ({ tenants: w.tenants })),
      askedWaves.map((w) => ({ tenants: w.tenants })),
      differences,
    );
  }

  diff('options', existing.options, asked.options, differences);
  // A window or freeze changed in the fleet config since is another request.
  diff('maintenance', existing.maintenance, asked.maintenance, differences);
  // So is a migration asked for (or not), or a command changed.
  diff('migrations', existing.migrations, asked.migrations, differences);
  // Fields this client does not know (a newer client started the release) count as differences too.
  const known = new Set(['releaseId', 'version', 'plan', 'environments', 'waves', 'options', 'requestedBy', 'maintenance', 'migrations']);
  for (const field of Object.keys(existing).filter((f) => !known.has(f)).sort()) diff(field, existing[field], asked[field], differences);
  return differences;
}

/**
 * The refusal's lines, `field: problem (got value)`: first the release ID and the fields that
 * differ, then one line per field with the existing release's value and this request's.
 */
export function describeDifferences(releaseId: string, existingVersion: unknown, differences: RequestDifference[]): string[] {
  const fields = differingFields(differences);
  return [
    `releaseId: release ${releaseId} already exists for version ${formatValue(existingVersion)} with a different request (${fields}); ` +
      `repeat its request to attach to it, or choose another release ID (got ${JSON.stringify(releaseId)})`,
    ...differenceLines(`release ${releaseId}`, differences),
  ];
}

const sortedCopy = (values: unknown[]) => values.map((v) => String(v)).sort();
