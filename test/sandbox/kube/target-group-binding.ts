import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  RegisterTargetsCommand,
  type ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { KubeApi } from './api-proxy';

/** The AWS Load Balancer Controller's finalizer: targets are deregistered before the binding goes. */
export const TGB_FINALIZER = 'elbv2.k8s.aws/resources';
/** Every sandbox app listens on loopback; the port tells them apart (DATAPLANE.md section 2). */
export const TARGET_IP = '127.0.0.1';

interface Binding {
  metadata: { name: string; namespace: string; uid: string; resourceVersion: string; finalizers?: string[]; deletionTimestamp?: string };
  spec: { targetGroupARN: string; targetType?: string; serviceRef: { name: string; port: number | string } };
}
interface EndpointSlice {
  endpoints?: { conditions?: { ready?: boolean }; targetRef?: { kind?: string; uid?: string; name?: string } }[];
}
interface Pod {
  metadata: { name: string; uid: string };
  spec: { readinessGates?: { conditionType: string }[] };
  status?: { conditions?: { type: string; status: string }[] };
}

/** The pod readiness gate the controller sets for binding `name` once the pod's target is healthy. */
export const readinessGateOf = (binding: string) => `target-health.elbv2.k8s.aws/${binding}`;

/**
 * The sandbox's stand-in for the AWS Load Balancer Controller's TargetGroupBinding reconciler:
 * the Ready endpoints of the bound Service are the target group's `ip` targets, as the tenant
 * app's loopback address and port (`podPort`); targets of endpoints that went away are
 * deregistered (the load balancer drains them). A binding being deleted has its targets
 * deregistered before its finalizer is removed, as the controller does.
 *
 * Pod readiness gate `target-health.elbv2.k8s.aws/<binding>`: a pod that declares it is registered
 * once its containers are ready (it is not Ready before the gate), and the gate is set True when
 * its target is `healthy` in the target group (or `unused`: no load balancer sends it traffic).
 */
export class TargetGroupBindings {
  /** Ports registered (or draining) per target group, as last read: `released()` waits on them. */
  private readonly registered = new Map<string, Set<number>>();
  private readonly reported = new Set<string>();
  private closed = false;

  constructor(
    private readonly options: {
      api: KubeApi;
      elbv2For: (targetGroupArn: string) => Promise<ElasticLoadBalancingV2Client>;
      podPort: (uid: string) => number | undefined;
      log: (line: string) => void;
    },
  ) {}

  async sync(): Promise<void> {
    const list = await this.options.api.request<{ items: Binding[] }>('GET', '/apis/elbv2.k8s.aws/v1beta1/targetgroupbindings');
    const seen = new Set<string>();
    await Promise.all(
      (list?.items ?? []).map(async (binding) => {
        seen.add(binding.spec.targetGroupARN);
        const where = `TargetGroupBinding ${binding.metadata.namespace}/${binding.metadata.name}`;
        try {
          await this.reconcile(binding);
          this.reported.delete(where);
        } catch (error) {
          // Once per problem, not every second: a binding to a missing target group stays broken until fixed.
          const line = `${where}: ${(error as Error).message}`;
          if (!this.reported.has(where)) this.options.log(line);
          this.reported.add(where);
        }
      }),
    );
    for (const arn of this.registered.keys()) if (!seen.has(arn)) this.registered.delete(arn);
  }

  /** Stops answering `released()` waits (the sandbox is stopping). */
  close(): void {
    this.closed = true;
  }

