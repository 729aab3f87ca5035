import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../kube-client/client';

/** The values a template can name: `{{ .Values.a.b }}` reads scope.Values.a.b. */
export type RenderScope = Record<string, unknown>;

const PLACEHOLDER = /\{\{\s*\.([A-Za-z]\w*(?:\.[A-Za-z]\w*)*)\s*\}\}/g;
/** What may stand before a placeholder on its line: indentation, a list dash, a key. */
const WHOLE_VALUE_PREFIX = /^\s*(?:-\s+)?(?:[\w./-]+:\s+)?$/;
const WHOLE_VALUE_SUFFIX = /^\s*(?:#.*)?$/;

/**
 * Renders a Helm-style manifest template: each `{{ .Scope.path }}` is replaced by its value
 * written as JSON (which YAML reads as the same scalar, list or map), then the result is parsed.
 *
 * A placeholder must be a whole value (`key: {{ .Tenant.namespace }}` or `- {{ .Values.x }}`):
 * values are never spliced into the middle of a string, so no value, whatever characters it
 * holds, can change the YAML's structure. Compose strings in code and pass them in as values.
 * A mapping entry whose value renders as null is left out, so an optional value (no app role)
 * removes its key instead of sending an empty one.
 */
export function renderManifests(template: string, scope: RenderScope, source: string): KubeObject[] {
  const lines = template.split('\n').map((line, index) => {
    const at = `${source}:${index + 1}`;
    if (line.trimStart().startsWith('#')) return line;
    const matches = [...line.matchAll(PLACEHOLDER)];
    if (matches.length === 0) {
      if (line.includes('{{')) throw new Error(`${at}: malformed placeholder in "${line.trim()}"; expected {{ .Values.name }} or {{ .Tenant.name }}`);
      return line;
    }
    const [match, ...more] = matches;
    if (!match || more.length > 0) throw new Error(`${at}: one placeholder per line, as a whole value; got "${line.trim()}"`);
    const before = line.slice(0, match.index);
    const after = line.slice(match.index + match[0].length);
    if (!WHOLE_VALUE_PREFIX.test(before) || !WHOLE_VALUE_SUFFIX.test(after)) {
      throw new Error(`${at}: a placeholder must be a whole value ("key: {{ .Values.x }}" or "- {{ .Values.x }}"), not part of a string; got "${line.trim()}"`);
    }
    return `${before}${JSON.stringify(lookup(scope, match[1]!, at))}${after}`;
  });

  const documents = parseAllDocuments(lines.join('\n'));
  const docs = Array.isArray(documents) ? documents : [documents];
  const objects: KubeObject[] = [];
  docs.forEach((doc, i) => {
    const problem = doc.errors[0];
    if (problem) throw new Error(`${source}, document ${i + 1}: not valid YAML after rendering: ${problem.message}`);
    const value = withoutNulls(doc.toJS() as unknown);
    if (value === undefined) return; // an empty document (a file of comments)
    objects.push(asObject(value, `${source}, document ${i + 1}`));
  });
  return objects;
}

function lookup(scope: RenderScope, path: string, at: string): unknown {
  let current: unknown = scope;
  const walked: string[] = [];
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object' || !Object.prototype.hasOwnProperty.call(current, key)) {
      const known = current !== null && typeof current === 'object' ? Object.keys(current).join(', ') : '(not a map)';
      throw new Error(`${at}: unknown value .${[...walked, key].join('.')}; expected one of: ${known || '(none)'}`);
    }
    current = (current as Record<string, unknown>)[key];
    walked.push(key);
  }
  // An absent optional value renders as null (and its key is then dropped).
  return current === undefined ? null : current;
}

function withoutNulls(value: unknown): unknown {
  if (value === null || value === undefined) return undefined;
  if (Array.isArray(value)) return value.map(withoutNulls).filter((v) => v !== undefined);
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .map(([key, v]) => [key, withoutNulls(v)] as const)
      .filter(([, v]) => v !== undefined);
    return Object.fromEntries(entries);
  }
  return value;
}

function asObject(value: unknown, where: string): KubeObject {
  const object = value as Partial<KubeObject> | undefined;
  if (
    typeof object !== 'object' ||
    Array.isArray(object) ||
    typeof object.apiVersion !== 'string' ||
    typeof object.kind !== 'string' ||
    typeof object.metadata?.name !== 'string'
  ) {
    throw new Error(`${where}: expected a Kubernetes object with apiVersion, kind and metadata.name (got ${JSON.stringify(value).slice(0, 120)})`);
  }
  return object as KubeObject;
}
