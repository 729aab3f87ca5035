import { parse as parseYaml } from 'yaml';
import { TemplateStore, templateRevision } from '../activities/templates';
import type { ReleaseTemplate } from '../shared/messages/release';
import { STATEFUL_RESOURCE_TYPES } from '../shared/release/stack-change';
import { InputValidationError } from '../shared/validation';

/**
 * The `template` option of a release that carries the tenant template (docs/releases.md,
 * "Infrastructure changes"): this installation's template's revision, and the resources it may
 * replace, each checked to be a stateful resource of that template before anything starts.
 */
export function releaseTemplateOption(allowReplacement: readonly string[] = [], templates = new TemplateStore()): ReleaseTemplate {
  const body = templates.cloudFormation('tenant');
  // CloudFormation's short forms (!Ref, !Sub) are unknown YAML tags here; only names and types are read.
  const resources = (parseYaml(body, { logLevel: 'silent' }) as { Resources?: Record<string, { Type?: string }> }).Resources ?? {};
  const stateful = Object.entries(resources)
    .filter(([, r]) => STATEFUL_RESOURCE_TYPES.has(r.Type ?? ''))
    .map(([id, r]) => `${id} (${r.Type})`);
  const problems = allowReplacement.flatMap((id, i) =>
    STATEFUL_RESOURCE_TYPES.has(resources[id]?.Type ?? '')
      ? []
      : [`template.allowReplacement[${i}]: not a stateful resource of the tenant template; expected one of: ${stateful.join(', ')} (got ${JSON.stringify(id)})`],
  );
  if (problems.length > 0) throw new InputValidationError('release request', problems);
  return { revision: templateRevision(body), ...(allowReplacement.length > 0 ? { allowReplacement: [...allowReplacement] } : {}) };
}