  /** Resolves once no bound target group has `port` registered or draining any more. */
  async released(port: number, timeoutMs = 10 * 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && [...this.registered.values()].some((ports) => ports.has(port))) {
      if (Date.now() > deadline) throw new Error(`target 127.0.0.1:${port} still registered after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  private async reconcile(binding: Binding): Promise<void> {
    const { namespace, name } = binding.metadata;
    const arn = binding.spec.targetGroupARN;
    const path = `/apis/elbv2.k8s.aws/v1beta1/namespaces/${namespace}/targetgroupbindings/${name}`;
    const finalizers = binding.metadata.finalizers ?? [];
    const deleting = binding.metadata.deletionTimestamp !== undefined;
    if (!deleting && !finalizers.includes(TGB_FINALIZER)) {
      await this.options.api.request('PATCH', path, { metadata: { resourceVersion: binding.metadata.resourceVersion, finalizers: [...finalizers, TGB_FINALIZER] } }, 'application/merge-patch+json');
    }
    if (binding.spec.targetType !== undefined && binding.spec.targetType !== 'ip') {
      throw new Error(`targetType "${binding.spec.targetType}" is not supported by the sandbox; expected "ip"`);
    }
    const elbv2 = await this.options.elbv2For(arn);
    const current = await this.currentTargets(elbv2, arn);
    const gate = readinessGateOf(name);
    const wanted = deleting ? new Map<number, Pod | undefined>() : await this.wantedTargets(namespace, binding.spec.serviceRef.name, gate);
    if (current === undefined) {
      if (!deleting) throw new Error(`target group ${arn} not found`);
    } else {
      const register = [...wanted.keys()].filter((port) => !current.active.has(port));
      const deregister = [...current.active.keys()].filter((port) => !wanted.has(port));
      if (register.length > 0) await elbv2.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: register.map((Port) => ({ Id: TARGET_IP, Port })) }));
      if (deregister.length > 0) await elbv2.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: deregister.map((Port) => ({ Id: TARGET_IP, Port })) }));
      this.registered.set(arn, new Set([...current.draining, ...deregister, ...wanted.keys()]));
      for (const [port, pod] of wanted) {
        const health = current.active.get(port);
        if (pod && (health === 'healthy' || health === 'unused') && !conditionTrue(pod, gate)) await this.openGate(namespace, pod, gate, health);
      }
    }
    if (deleting && finalizers.includes(TGB_FINALIZER)) {
      this.registered.delete(arn);
      await this.options.api.request(
        'PATCH',
        path,
        { metadata: { resourceVersion: binding.metadata.resourceVersion, finalizers: finalizers.filter((f) => f !== TGB_FINALIZER) } },
        'application/merge-patch+json',
      );
    }
  }

  /**
   * The loopback ports of the Service's endpoints that should be targets: Ready ones, and those
   * held back only by this binding's readiness gate (containers ready); with the pod when it has the gate.
   */
  private async wantedTargets(namespace: string, service: string, gate: string): Promise<Map<number, Pod | undefined>> {
    const [slices, pods] = await Promise.all([
      this.options.api.request<{ items: EndpointSlice[] }>(
        'GET',
        `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${service}`)}`,
      ),
      this.options.api.request<{ items: Pod[] }>('GET', `/api/v1/namespaces/${namespace}/pods`),
    ]);
    const gated = new Map((pods?.items ?? []).filter((p) => p.spec.readinessGates?.some((g) => g.conditionType === gate)).map((p) => [p.metadata.uid, p]));
    const ports = new Map<number, Pod | undefined>();
    for (const endpoint of (slices?.items ?? []).flatMap((s) => s.endpoints ?? [])) {
      const uid = endpoint.targetRef?.kind === 'Pod' ? endpoint.targetRef.uid : undefined;
      if (!uid) continue;
      const pod = gated.get(uid);
      const wanted = endpoint.conditions?.ready === true || (pod !== undefined && conditionTrue(pod, 'ContainersReady'));
      const port = wanted ? this.options.podPort(uid) : undefined;
      if (port !== undefined) ports.set(port, pod);
    }
    return ports;
  }

  private async openGate(namespace: string, pod: Pod, gate: string, health: string): Promise<void> {
    const condition = { type: gate, status: 'True', lastTransitionTime: new Date().toISOString(), reason: health === 'unused' ? 'Target.NotInUse' : 'Healthy' };
    await this.options.api.request('PATCH', `/api/v1/namespaces/${namespace}/pods/${pod.metadata.name}/status`, { status: { conditions: [condition] } }, 'application/strategic-merge-patch+json');
  }

  private async currentTargets(elbv2: ElasticLoadBalancingV2Client, arn: string): Promise<{ active: Map<number, string>; draining: Set<number> } | undefined> {
    try {
      const { TargetHealthDescriptions = [] } = await elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }));
      const active = new Map<number, string>();
      const draining = new Set<number>();
      for (const d of TargetHealthDescriptions) {
        if (d.Target?.Id !== TARGET_IP || d.Target.Port === undefined) continue;
        if (d.TargetHealth?.State === 'draining') draining.add(d.Target.Port);
        else active.set(d.Target.Port, d.TargetHealth?.State ?? 'initial');
      }
      return { active, draining };
    } catch (error) {
      if ((error as { name?: string }).name === 'TargetGroupNotFoundException') return undefined;
      throw error;
    }
  }
}

function conditionTrue(pod: Pod, type: string): boolean {
  return pod.status?.conditions?.some((c) => c.type === type && c.status === 'True') ?? false;
}
