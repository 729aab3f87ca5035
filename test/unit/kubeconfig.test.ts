import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { inClusterConnection, kubeconfigConnection, loadKubeConnection } from '../../src/activities/kube-client/kubeconfig';

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
  const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
  mkdirSync(join(dir, 'pki'));
  writeFileSync(join(dir, 'pki', 'ca.crt'), 'STAGING CA');
  writeFileSync(join(dir, 'pki', 'client.crt'), 'FILE CERT');
  writeFileSync(join(dir, 'token'), 'robot-token\n');
  return dir;
}

describe('kubeconfig loading', () => {
  it('uses current-context with inline certificate data, and trims the server URL', () => {
    const connection = kubeconfigConnection(kubeconfig(tempDir()));
    expect(connection.server).toBe('https://prod.example:6443');
    expect(connection.ca?.toString()).toBe('PROD CA');
    expect(connection.cert?.toString()).toBe('CERT');
    expect(connection.key?.toString()).toBe('KEY');
    expect(connection.insecureSkipTlsVerify).toBe(false);
    expect(connection.source).toContain('context "prod-admin"');
  });

  it('resolves file references against the kubeconfig folder and keeps a tokenFile to re-read', () => {
    const dir = tempDir();
    const connection = loadKubeConnection({ kubeconfig: kubeconfig(dir), context: 'staging-robot' });
    expect(connection.server).toBe('https://staging.example:6443');
    expect(connection.ca?.toString()).toBe('STAGING CA');
    expect(connection.tlsServerName).toBe('api.staging');
    expect(connection.tokenFile).toBe(join(dir, 'token'));
    expect(connection.cert).toBeUndefined();
  });

  it('takes a static token and insecure-skip-tls-verify', () => {
    const path = kubeconfig(tempDir(), { user: { 'client-certificate-data': undefined, 'client-key-data': undefined, token: 'abc' }, cluster: { 'insecure-skip-tls-verify': true } });
    const connection = kubeconfigConnection(path);
    expect(connection.token).toBe('abc');
    expect(connection.insecureSkipTlsVerify).toBe(true);
  });

  it('names the missing context and the ones that exist', () => {
    expect(() => kubeconfigConnection(kubeconfig(tempDir()), 'nope')).toThrow(
      /has no context "nope"; expected one of: "prod-admin", "staging-robot", "staging-deployer", "dangling"/,
    );
    expect(() => kubeconfigConnection(kubeconfig(tempDir()), 'dangling')).toThrow(/context "dangling": cluster "nowhere" is not defined; expected one of: "prod", "staging"/);
    expect(() => kubeconfigConnection(kubeconfig(tempDir(), { currentContext: null }))).toThrow(/has no current-context; set "context"/);
  });

  it('names an unreadable referenced file and the field that refers to it', () => {
    expect(() => kubeconfigConnection(kubeconfig(tempDir()), 'staging-deployer')).toThrow(/cannot read client-key "\/abs\/missing.key"/);
  });

  it('refuses exec plugins, half a key pair, bad base64 and a server that is not a URL, each by field', () => {
    const dir = tempDir();
    expect(() => kubeconfigConnection(kubeconfig(dir, { user: { exec: { command: 'aws' } } }))).toThrow(/exec or auth-provider plugin/);
    expect(() => kubeconfigConnection(kubeconfig(dir, { user: { 'client-key-data': undefined } }))).toThrow(/needs its key .* \(got a certificate only\)/);
    expect(() => kubeconfigConnection(kubeconfig(dir, { user: { 'client-key-data': 'not base64!' } }))).toThrow(/client-key-data is not base64 \(got "not base64!"\)/);
    expect(() => kubeconfigConnection(kubeconfig(dir, { cluster: { server: 'prod.example' } }))).toThrow(/clusters\[0\]\.cluster\.server: expected the API server URL.*\(got "prod\.example"\)/);
  });

  it('names the path of a kubeconfig it cannot read', () => {
    expect(() => kubeconfigConnection('/nonexistent/kubeconfig')).toThrow(/cannot read kubeconfig "\/nonexistent\/kubeconfig"/);
  });
});

describe('in-cluster service account', () => {
  it('is used when no kubeconfig is given', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'ca.crt'), 'CLUSTER CA');
    const inCluster = { env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccountDir: dir };
    const connection = loadKubeConnection({}, inCluster);
    expect(connection.server).toBe('https://[fd00::1]:443');
    expect(connection.ca?.toString()).toBe('CLUSTER CA');
    expect(connection.tokenFile).toBe(join(dir, 'token'));
  });

  it('explains what is missing outside a pod', () => {
    expect(() => inClusterConnection({ env: {}, serviceAccountDir: '/nonexistent' })).toThrow(
      /no kubeconfig given and not running in a Kubernetes pod \(KUBERNETES_SERVICE_HOST=null, KUBERNETES_SERVICE_PORT=null\)/,
    );
    expect(() => inClusterConnection({ env: { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccountDir: '/nonexistent' })).toThrow(
      /\/nonexistent\/token does not exist/,
    );
  });
});
