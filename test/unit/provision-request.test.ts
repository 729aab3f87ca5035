import { describeProvisionDifferences, provisionRequestDifferences } from '../../src/client/provision-request';
import type { ProvisionTenantInput } from '../../src/shared/messages/provisioning';
import type { TenantSpec } from '../../src/shared/tenant-spec';

/**
 * The comparison behind `provisionTenant` joining a running provisioning only for the same
 * request. The integration test (tenantctl.test.ts) shows the refusal against a real running
 * workflow; these pin down which differences count and how they are named.
 */
const aws = { accountId: '111111111111', roleArn: 'arn:aws:iam::111111111111:role/fleet-access', externalId: 'ext-1', region: 'eu-west-1' };
const tenant: TenantSpec = {
  id: 'globex',
  environment: 'staging',
  production: false,
  tier: 'standard',
  aws,
  network: { vpcId: 'vpc-1', subnetIds: ['subnet-a', 'subnet-b'] },
  runtime: { kind: 'ecs', cluster: 'ecs-a', clusterName: 'fleet-a', aws, subnetIds: ['subnet-a'], securityGroupIds: [] },
  hostnames: ['globex.a.tenants.test'],
  database: { instanceClass: 'db.r6g.large', engineVersion: '16.4', backupRetentionDays: 7 },
  image: 'registry.test/app',
  replicas: 2,
  alarmNames: [],
};
const running: ProvisionTenantInput = { tenant, initialVersion: '1.0.0', keepPartialOnFailure: false, requestedBy: 'alice' };
const copy = (): ProvisionTenantInput & { tenant: TenantSpec } => structuredClone(running);

describe('provisionRequestDifferences', () => {
  it('finds none for the same request from someone else, with defaults left out and keys in another order', () => {
    const stored: unknown = JSON.parse(JSON.stringify({ requestedBy: 'alice', tenant: { ...tenant } }));
    expect(provisionRequestDifferences(stored, { ...copy(), requestedBy: 'bob' })).toEqual([]);
  });

  it('names each differing field of the spec to the deepest level, with both values', () => {
    const requested = copy();
    requested.tenant.database.instanceClass = 'db.r6g.2xlarge';
    requested.tenant.replicas = 3;
    requested.tenant.hostnames = ['globex.a.tenants.test', 'api.globex.a.tenants.test'];
    expect(provisionRequestDifferences(running, requested)).toEqual([
      { field: 'tenant.database.instanceClass', existing: 'db.r6g.large', requested: 'db.r6g.2xlarge' },
      { field: 'tenant.hostnames', existing: ['globex.a.tenants.test'], requested: ['globex.a.tenants.test', 'api.globex.a.tenants.test'] },
      { field: 'tenant.replicas', existing: 2, requested: 3 },
    ]);
  });

  it('counts the initial version and the failure option, and a field only one side has', () => {
    const requested = copy();
    requested.initialVersion = '2.0.0';
    requested.keepPartialOnFailure = true;
    requested.tenant.healthCheckUrl = 'https://globex.a.tenants.test/healthz';
    expect(provisionRequestDifferences(running, requested).map((d) => d.field)).toEqual(['initialVersion', 'keepPartialOnFailure', 'tenant.healthCheckUrl']);
  });
});

describe('describeProvisionDifferences', () => {
  it('says what is running and how to proceed, then one line per field with both values', () => {
    const lines = describeProvisionDifferences('globex', [{ field: 'tenant.replicas', existing: 2, requested: 3 }]);
    expect(lines[0]).toMatch(/^tenant: the running provisioning of tenant globex was asked for something else \(tenant\.replicas\); wait for it/);
    expect(lines[0]).toContain('(got "globex")');
    expect(lines[1]).toBe('tenant.replicas: differs from the running provisioning of tenant globex, which has 2 (got 3)');
  });
});
