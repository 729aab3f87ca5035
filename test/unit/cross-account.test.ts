import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsClients } from '../../src/activities/aws/clients';
import type { AwsTarget } from '../../src/shared/tenant-spec';

/**
 * Issue #8's rule: the workers reach a tenant account only through its fleet access role, with
 * the account's external ID. Every service client's credentials must come from that AssumeRole,
 * never from the worker's own (IRSA) credentials.
 */
describe('cross-account access', () => {
  const sts = mockClient(STSClient);
  const base = { accessKeyId: 'AKIAWORKERBASE', secretAccessKey: 'base-secret' };
  const acme: AwsTarget = { accountId: '111111111111', region: 'eu-west-1', roleArn: 'arn:aws:iam::111111111111:role/TenantFleetAccess', externalId: 'ext-acme-42' };
  const globex: AwsTarget = { ...acme, accountId: '222222222222', roleArn: 'arn:aws:iam::222222222222:role/TenantFleetAccess', externalId: 'ext-globex-7' };

  beforeEach(() => {
    sts.reset();
    sts.on(AssumeRoleCommand).callsFake((input: { RoleArn: string }) => ({
      Credentials: {
        AccessKeyId: `ASIA-${input.RoleArn.split(':')[4]}`,
        SecretAccessKey: 'assumed-secret',
        SessionToken: 'assumed-token',
        Expiration: new Date(Date.now() + 3_600_000),
      },
    }));
  });

  it('signs every service client with credentials assumed on the account role, passing its external ID', async () => {
    const clients = new AwsClients({ baseCredentials: base, sessionName: 'tenant-fleet-worker' });
    try {
      for (const client of [clients.cloudFormation(acme), clients.ecs(acme), clients.ssm(acme), clients.rds(acme), clients.acm(acme)]) {
        const credentials = await client.config.credentials();
        expect(credentials.accessKeyId).toBe('ASIA-111111111111');
        expect(credentials.accessKeyId).not.toBe(base.accessKeyId);
      }
      expect((await clients.route53(globex).config.credentials()).accessKeyId).toBe('ASIA-222222222222');
      const calls = sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input);
      // One AssumeRole per account role (cached), each with that account's external ID.
      expect(calls).toEqual([
        expect.objectContaining({ RoleArn: acme.roleArn, ExternalId: 'ext-acme-42', RoleSessionName: 'tenant-fleet-worker' }),
        expect.objectContaining({ RoleArn: globex.roleArn, ExternalId: 'ext-globex-7' }),
      ]);
    } finally {
      clients.destroy();
    }
  });

  it('fails the call (and does not fall back to the worker’s own credentials) when AssumeRole is refused', async () => {
    sts.on(AssumeRoleCommand).rejects(Object.assign(new Error('not authorized to perform sts:AssumeRole'), { name: 'AccessDenied' }));
    const clients = new AwsClients({ baseCredentials: base });
    try {
      await expect(clients.cloudFormation(acme).config.credentials()).rejects.toThrow(/sts:AssumeRole/);
    } finally {
      clients.destroy();
    }
  });
});
