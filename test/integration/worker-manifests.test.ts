import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot, toolsDir } from '../sandbox/tools';
import { sandboxEnv } from './sandbox-env';

/**
 * infra/kubernetes/workers through the sandbox's real kube-apiserver with a server-side dry
 * run: schema, defaulting and admission (pod security "restricted" on the namespace) judge
 * them, not a YAML parser. Needs the sandbox's Kubernetes (off with TENANT_FLEET_TEST_KUBE=0).
 */
const env = sandboxEnv();
const kube = env.KUBECONFIG ? describe : describe.skip;

kube('worker manifests on a real API server', () => {
  /** stdout and stderr together: the API server's PodSecurity verdict on Deployments arrives as a warning on stderr. */
  const kubectl = (args: string[], input?: string) => {
    const result = spawnSync(join(toolsDir, 'bin', 'kubectl'), ['--kubeconfig', env.KUBECONFIG!, ...args], {
      encoding: 'utf8',
      input,
      env: { ...process.env, KUBECACHEDIR: join(env.KUBECONFIG!, '..', 'kubectl-cache') },
    });
    const output = `${result.stdout}${result.stderr}`;
    if (result.status !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${result.status}:\n${output}`);
    return output;
  };

  it('are accepted by a server-side dry run, including the restricted pod security level', () => {
    // Namespaced objects can only be dry-run into a namespace that exists.
    kubectl(['apply', '-f', '-'], 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: tenant-fleet\n  labels:\n    pod-security.kubernetes.io/enforce: restricted\n');
    const out = kubectl(['apply', '--dry-run=server', '-k', join(repoRoot, 'infra', 'kubernetes', 'workers')]);
    for (const expected of [
      'deployment.apps/tenant-fleet-workers-workflows',
      'deployment.apps/tenant-fleet-workers-aws',
      'deployment.apps/tenant-fleet-workers-k8s-eu-1',
      'poddisruptionbudget.policy/tenant-fleet-workers-aws',
      'serviceaccount/tenant-fleet-aws-worker',
      'clusterrole.rbac.authorization.k8s.io/tenant-fleet-kubernetes-worker',
    ]) {
      expect(out).toContain(expected);
    }
    expect(out).not.toMatch(/Warning|violate/i);
  });

  it('the same API server warns about a Deployment that breaks the restricted level, so the check above can fail', () => {
    const loose = [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata: { name: loose-probe, namespace: tenant-fleet }',
      'spec:',
      '  selector: { matchLabels: { app: loose } }',
      '  template:',
      '    metadata: { labels: { app: loose } }',
      '    spec: { containers: [{ name: c, image: "busybox:1.36" }] }',
    ].join('\n');
    expect(kubectl(['apply', '--dry-run=server', '-f', '-'], loose)).toMatch(/would violate PodSecurity "restricted/);
  });

  it('a pod that breaks the restricted level is refused there', () => {
    const privileged = [
      'apiVersion: v1',
      'kind: Pod',
      'metadata: { name: privileged-probe, namespace: tenant-fleet }',
      'spec:',
      '  containers: [{ name: c, image: busybox:1.36, securityContext: { privileged: true } }]',
    ].join('\n');
    expect(() => kubectl(['apply', '--dry-run=server', '-f', '-'], privileged)).toThrow(/forbidden|violates PodSecurity/);
  });
});
