import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_CLI_TYPES } from '../../src/shared/search-attributes';
import { toolsDir } from '../sandbox/tools';
import { sandboxEnv } from './sandbox-env';

/** The sandbox's servers are the real ones, on loopback, with what the project relies on. */
describe('sandbox servers', () => {
  const env = sandboxEnv();

  it('serves the Temporal Web UI and has the custom search attributes registered', async () => {
    const html = await (await fetch(env.TEMPORAL_UI_URL!)).text();
    expect(html).toMatch(/<!doctype html>/i);
    const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS! });
    try {
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: env.TEMPORAL_NAMESPACE! });
      expect(Object.keys(customAttributes ?? {})).toEqual(expect.arrayContaining(Object.keys(SEARCH_ATTRIBUTE_CLI_TYPES)));
    } finally {
      await connection.close();
    }
  });

  it('answers AWS calls on loopback with moto', async () => {
    expect(env.AWS_ENDPOINT_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const sts = new STSClient({
      region: 'us-east-1',
      endpoint: env.AWS_ENDPOINT_URL,
      credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
    });
    expect((await sts.send(new GetCallerIdentityCommand({}))).Account).toBe('123456789012');
    sts.destroy();
  });

  it('runs a real Kubernetes API with Ready nodes', () => {
    const out = execFileSync(join(toolsDir, 'bin', 'kubectl'), ['--kubeconfig', env.KUBECONFIG!, 'get', 'nodes', '-o', 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}'], {
      encoding: 'utf8',
      env: { ...process.env, KUBECACHEDIR: join(env.KUBECONFIG!, '..', 'kubectl-cache') },
    });
    expect(out.trim().split('\n')).toEqual(['True', 'True', 'True']);
  });
});
