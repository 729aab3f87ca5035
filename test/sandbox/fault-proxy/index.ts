import { join } from 'node:path';
import { startFaultControl } from './control';
import { kubeProxyTls, writeProxiedKubeconfig } from './kube';
import { FaultState, startFaultProxy, type FaultProxy } from './proxy';

export { FaultControlClient } from './control';
export { totals, type CounterRow, type CounterTotals } from './counters';
export { FaultState, startFaultProxy, type FaultProxy } from './proxy';
export { FAULTS, faultRuleSchema, type Fault, type FaultRule, type FaultRuleInput, type Target } from './rules';

export interface FaultProxies {
  state: FaultState;
  aws: FaultProxy;
  kube?: FaultProxy;
  /** A kubeconfig like the cluster's own whose server is the Kubernetes proxy. */
  kubeconfigPath?: string;
  /** The control API (see control.ts), for tests in other processes. */
  controlUrl: string;
  stop(): Promise<void>;
}

/**
 * A fault proxy in front of the AWS emulator and (when given its kubeconfig) the Kubernetes
 * API server, sharing one rule list, one seeded dice and one set of counters, plus the control
 * API. With no rules every request is forwarded untouched.
 */
export async function startFaultProxies(options: { awsEndpoint: string; kubeconfigPath?: string; workDir: string; seed?: number }): Promise<FaultProxies> {
  const state = new FaultState(options.seed ?? Date.now() % 2 ** 31);
  const started: { stop(): Promise<void> }[] = [];
  try {
    const aws = await startFaultProxy({ target: 'aws', upstream: options.awsEndpoint, state });
    started.push(aws);
    let kube: FaultProxy | undefined;
    let kubeconfigPath: string | undefined;
    if (options.kubeconfigPath) {
      const tls = kubeProxyTls(options.kubeconfigPath, join(options.workDir, 'kube-tls'));
      kube = await startFaultProxy({ target: 'kube', tls, state });
      started.push(kube);
      kubeconfigPath = writeProxiedKubeconfig(options.kubeconfigPath, kube.url, join(options.workDir, 'kubeconfig.yaml'));
    }
    const control = await startFaultControl(state);
    started.push(control);
    return {
      state,
      aws,
      kube,
      kubeconfigPath,
      controlUrl: control.url,
      stop: async () => void (await Promise.all(started.map((s) => s.stop()))),
    };
  } catch (error) {
    await Promise.allSettled(started.map((s) => s.stop()));
    throw error;
  }
}
