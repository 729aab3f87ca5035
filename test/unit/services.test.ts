import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { parseFleetConfig } from '../../src/shared/config/load';
import { resolveTenantSpec, secretScope } from '../../src/shared/config/resolve';
import { refusal } from '../support/refusal';
import { manifestProblems, releaseManifestSchema, releaseTargetFor, uniformTargetFor } from '../../src/shared/release/manifest';
import { workloadSpecFor } from '../../src/workflows/tenant-footprint';

const exampleText = readFileSync(join(__dirname, '..', '..', 'config', 'fleet.example.yaml'), 'utf8');
type Raw = { environments: Record<string, unknown>[]; tenants: Record<string, unknown>[] };

function configWith(edit: (raw: Raw) => void) {
  const raw = parse(exampleText) as Raw;
  edit(raw);
  return parseFleetConfig(stringify(raw));
}

const problemsOf = (edit: (raw: Raw) => void): string[] => refusal(() => configWith(edit));

/** acme (the example's first tenant) with a web, worker and api service; its environment gives the worker's command. */
const threeServices = (raw: Raw) => {
  const acme = raw.tenants[0]!;
  const environment = raw.environments.find((e) => e.name === acme.environment)!;
  environment.services = { worker: { command: ['node', 'worker.js'], environment: { QUEUE: 'jobs', LOG_LEVEL: 'info' } } };
  acme.services = {
    web: { traffic: true, environment: { LOG_LEVEL: 'warn' } },
    worker: { replicas: 2, environment: { LOG_LEVEL: 'debug' }, secrets: { STRIPE_KEY: { ssm: 'stripe/key' } } },
    api: { image: 'ghcr.io/acme/api', cpu: 512, memory: 1024, healthCheck: { command: ['CMD', 'true'] } },
  };
};

describe('services in the fleet config', () => {
  it('resolves a tenant\'s services from its environment\'s and its own, the traffic service first, secrets as ARNs', () => {
    const config = configWith(threeServices);
    const spec = resolveTenantSpec(config, 'acme');
    expect(spec.services?.map((s) => s.name)).toEqual(['web', 'api', 'worker']);
    const worker = spec.services!.find((s) => s.name === 'worker')!;
    expect(worker).toMatchObject({ image: spec.image, command: ['node', 'worker.js'], environment: { LOG_LEVEL: 'debug', QUEUE: 'jobs' }, replicas: 2, cpu: 256, memory: 512, traffic: false });
    expect(worker.secrets.STRIPE_KEY).toBe(`arn:aws:ssm:${spec.aws.region}:${spec.aws.accountId}:parameter/tenant-fleet/acme/stripe/key`);
    expect(spec.services![0]).toMatchObject({ name: 'web', traffic: true, replicas: spec.replicas, environment: { LOG_LEVEL: 'warn' } });
    expect(spec.services!.find((s) => s.name === 'api')).toMatchObject({ image: 'ghcr.io/acme/api', cpu: 512, memory: 1024, healthCheck: { command: ['CMD', 'true'], intervalSeconds: 30 } });
    // Tenants whose config declares none keep the spec they always had.
    expect(resolveTenantSpec(config, 'globex').services).toBeUndefined();
  });

  it("puts an ECS tenant's secrets where its task execution role reads them (the cluster's account and region), a Kubernetes tenant's in its own", () => {
    const tenantAws = { accountId: '222222222222', region: 'eu-west-1', roleArn: 'arn:aws:iam::222222222222:role/Access', externalId: 'x' };
    const cluster = { accountId: '123456789012', region: 'us-east-1', roleArn: 'arn:aws:iam::123456789012:role/Access', externalId: 'x' };
    const ecs = { kind: 'ecs' as const, cluster: 'main', clusterName: 'main', aws: cluster, subnetIds: [], securityGroupIds: [] };
    expect(secretScope('stark', ecs, tenantAws)).toEqual({ tenantId: 'stark', accountId: '123456789012', region: 'us-east-1' });
    expect(secretScope('stark', { kind: 'kubernetes', cluster: 'k', taskQueue: 'k', oidcIssuer: 'https://oidc.example' }, tenantAws)).toEqual({ tenantId: 'stark', accountId: '222222222222', region: 'eu-west-1' });
  });

  it('refuses bad services naming the field and the value', () => {
    const problems = problemsOf((raw) => {
      threeServices(raw);
      const services = raw.tenants[0]!.services as Record<string, Record<string, unknown>>;
      services.Worker2 = {};
      services.green = {};
      services.api!.memory = 4096;
      services.worker!.secrets = { STRIPE_KEY: { vault: 'x' } };
    }).join('\n');
    expect(problems).toMatch(/tenants\[0\]\.services\.Worker2: .*service name/);
    expect(problems).toMatch(/tenants\[0\]\.services\.green: .*choose another name/);
    expect(problems).toMatch(/tenants\[0\]\.services\.worker\.secrets\.STRIPE_KEY: expected a reference, never a value/);
  });

  it('wants exactly one traffic service on a tenant with a load balancer and a size Fargate runs', () => {
    const withLb = (raw: Raw) => {
      threeServices(raw);
      raw.tenants[0]!.loadBalancer = (parse(exampleText) as { loadBalancers?: { name: string }[] }).loadBalancers?.[0]?.name;
    };
    const lbName = (parse(exampleText) as { loadBalancers?: { name: string }[] }).loadBalancers?.[0]?.name;
    if (lbName) {
      expect(problemsOf((raw) => {
        withLb(raw);
        (raw.tenants[0]!.services as Record<string, Record<string, unknown>>).web!.traffic = false;
      }).join('\n')).toMatch(/tenants\[0\]\.services: expected exactly one service with "traffic: true".*none has it/);
    }
    expect(problemsOf((raw) => {
      threeServices(raw);
      (raw.tenants[0]!.services as Record<string, Record<string, unknown>>).api!.memory = 8192;
    }).join('\n')).toMatch(/tenants\[0\]\.services\.api\.memory: Fargate does not run 512 CPU units with 8192 MiB/);
  });
});

