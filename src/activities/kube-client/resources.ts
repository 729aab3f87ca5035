import type { KubeObject } from './client';

interface ResourceType {
  /** The REST collection's name. */
  plural: string;
  namespaced: boolean;
}

/**
 * The kinds the tenant template uses, in the order they are applied: the namespace first,
 * then what the Deployment refers to (ServiceAccount, ConfigMap), so its pods never start
 * without them. A static table instead of API discovery: the template is ours, and an unknown
 * kind should fail loudly before anything is written rather than be discovered at apply time.
 */
const RESOURCE_TYPES: Record<string, ResourceType> = {
  'v1/Namespace': { plural: 'namespaces', namespaced: false },
  'v1/ServiceAccount': { plural: 'serviceaccounts', namespaced: true },
  'v1/ConfigMap': { plural: 'configmaps', namespaced: true },
  'rbac.authorization.k8s.io/v1/Role': { plural: 'roles', namespaced: true },
  'rbac.authorization.k8s.io/v1/RoleBinding': { plural: 'rolebindings', namespaced: true },
  'v1/LimitRange': { plural: 'limitranges', namespaced: true },
  'v1/ResourceQuota': { plural: 'resourcequotas', namespaced: true },
  'networking.k8s.io/v1/NetworkPolicy': { plural: 'networkpolicies', namespaced: true },
  // Before the Deployment: the VPC resource controller gives a pod its groups only when it is created.
  // A custom resource of EKS (security groups for pods): its CRD must be installed in the cluster.
  'vpcresources.k8s.aws/v1beta1/SecurityGroupPolicy': { plural: 'securitygrouppolicies', namespaced: true },
  'v1/Service': { plural: 'services', namespaced: true },
  'apps/v1/Deployment': { plural: 'deployments', namespaced: true },
  // A custom resource of the AWS Load Balancer Controller: its CRD must be installed in the cluster.
  'elbv2.k8s.aws/v1beta1/TargetGroupBinding': { plural: 'targetgroupbindings', namespaced: true },
  'policy/v1/PodDisruptionBudget': { plural: 'poddisruptionbudgets', namespaced: true },
  'v1/Pod': { plural: 'pods', namespaced: true },
  // A release's migration (runtime/kubernetes-migration.ts); the chart renders none.
  'batch/v1/Job': { plural: 'jobs', namespaced: true },
};

const APPLY_ORDER = Object.keys(RESOURCE_TYPES);

export type ObjectRef = Pick<KubeObject, 'apiVersion' | 'kind'> & { metadata: { name: string; namespace?: string } };

/** `/api/v1/namespaces/x/configmaps/y`, `/apis/apps/v1/namespaces/x/deployments/y`, `/api/v1/namespaces/x`. */
export function objectPath(ref: ObjectRef): string {
  const type = typeOf(ref);
  const { name, namespace } = ref.metadata;
  if (type.namespaced && !namespace) throw new Error(`${describe(ref)}: a ${ref.kind} is namespaced; expected metadata.namespace to be set`);
  if (!type.namespaced && namespace) throw new Error(`${describe(ref)}: a ${ref.kind} is cluster-scoped; expected no metadata.namespace (got "${namespace}")`);
  return `${collectionPath(ref.apiVersion, ref.kind, namespace)}/${encodeURIComponent(name)}`;
}

export function collectionPath(apiVersion: string, kind: string, namespace?: string): string {
  const type = typeOf({ apiVersion, kind });
  const group = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return `${group}${type.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : ''}/${type.plural}`;
}

/** Sorts objects into apply order (see RESOURCE_TYPES); deletion, when needed, is the reverse. */
export function inApplyOrder<T extends Pick<KubeObject, 'apiVersion' | 'kind'>>(objects: T[]): T[] {
  const rank = (o: T) => APPLY_ORDER.indexOf(`${o.apiVersion}/${o.kind}`);
  return [...objects].sort((a, b) => rank(a) - rank(b));
}

/** `Deployment.apps`, `ConfigMap`: a kind and its API group, the way ApplySets record them. */
export function groupKindOf(ref: Pick<KubeObject, 'apiVersion' | 'kind'>): string {
  const group = ref.apiVersion.includes('/') ? ref.apiVersion.slice(0, ref.apiVersion.indexOf('/')) : '';
  return group ? `${ref.kind}.${group}` : ref.kind;
}

/** The apiVersion this client uses for a group and kind (see groupKindOf), or undefined for one it does not know. */
export function apiVersionOf(groupKind: string): string | undefined {
  const key = APPLY_ORDER.find((k) => {
    const [apiVersion, kind] = [k.slice(0, k.lastIndexOf('/')), k.slice(k.lastIndexOf('/') + 1)];
    return groupKindOf({ apiVersion, kind }) === groupKind;
  });
  return key?.slice(0, key.lastIndexOf('/'));
}

/** `Deployment tenant-acme/app`, for messages. */
export function describe(ref: ObjectRef): string {
  return `${ref.kind} ${ref.metadata.namespace ? `${ref.metadata.namespace}/` : ''}${ref.metadata.name}`;
}

function typeOf(ref: Pick<KubeObject, 'apiVersion' | 'kind'>): ResourceType {
  const type = RESOURCE_TYPES[`${ref.apiVersion}/${ref.kind}`];
  if (!type) {
    throw new Error(`unsupported kind "${ref.kind}" (apiVersion "${ref.apiVersion}"); expected one of: ${APPLY_ORDER.join(', ')} — add it to RESOURCE_TYPES in ${__filename}`);
  }
  return type;
}
