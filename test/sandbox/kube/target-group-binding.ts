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
  endpoints?: { conditions?: { ready?: boolean }; targetRef?: { kind?: string; uid?: string } }[];
}

/**
 * The sandbox's stand-in for the AWS Load Balancer Controller's TargetGroupBinding reconciler:
 * the Ready endpoints of the bound Service are the target group's `ip` targets, as the tenant
 * app's loopback address and port (`podPort`); targets of endpoints that went away are
 * deregistered (the load balancer drains them). A binding being deleted has its targets
 * deregistered before its finalizer is removed, as the controller does.
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
    const wanted = deleting ? new Set<number>() : await this.readyPorts(namespace, binding.spec.serviceRef.name);
    if (current === undefined) {
      if (!deleting) throw new Error(`target group ${arn} not found`);
    } else {
      const register = [...wanted].filter((port) => !current.active.has(port));
      const deregister = [...current.active].filter((port) => !wanted.has(port));
      if (register.length > 0) await elbv2.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: register.map((Port) => ({ Id: TARGET_IP, Port })) }));
      if (deregister.length > 0) await elbv2.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: deregister.map((Port) => ({ Id: TARGET_IP, Port })) }));
      this.registered.set(arn, new Set([...current.draining, ...deregister, ...wanted]));
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

  /** The loopback ports of the Service's Ready endpoints whose pods have an app running. */
  private async readyPorts(namespace: string, service: string): Promise<Set<number>> {
    const slices = await this.options.api.request<{ items: EndpointSlice[] }>(
      'GET',
      `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${service}`)}`,
    );
    const ports = new Set<number>();
    for (const endpoint of (slices?.items ?? []).flatMap((s) => s.endpoints ?? [])) {
      if (endpoint.conditions?.ready !== true || endpoint.targetRef?.kind !== 'Pod' || !endpoint.targetRef.uid) continue;
      const port = this.options.podPort(endpoint.targetRef.uid);
      if (port !== undefined) ports.add(port);
    }
    return ports;
  }

  private async currentTargets(elbv2: ElasticLoadBalancingV2Client, arn: string): Promise<{ active: Set<number>; draining: Set<number> } | undefined> {
    try {
      const { TargetHealthDescriptions = [] } = await elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }));
      const active = new Set<number>();
      const draining = new Set<number>();
      for (const d of TargetHealthDescriptions) {
        if (d.Target?.Id !== TARGET_IP || d.Target.Port === undefined) continue;
        (d.TargetHealth?.State === 'draining' ? draining : active).add(d.Target.Port);
      }
      return { active, draining };
    } catch (error) {
      if ((error as { name?: string }).name === 'TargetGroupNotFoundException') return undefined;
      throw error;
    }
  }
}
