import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { EksTokenAuthenticator, EKS_TOKEN_PREFIX, eksToken } from '../../src/activities/kube-client/eks-token';
import { parseFleetConfig } from '../../src/shared/config/load';
import { InputValidationError } from '../../src/shared/validation';

const credentials = { accessKeyId: 'ASIAEXAMPLEKEY000001', secretAccessKey: 'secret', sessionToken: 'session/token+1' };
const signedAt = new Date('2026-12-01T12:00:00Z');

function urlOf(token: string): URL {
  expect(token.startsWith(EKS_TOKEN_PREFIX)).toBe(true);
  const encoded = token.slice(EKS_TOKEN_PREFIX.length);
  // base64url without padding, as `aws eks get-token` writes it.
  expect(encoded).toMatch(/^[A-Za-z0-9_-]+$/);
  return new URL(Buffer.from(encoded, 'base64url').toString('utf8'));
}

describe('in-process EKS token', () => {
  it('is a presigned STS GetCallerIdentity URL for the region, with the cluster header signed', async () => {
    const url = urlOf(await eksToken({ clusterName: 'prod-eu', region: 'eu-west-1', credentials, now: () => signedAt }));
    expect(url.origin).toBe('https://sts.eu-west-1.amazonaws.com');
    const q = url.searchParams;
    expect(q.get('Action')).toBe('GetCallerIdentity');
    expect(q.get('Version')).toBe('2011-06-15');
    expect(q.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(q.get('X-Amz-Credential')).toBe('ASIAEXAMPLEKEY000001/20261201/eu-west-1/sts/aws4_request');
    expect(q.get('X-Amz-Date')).toBe('20261201T120000Z');
    expect(q.get('X-Amz-Expires')).toBe('60');
    expect(q.get('X-Amz-SignedHeaders')).toBe('host;x-k8s-aws-id');
    expect(q.get('X-Amz-Security-Token')).toBe('session/token+1');
    expect(q.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('signs differently for another cluster name, and points at a given STS endpoint', async () => {
    const sign = (clusterName: string) => eksToken({ clusterName, region: 'us-east-1', credentials, endpoint: 'http://127.0.0.1:5000', now: () => signedAt });
    const [a, b] = [urlOf(await sign('one')), urlOf(await sign('two'))];
    expect(a.origin).toBe('http://127.0.0.1:5000');
    expect(a.searchParams.get('X-Amz-Signature')).not.toBe(b.searchParams.get('X-Amz-Signature'));
  });

  it('is made once and reused by the authenticator, for its own kubeconfig user only', async () => {
    let asked = 0;
    const provider = () => {
      asked++;
      return Promise.resolve(credentials);
    };
    const auth = new EksTokenAuthenticator('eks-token/prod', { clusterName: 'prod', region: 'us-east-1', credentials: provider });
    expect(auth.isAuthProvider({ name: 'eks-token/prod' })).toBe(true);
    expect(auth.isAuthProvider({ name: 'admin' })).toBe(false);
    const first: { headers?: Record<string, unknown> } = {};
    const second: { headers?: Record<string, unknown> } = {};
    await Promise.all([auth.applyAuthentication({ name: 'eks-token/prod' }, first), auth.applyAuthentication({ name: 'eks-token/prod' }, second)]);
    expect(first.headers?.Authorization).toMatch(/^Bearer k8s-aws-v1\./);
    expect(second.headers?.Authorization).toBe(first.headers?.Authorization);
    expect(asked).toBe(1);
  });
});

describe('fleet config kubernetesClusters[].eksToken', () => {
  const example = readFileSync(join(__dirname, '..', '..', 'config', 'fleet.example.yaml'), 'utf8');
  const withEks = (cluster: Record<string, unknown>) => {
    const raw = parse(example) as { kubernetesClusters: Record<string, unknown>[] };
    Object.assign(raw.kubernetesClusters[0]!, cluster);
    return stringify(raw);
  };
  const problems = (text: string): string[] => {
    try {
      parseFleetConfig(text, 'fleet.yaml');
    } catch (error) {
      if (error instanceof InputValidationError) return error.problems;
      throw error;
    }
    throw new Error('expected the config to be refused');
  };

  it('accepts a cluster name, a region and one of the accounts', () => {
    const config = parseFleetConfig(withEks({ eksToken: { clusterName: 'prod-us-east-1', region: 'us-east-1', account: 'shared' } }));
    expect(config.kubernetesClusters[0]?.eksToken).toEqual({ clusterName: 'prod-us-east-1', region: 'us-east-1', account: 'shared' });
  });

  it('names the field of each mistake: an unknown account, a bad cluster name, no kubeconfig', () => {
    expect(problems(withEks({ eksToken: { clusterName: 'prod', region: 'us-east-1', account: 'nobody' } }))).toEqual([
      'kubernetesClusters[0].eksToken.account: unknown account "nobody"; expected one of: acme-prod, shared (got "nobody")',
    ]);
    expect(problems(withEks({ eksToken: { clusterName: 'prod cluster', region: 'us-east-1' } }))[0]).toMatch(/^kubernetesClusters\[0\]\.eksToken\.clusterName: expected an EKS cluster name/);
    expect(problems(withEks({ kubeconfig: undefined, eksToken: { clusterName: 'prod', region: 'us-east-1' } }))[0]).toMatch(/^kubernetesClusters\[0\]\.kubeconfig: eksToken needs a kubeconfig/);
  });
});
