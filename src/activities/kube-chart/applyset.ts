import { createHash } from 'node:crypto';
import type { KubeObject } from '../kube-client/client';
import { groupKindOf } from '../kube-client/resources';

/**
 * The tenant's objects form one ApplySet (Kubernetes' convention for pruning, KEP-3659, which
 * `kubectl apply --prune --applyset` reads too): a parent object in the tenant's namespace lists
 * the kinds ever applied, and every object applied carries the set's ID as a label. Pruning
 * lists those kinds by that label, so it can only ever see objects the fleet labelled.
 */
export const APPLYSET = {
  parentName: 'tenant-fleet-applyset',
  idLabel: 'applyset.kubernetes.io/id',
  partOfLabel: 'applyset.kubernetes.io/part-of',
  toolingAnnotation: 'applyset.kubernetes.io/tooling',
  tooling: 'tenant-fleet/v1',
  groupKindsAnnotation: 'applyset.kubernetes.io/contains-group-kinds',
  /**
   * The workload the last provisioning apply rendered (JSON, non-secret by construction: the
   * ConfigMap holds the same config): a blue/green release renders a colour from it with only
   * its own version, size and target group, as ECS copies the live task definition.
   */
  workloadAnnotation: 'tenant-fleet.io/applied-workload',
} as const;

/** The spec's ID: `applyset-<base64url(sha256(name.namespace.kind.group))>-v1` of the parent (a ConfigMap, group ""). */
export function applySetId(namespace: string): string {
  const digest = createHash('sha256').update(`${APPLYSET.parentName}.${namespace}.ConfigMap.`).digest('base64url');
  return `applyset-${digest}-v1`;
}

/**
 * The parent: a ConfigMap with no data, whose annotation names the kinds to look in when pruning.
 * It is not a member, so pruning never sees it; deleting the namespace deletes it.
 */
export function applySetParent(namespace: string, groupKinds: Iterable<string>, workload?: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: APPLYSET.parentName,
      namespace,
      labels: { [APPLYSET.idLabel]: applySetId(namespace), 'app.kubernetes.io/managed-by': 'tenant-fleet' },
      annotations: {
        [APPLYSET.toolingAnnotation]: APPLYSET.tooling,
        [APPLYSET.groupKindsAnnotation]: [...new Set(groupKinds)].sort().join(','),
        ...(workload === undefined ? {} : { [APPLYSET.workloadAnnotation]: workload }),
      },
    },
  };
}

/** The kinds a parent read from the cluster lists (none when it does not exist yet). */
export function recordedGroupKinds(parent: KubeObject | undefined): string[] {
  const value = parent?.metadata.annotations?.[APPLYSET.groupKindsAnnotation] ?? '';
  return value.split(',').filter((gk) => gk !== '');
}

/** `object` with the set's member label; the tenant's Namespace is the set's home, never a member. */
export function asMember(object: KubeObject, id: string): KubeObject {
  if (object.kind === 'Namespace') return object;
  return { ...object, metadata: { ...object.metadata, labels: { ...object.metadata.labels, [APPLYSET.partOfLabel]: id } } };
}

export const memberKinds = (objects: KubeObject[]) => objects.filter((o) => o.kind !== 'Namespace').map(groupKindOf);

/** `Deployment.apps/app`: how a member is matched between the rendered set and the cluster. */
export const memberKey = (object: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>) => `${groupKindOf(object)}/${object.metadata.name}`;

/**
 * Whether an object listed by the member label may be pruned: it must also carry fields applied
 * by the fleet's field manager, so a label copied onto someone else's object is not enough.
 */
export function appliedBy(object: KubeObject & { metadata: { managedFields?: { manager?: string; operation?: string }[] } }, fieldManager: string): boolean {
  return (object.metadata.managedFields ?? []).some((entry) => entry.manager === fieldManager && entry.operation === 'Apply');
}
