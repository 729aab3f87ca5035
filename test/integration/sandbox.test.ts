import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { DescribeDBClustersCommand, RDSClient, StopDBClusterCommand } from '@aws-sdk/client-rds';
import { GetParametersByPathCommand } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { Connection } from '@temporalio/client';
import { AwsClients } from '../../src/activities/aws/clients';
import { loadFleetConfig } from '../../src/shared/config/load';
import { awsTargetFor } from '../../src/shared/config/resolve';
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

  it('enforces IAM: the workers reach an account only through its access role, whose policy refuses other calls naming the action', async () => {
    const credentials = { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! };
    const sts = new STSClient({ region: 'us-east-1', endpoint: env.AWS_ENDPOINT_URL, credentials });
    expect((await sts.send(new GetCallerIdentityCommand({}))).Arn).toBe('arn:aws:iam::123456789012:user/tenant-fleet-worker');
    sts.destroy();
    // The workers' own identity may only assume the access roles.
    const direct = new RDSClient({ region: 'us-east-1', endpoint: env.AWS_ENDPOINT_URL, credentials, maxAttempts: 1 });
    expect(await refusal(direct.send(new DescribeDBClustersCommand({})))).toEqual({
      name: 'AccessDenied',
      status: 403,
      message: expect.stringContaining('arn:aws:iam::123456789012:user/tenant-fleet-worker is not authorized to perform: rds:DescribeDBClusters') as string,
    });
    direct.destroy();

    const config = await loadFleetConfig(env.TENANT_FLEET_CONFIG!);
    const account = config.accounts.find((a) => a.accountId === '111111111111')!;
    const aws = new AwsClients({ endpoint: env.AWS_ENDPOINT_URL, baseCredentials: credentials, maxAttempts: 1 });
    try {
      const target = awsTargetFor(account, 'us-east-1');
      await aws.rds(target).send(new DescribeDBClustersCommand({}));
      const session = 'arn:aws:sts::111111111111:assumed-role/TenantFleetAccess/tenant-fleet';
      // Actions fleet-access-role.yaml does not grant, in the query (RDS) and JSON (SSM) protocols,
      // each in the shape its SDK parses.
      expect(await refusal(aws.rds(target).send(new StopDBClusterCommand({ DBClusterIdentifier: 'tenant-acme' })))).toEqual({
        name: 'AccessDenied',
        status: 403,
        message: expect.stringContaining(`${session} is not authorized to perform: rds:StopDBCluster`) as string,
      });
      expect(await refusal(aws.ssm(target).send(new GetParametersByPathCommand({ Path: '/tenant-fleet/' })))).toEqual({
        name: 'AccessDeniedException',
        status: 400,
        message: expect.stringContaining(`${session} is not authorized to perform: ssm:GetParametersByPath`) as string,
      });
    } finally {
      aws.destroy();
    }
  });

  it('runs a real Kubernetes API with Ready nodes', () => {
    const out = execFileSync(join(toolsDir, 'bin', 'kubectl'), ['--kubeconfig', env.KUBECONFIG!, 'get', 'nodes', '-o', 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}'], {
      encoding: 'utf8',
      env: { ...process.env, KUBECACHEDIR: join(env.KUBECONFIG!, '..', 'kubectl-cache') },
    });
    expect(out.trim().split('\n')).toEqual(['True', 'True', 'True']);
  });
});

async function refusal(call: Promise<unknown>): Promise<{ name: string; status?: number; message: string }> {
  const error = (await call.then(
    () => new Error('the call was allowed'),
    (e: unknown) => e,
  )) as Error & { $metadata?: { httpStatusCode?: number } };
  return { name: error.name, status: error.$metadata?.httpStatusCode, message: error.message };
}
