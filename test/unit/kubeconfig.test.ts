import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { inClusterAccess, kubeconfigAccess, loadKubeAccess, type KubeAccess } from '../../src/activities/kube-client/kubeconfig';
import { tempDir as freshTempDir } from '../support/temp-dir';

/** The one context the official client's KubeConfig was given. */
function chosen({ config }: KubeAccess) {
  const cluster = config.getCurrentCluster();
  const user = config.getCurrentUser();
  if (!cluster || !user) throw new Error('no current cluster or user');
  return { cluster, user, contexts: config.getContexts().map((c) => c.name) };
}
const decoded = (data: string | undefined) => (data === undefined ? undefined : Buffer.from(data, 'base64').toString());

const b64 = (text: string) => Buffer.from(text).toString('base64');

function kubeconfig(dir: string, overrides: { user?: Record<string, unknown>; cluster?: Record<string, unknown>; currentContext?: string | null } = {}): string {
  const path = join(dir, 'config.yaml');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'prod', cluster: { server: 'https://prod.example:6443/', 'certificate-authority-data': b64('PROD CA'), ...overrides.cluster } },
      { name: 'staging', cluster: { server: 'https://staging.example:6443', 'certificate-authority': 'pki/ca.crt', 'tls-server-name': 'api.staging' } },
    ],
    users: [
      { name: 'admin', user: { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY'), ...overrides.user } },
      { name: 'deployer', user: { 'client-certificate': 'pki/client.crt', 'client-key': '/abs/missing.key' } },
      { name: 'robot', user: { tokenFile: 'token' } },
    ],
    contexts: [
      { name: 'prod-admin', context: { cluster: 'prod', user: 'admin' } },
      { name: 'staging-robot', context: { cluster: 'staging', user: 'robot' } },
      { name: 'staging-deployer', context: { cluster: 'staging', user: 'deployer' } },
      { name: 'dangling', context: { cluster: 'nowhere', user: 'admin' } },
    ],
    ...(overrides.currentContext === null ? {} : { 'current-context': overrides.currentContext ?? 'prod-admin' }),
  };
  writeFileSync(path, stringify(config));
  return path;
}

function tempDir(): string {
  const dir = freshTempDir('kubeconfig-');
  mkdirSync(join(dir, 'pki'));
  writeFileSync(join(dir, 'pki', 'ca.crt'), 'STAGING CA');
  writeFileSync(join(dir, 'pki', 'client.crt'), 'FILE CERT');
  writeFileSync(join(dir, 'token'), 'robot-token\n');
  return dir;
}

