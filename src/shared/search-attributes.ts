import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * The custom search attributes that make the Temporal UI the ops console. A real cluster
 * must register them once (docs/operators.md, "Running against a real Temporal cluster or Temporal Cloud and real AWS accounts").
 */
export const TenantIdKey = defineSearchAttributeKey('TenantId', SearchAttributeType.KEYWORD);
export const ReleaseIdKey = defineSearchAttributeKey('ReleaseId', SearchAttributeType.KEYWORD);
export const EnvironmentKey = defineSearchAttributeKey('Environment', SearchAttributeType.KEYWORD);
/** Where a workflow is, e.g. `stack/deploying` or `wave-2/awaiting-approval`. */
export const PhaseKey = defineSearchAttributeKey('Phase', SearchAttributeType.KEYWORD);

export const CUSTOM_SEARCH_ATTRIBUTES = [TenantIdKey, ReleaseIdKey, EnvironmentKey, PhaseKey] as const;

/** The type names `temporal operator search-attribute create` and `start-dev --search-attribute` take. */
export const SEARCH_ATTRIBUTE_CLI_TYPES: Record<string, string> = Object.fromEntries(
  CUSTOM_SEARCH_ATTRIBUTES.map((key) => [key.name, 'Keyword']),
);
