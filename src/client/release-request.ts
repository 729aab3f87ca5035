import type { Client } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { releaseWaveInputSchema, type ReleaseWaveInput } from '../shared/messages/release';

/**
 * What a release was asked to do, for the idempotent `startRelease`: the same release ID may only
 * attach when the request is the same one, so a CI retry with a changed pipeline (another plan,
 * other tenants, other options) is refused instead of silently getting the old release.
 */

/** One field where the existing release and a new request differ, with both values (plain JSON). */
export interface RequestDifference {
  field: string;
  existing: unknown;
  requested: unknown;
}

/**
 * The input `release/<id>` was started with: the first run's, since that is what the client asked
 * for (later runs are continue-as-new). Payloads are encrypted, so they are decoded with the
 * client's own data converter.
 */
export async function existingReleaseInput(client: Client, workflowId: string): Promise<unknown> {
  const description = await client.workflow.getHandle(workflowId).describe();
  const firstRunId = description.raw.workflowExecutionInfo?.firstRunId || description.runId;
  // Only the first event is needed; a long first run's whole history is not fetched for it.
  const history = await client.workflowService.getWorkflowExecutionHistory({
    namespace: client.options.namespace,
    execution: { workflowId, runId: firstRunId },
    maximumPageSize: 1,
  });
  const started = history.history?.events?.[0]?.workflowExecutionStartedEventAttributes;
  if (!started) throw new Error(`cannot read the input of ${workflowId} (run ${firstRunId}): its history has no start event`);
  return decodeFromPayloadsAtIndex(client.options.loadedDataConverter, 0, started.input?.payloads, {
    type: 'workflow',
    namespace: client.options.namespace,
    workflowId,
  });
}

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
  // Fields this client does not know (a newer client started the release) count as differences too.
  const known = new Set(['releaseId', 'version', 'plan', 'environments', 'waves', 'options', 'requestedBy']);
  for (const field of Object.keys(existing).filter((f) => !known.has(f)).sort()) diff(field, existing[field], asked[field], differences);
  return differences;
}

/**
 * The refusal's lines, `field: problem (got value)`: first the release ID and the fields that
 * differ, then one line per field with the existing release's value and this request's.
 */
export function describeDifferences(releaseId: string, existingVersion: unknown, differences: RequestDifference[]): string[] {
  const fields = [...new Set(differences.map((d) => d.field))].join(', ');
  return [
    `releaseId: release ${releaseId} already exists for version ${formatValue(existingVersion)} with a different request (${fields}); ` +
      `repeat its request to attach to it, or choose another release ID (got ${JSON.stringify(releaseId)})`,
    ...differences.map((d) => `${d.field}: differs from release ${releaseId}, which has ${formatValue(d.existing)} (got ${formatValue(d.requested)})`),
  ];
}

/** Recurses into objects and equal-length arrays so that the deepest differing field is named; returns how many it found. */
function diff(path: string, existing: unknown, requested: unknown, out: RequestDifference[]): number {
  if (canonical(existing) === canonical(requested)) return 0;
  if (isRecord(existing) && isRecord(requested)) {
    const keys = [...new Set([...Object.keys(existing), ...Object.keys(requested)])].sort();
    return keys.reduce((n, key) => n + diff(`${path}.${key}`, existing[key], requested[key], out), 0);
  }
  if (Array.isArray(existing) && Array.isArray(requested) && existing.length === requested.length && existing.some(isRecord)) {
    return existing.reduce((n: number, item, i) => n + diff(`${path}[${i}]`, item, requested[i], out), 0);
  }
  out.push({ field: path, existing, requested });
  return 1;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** JSON with sorted keys, so key order (which a payload round trip may change) is not a difference. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (isRecord(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v)) ?? 'undefined';
}

/** What the payload converter stores: `undefined` fields dropped. */
const plainJson = (value: unknown): unknown => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));

const sortedCopy = (values: unknown[]) => values.map((v) => String(v)).sort();

function formatValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}