describe('kubeconfig loading', () => {
  it('uses current-context with inline certificate data, and trims the server URL', () => {
    const access = kubeconfigAccess(kubeconfig(tempDir()));
    const { cluster, user, contexts } = chosen(access);
    expect(contexts).toEqual(['prod-admin']);
    expect(cluster.server).toBe('https://prod.example:6443');
    expect(decoded(cluster.caData)).toBe('PROD CA');
    expect(decoded(user.certData)).toBe('CERT');
    expect(decoded(user.keyData)).toBe('KEY');
    expect(cluster.skipTLSVerify).toBe(false);
    expect(access.source).toContain('context "prod-admin"');
  });

  it('resolves file references against the kubeconfig folder and hands a tokenFile to the client to re-read', () => {
    const dir = tempDir();
    const { cluster, user } = chosen(loadKubeAccess({ kubeconfig: kubeconfig(dir), context: 'staging-robot' }));
    expect(cluster.server).toBe('https://staging.example:6443');
    expect(cluster.caFile).toBe(join(dir, 'pki', 'ca.crt'));
    expect(cluster.tlsServerName).toBe('api.staging');
    expect(user.authProvider).toEqual({ name: 'tokenFile', config: { tokenFile: join(dir, 'token') } });
    expect(user.certData ?? user.certFile).toBeUndefined();
  });

  it('takes a static token and insecure-skip-tls-verify', () => {
    const path = kubeconfig(tempDir(), { user: { 'client-certificate-data': undefined, 'client-key-data': undefined, token: 'abc' }, cluster: { 'insecure-skip-tls-verify': true } });
    const { cluster, user } = chosen(kubeconfigAccess(path));
    expect(user.token).toBe('abc');
    expect(cluster.skipTLSVerify).toBe(true);
  });

  it('passes an exec credential plugin to the client, a command given as a path taken from the kubeconfig folder', () => {
    const dir = tempDir();
    const exec = { apiVersion: 'client.authentication.k8s.io/v1beta1', command: 'bin/plugin', args: ['--cluster', 'x'], env: [{ name: 'A', value: 'b' }] };
    const { user } = chosen(kubeconfigAccess(kubeconfig(dir, { user: { 'client-certificate-data': undefined, 'client-key-data': undefined, exec } })));
    expect(user.exec).toEqual({ ...exec, command: join(dir, 'bin/plugin') });
    const onPath = chosen(kubeconfigAccess(kubeconfig(dir, { user: { 'client-certificate-data': undefined, 'client-key-data': undefined, exec: { ...exec, command: 'aws' } } })));
    expect(onPath.user.exec).toMatchObject({ command: 'aws' });
  });

  it('names the missing context and the ones that exist', () => {
    expect(() => kubeconfigAccess(kubeconfig(tempDir()), 'nope')).toThrow(
      /has no context "nope"; expected one of: "prod-admin", "staging-robot", "staging-deployer", "dangling"/,
    );
    expect(() => kubeconfigAccess(kubeconfig(tempDir()), 'dangling')).toThrow(/context "dangling": cluster "nowhere" is not defined; expected one of: "prod", "staging"/);
    expect(() => kubeconfigAccess(kubeconfig(tempDir(), { currentContext: null }))).toThrow(/has no current-context; set "context"/);
  });

  it('names an unreadable referenced file and the field that refers to it', () => {
    expect(() => kubeconfigAccess(kubeconfig(tempDir()), 'staging-deployer')).toThrow(/cannot read client-key "\/abs\/missing.key"/);
  });

  it('refuses an exec plugin without its command, half a key pair, bad base64 and a server that is not a URL, each by field', () => {
    const dir = tempDir();
    expect(() => kubeconfigAccess(kubeconfig(dir, { user: { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1' } } }))).toThrow(/users\[0\]\.user\.exec\.command/);
    expect(() => kubeconfigAccess(kubeconfig(dir, { user: { 'client-key-data': undefined } }))).toThrow(/needs its key .* \(got a certificate only\)/);
    expect(() => kubeconfigAccess(kubeconfig(dir, { user: { 'client-key-data': 'not base64!' } }))).toThrow(/client-key-data is not base64 \(got "not base64!"\)/);
    expect(() => kubeconfigAccess(kubeconfig(dir, { cluster: { server: 'prod.example' } }))).toThrow(/clusters\[0\]\.cluster\.server: expected the API server URL.*\(got "prod\.example"\)/);
  });

  it('names the path of a kubeconfig it cannot read', () => {
    expect(() => kubeconfigAccess('/nonexistent/kubeconfig')).toThrow(/cannot read kubeconfig "\/nonexistent\/kubeconfig"/);
  });
});

describe('in-cluster service account', () => {
  it('is used when no kubeconfig is given', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'ca.crt'), 'CLUSTER CA');
    const inCluster = { env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccountDir: dir };
    const { cluster, user } = chosen(loadKubeAccess({}, inCluster));
    expect(cluster.server).toBe('https://[fd00::1]:443');
    expect(cluster.caFile).toBe(join(dir, 'ca.crt'));
    expect(user.authProvider).toEqual({ name: 'tokenFile', config: { tokenFile: join(dir, 'token') } });
  });

  it('explains what is missing outside a pod', () => {
    expect(() => inClusterAccess({ env: {}, serviceAccountDir: '/nonexistent' })).toThrow(
      /no kubeconfig given and not running in a Kubernetes pod \(KUBERNETES_SERVICE_HOST=null, KUBERNETES_SERVICE_PORT=null\)/,
    );
    expect(() => inClusterAccess({ env: { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccountDir: '/nonexistent' })).toThrow(
      /\/nonexistent\/token does not exist/,
    );
  });
});
