import type { WorkloadChange } from '../runtime/types';
import type { KubeObject } from './client';

/**
 * What differs between an object as it is and as an apply would leave it (the server's answer to a
 * dry run), field by field. Only the intent is compared: the status and the metadata the server
 * keeps (versions, generation, field ownership, timestamps) change on every write without the
 * workload having changed.
 */
export function objectChanges(object: string, before: KubeObject, after: KubeObject): WorkloadChange[] {
  const changes: Omit<WorkloadChange, 'object'>[] = [];
  walk(intentOf(before), intentOf(after), '', changes);
  return changes.map((c) => ({ object, ...c }));
}

/** An object's desired state: everything but its status and the metadata the server keeps. */
export function intentOf(object: KubeObject): Record<string, unknown> {
  const { status: _status, metadata, ...rest } = object;
  const { labels, annotations, finalizers } = metadata;
  return normalised({ ...rest, metadata: { labels, annotations, finalizers } }) as Record<string, unknown>;
}

/** Sorted keys, no undefined members, Dates as the server's strings: two reads of one object compare equal. */
function normalised(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(normalised);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, normalised(v)]),
    );
  }
  return value;
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
/** Lists Kubernetes merges by name (containers, env, ports, volumes): matched by name, not position. */
const byName = (list: unknown[]) => list.every((item) => isRecord(item) && typeof item.name === 'string');
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function walk(before: unknown, after: unknown, path: string, out: Omit<WorkloadChange, 'object'>[]): void {
  if (same(before, after)) return;
  const join = (key: string) => (path ? `${path}.${key}` : key);
  if (isRecord(before) && isRecord(after)) {
    for (const key of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) walk(before[key], after[key], join(key), out);
    return;
  }
  if (Array.isArray(before) && Array.isArray(after) && byName(before) && byName(after)) {
    const named = (list: unknown[]) => new Map(list.map((item) => [(item as { name: string }).name, item]));
    const [b, a] = [named(before), named(after)];
    for (const name of [...new Set([...b.keys(), ...a.keys()])]) walk(b.get(name), a.get(name), `${path}[${name}]`, out);
    return;
  }
  if (before === undefined) out.push({ field: path, action: 'add', after });
  else if (after === undefined) out.push({ field: path, action: 'remove', before });
  else out.push({ field: path, action: 'modify', before, after });
}