describe('release manifests', () => {
  const spec = resolveTenantSpec(configWith(threeServices), 'acme');
  const manifest = releaseManifestSchema.parse({
    version: '2.4.0',
    services: { web: 'ghcr.io/acme/app:2.4.0', worker: 'ghcr.io/acme/app:2.4.0-worker', api: 'ghcr.io/acme/api:7' },
    environment: { worker: { QUEUE: 'jobs-v2', LOG_LEVEL: null } },
  });

  it('refuses a manifest missing a service\'s image, naming the service', () => {
    const missing = releaseManifestSchema.parse({ version: '2.4.0', services: { web: 'ghcr.io/acme/app:2.4.0' }, environment: { cron: { A: 'b' } } });
    expect(manifestProblems(missing, spec)).toEqual([
      'manifest.services.api: tenant acme runs a service "api"; expected an image for it (got none)',
      'manifest.services.worker: tenant acme runs a service "worker"; expected an image for it (got none)',
      'manifest.environment.cron: tenant acme runs no service "cron"; expected one of: web, api, worker',
    ]);
    expect(manifestProblems(manifest, spec)).toEqual([]);
    expect(releaseManifestSchema.safeParse({ version: '2.4.0', services: { web: 'ghcr.io/acme/app' } }).error?.issues[0]?.path).toEqual(['services', 'web']);
  });

  it('turns a manifest into every service\'s target, and a rollback without one into the fleet config\'s values', () => {
    const target = releaseTargetFor(spec, '2.4.0', manifest)!;
    expect(target.services).toEqual([
      { name: 'web', image: 'ghcr.io/acme/app:2.4.0' },
      { name: 'api', image: 'ghcr.io/acme/api:7' },
      { name: 'worker', image: 'ghcr.io/acme/app:2.4.0-worker', environment: { QUEUE: 'jobs-v2', LOG_LEVEL: null } },
    ]);
    const back = uniformTargetFor(spec, '2.3.0', target);
    expect(back.services.find((s) => s.name === 'worker')).toEqual({ name: 'worker', image: `${spec.image}:2.3.0`, environment: { QUEUE: 'jobs', LOG_LEVEL: 'debug' } });
    expect(back.services.find((s) => s.name === 'api')).toEqual({ name: 'api', image: 'ghcr.io/acme/api:2.3.0' });
  });

  it('gives provisioning each service\'s workload with the recorded release\'s images and variables', () => {
    const workload = workloadSpecFor(spec, { version: '2.4.0', stackOutputs: { AppRoleArn: 'arn:aws:iam::1:role/app' }, trafficOutputs: {}, release: releaseTargetFor(spec, '2.4.0', manifest) });
    expect(workload).toMatchObject({ serviceName: 'web', image: 'ghcr.io/acme/app', version: '2.4.0', releaseVersion: '2.4.0' });
    expect(workload.config.LOG_LEVEL).toBe('warn');
    const worker = workload.services!.find((s) => s.name === 'worker')!;
    expect(worker).toMatchObject({ image: 'ghcr.io/acme/app', version: '2.4.0-worker', command: ['node', 'worker.js'], replicas: 2 });
    expect(worker.config).toMatchObject({ QUEUE: 'jobs-v2', TENANT_ID: 'acme' });
    expect(worker.config.LOG_LEVEL).toBeUndefined();
    expect(Object.keys(worker.secrets)).toEqual(['STRIPE_KEY']);
    // A tenant without services and no recorded manifest: the workload it always had.
    const globex = resolveTenantSpec(configWith(() => undefined), 'globex');
    expect(workloadSpecFor(globex, { version: '1.0.0', stackOutputs: {}, trafficOutputs: {} })).not.toHaveProperty('services');
    expect(workloadSpecFor(globex, { version: '1.0.0', stackOutputs: {}, trafficOutputs: {} })).not.toHaveProperty('releaseVersion');
  });
});
