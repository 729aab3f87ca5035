import { provisionTenantInputSchema, type ProvisionTenantInput } from '../shared/messages/provisioning';
import { collectDifferences, differenceLines, differingFields, plainJson, type RequestDifference } from './request-differences';

/**
 * What a provisioning was asked to do, for `provisionTenant`: a request for a tenant whose
 * provisioning is still running joins it only when it asks for the same thing. Otherwise the
 * caller would get the running one's result for a spec it did not ask for (say, the old
 * database size) and believe its own change was applied.
 */

/**
 * Every difference between the running provisioning's input and a new request: the whole tenant
 * spec (each field named to the deepest level), the initial version and the failure option.
 * `requestedBy` is who asked, not what, and is not compared.
 */
export function provisionRequestDifferences(existingInput: unknown, requested: ProvisionTenantInput): RequestDifference[] {
  // Parsing the stored input again fills defaults added since it started, so it compares on equal terms.
  const parsed = provisionTenantInputSchema.safeParse(existingInput);
  const existing = (plainJson(parsed.success ? parsed.data : existingInput) ?? {}) as Partial<Record<string, unknown>>;
  const asked = plainJson(provisionTenantInputSchema.parse(requested)) as Record<string, unknown>;
  const differences: RequestDifference[] = [];
  const fields = new Set([...Object.keys(existing), ...Object.keys(asked)]);
  fields.delete('requestedBy');
  for (const field of [...fields].sort()) collectDifferences(field, existing[field], asked[field], differences);
  return differences;
}

/** The refusal's lines: what is running and which fields differ, then each field with both values. */
export function describeProvisionDifferences(tenantId: string, differences: RequestDifference[]): string[] {
  const running = `the running provisioning of tenant ${tenantId}`;
  return [
    `tenant: ${running} was asked for something else (${differingFields(differences)}); wait for it to finish ` +
      `(tenantctl tenant history ${tenantId} shows it) and provision again, or repeat its request to join it (got ${JSON.stringify(tenantId)})`,
    ...differenceLines(running, differences),
  ];
}
