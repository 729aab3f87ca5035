import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { parseFleetConfig } from '../../src/shared/config/load';
import { resolveTenantSpec } from '../../src/shared/config/resolve';
import { TENANT_ERROR_ALARM } from '../../src/shared/config/schema';
import { InputValidationError } from '../../src/shared/validation';
import { expandReleasePlan } from '../../src/shared/release/plan';

const examplePath = join(__dirname, '..', '..', 'config', 'fleet.example.yaml');
const exampleText = readFileSync(examplePath, 'utf8');

function refusal(text: string): InputValidationError {
  try {
    parseFleetConfig(text, 'fleet.yaml');
  } catch (error) {
    if (error instanceof InputValidationError) return error;
    throw error;
  }
  throw new Error('expected the config to be refused');
}

describe('fleet config', () => {
  it('accepts the committed example and fills defaults', () => {
    const config = parseFleetConfig(exampleText);
    expect(config.tenants.map((t) => t.id)).toEqual(['acme', 'globex']);
    const globex = config.tenants.find((t) => t.id === 'globex');
    expect(globex?.database.backupRetentionDays).toBe(7);
    const canary = config.releasePlans[0]?.waves[0];
    expect(canary?.bake).toBe(10 * 60_000);
    expect(canary?.approval).toEqual({ required: true, timeout: 4 * 3_600_000, onTimeout: 'abort', notifyAfter: 3_600_000 });
    expect(config.certificates.renewBefore).toBe(30 * 86_400_000);
  });

  it('lists every one of three distinct mistakes with path and value', () => {
    const raw = parse(exampleText) as { tenants: Record<string, unknown>[]; accounts: Record<string, unknown>[] };
    raw.tenants[0]!.id = 'Tenant_1!';
    raw.tenants[1]!.runtime = 'nomad';
    raw.accounts[0]!.accountId = '12345';
    const error = refusal(stringify(raw));
    expect(error.problems).toHaveLength(3);
    expect(error.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^tenants\[0\]\.id: expected 2-32 lowercase .* \(got "Tenant_1!"\)$/),
        expect.stringMatching(/^tenants\[1\]\.runtime: .*"kubernetes".*"ecs".* \(got "nomad"\)$/),
        expect.stringMatching(/^accounts\[0\]\.accountId: expected a 12-digit AWS account ID .* \(got "12345"\)$/),
      ]),
    );
    expect(error.message).toContain('fleet.yaml is invalid');
  });

  it('checks references between sections', () => {
    const raw = parse(exampleText) as { tenants: Record<string, unknown>[] };
    raw.tenants[0]!.account = 'nobody';
    raw.tenants[1]!.cluster = 'missing';
    raw.tenants[1]!.hostnames = ['acme.app.example.com'];
    const error = refusal(stringify(raw));
    expect(error.problems).toEqual([
      'tenants[0].account: unknown account; expected one of: acme-prod, shared (got "nobody")',
      'tenants[1].cluster: unknown kubernetes cluster; expected one of: eks-us-east-1 (got "missing")',
      'tenants[1].hostnames[0]: hostname already belongs to tenant "acme" (got "acme.app.example.com")',
    ]);
  });

  it('fills the service defaults and refuses a task size Fargate does not run', () => {
    const config = parseFleetConfig(exampleText);
    expect(config.tenants.find((t) => t.id === 'globex')?.service).toEqual({
      port: 8080,
      healthCheck: { path: '/healthz', intervalSeconds: 10, timeoutSeconds: 5, healthyThreshold: 3, unhealthyThreshold: 2 },
      deregistrationDelaySeconds: 30,
      cpu: 256,
      memory: 512,
      logRetentionDays: 30,
    });
    const raw = parse(exampleText) as { tenants: { service?: Record<string, unknown> }[] };
    raw.tenants[0]!.service = { cpu: 256, memory: 4096, logRetentionDays: 8, healthCheck: { intervalSeconds: 5, timeoutSeconds: 5 } };
    expect(refusal(stringify(raw)).problems).toEqual([
      'tenants[0].service.healthCheck.timeoutSeconds: expected timeoutSeconds shorter than intervalSeconds (ALB requires it) (got 5)',
      expect.stringMatching(/^tenants\[0\]\.service\.logRetentionDays: expected one of CloudWatch Logs' retention periods: 1, 3, 5, 7, 14, 30/),
      expect.stringMatching(/^tenants\[0\]\.service\.memory: Fargate does not run 256 CPU units with 4096 MiB; expected 512 to 2048 MiB in steps of 512/),
    ]);
  });

  it('plans the load balancers: rules quota, hostnames per rule, an ECS tenant on a load balancer of its cluster', () => {
    const raw = parse(exampleText) as { tenants: Record<string, unknown>[]; loadBalancers: Record<string, unknown>[] };
    raw.loadBalancers[0]!.rulesQuota = 1;
    raw.tenants.push({ ...raw.tenants[1]!, id: 'hooli', hostnames: ['a.hooli.example.com', 'b.hooli.example.com', 'c.hooli.example.com', 'd.hooli.example.com', 'e.hooli.example.com', 'f.hooli.example.com'] });
    raw.tenants[0]!.loadBalancer = 'public-us-east-1-b';
    const problems = refusal(stringify(raw)).problems;
    expect(problems).toEqual([
      expect.stringMatching(/^tenants\[0\]\.loadBalancer: load balancer "public-us-east-1-b" is in account "shared" us-east-1, but ECS cluster "ecs-eu-west-1" is in account "acme-prod" eu-west-1; expected a load balancer in the cluster's account and region/),
      expect.stringMatching(/^tenants\[2\]\.hostnames: 6 hostnames, but a listener rule matches at most 5/),
      expect.stringMatching(/^loadBalancers\[0\]\.rulesQuota: 2 tenants name load balancer "public-us-east-1", one listener rule each, but it holds at most 1; spread the tenants over more load balancers/),
    ]);
  });

  it('refuses unknown fields instead of ignoring a typo', () => {
    const raw = parse(exampleText) as { tenants: Record<string, unknown>[] };
    raw.tenants[0]!.replicaCount = 3;
    expect(refusal(stringify(raw)).problems).toEqual([expect.stringMatching(/^tenants\[0\]: Unrecognized key: "replicaCount"/)]);
  });

  it('reports malformed durations and wave sizes', () => {
    const raw = parse(exampleText) as { releasePlans: { waves: Record<string, unknown>[] }[] };
    raw.releasePlans[0]!.waves[0]!.bake = 'ten minutes';
    raw.releasePlans[0]!.waves[1]!.tenants = 3;
    const problems = refusal(stringify(raw)).problems;
    expect(problems).toContain('releasePlans[0].waves[0].bake: expected a duration such as "30s", "5m", "2h" or "7d" (got "ten minutes")');
    expect(problems).toContainEqual(expect.stringMatching(/^releasePlans\[0\]\.waves\[1\]: give exactly one of "tenants" \(a count or "rest"\) or "percent" \(got \{"name":"early"/));
  });

  it('reports YAML syntax errors as a refusal, not a crash', () => {
    expect(refusal('version: 1\nenvironments: [\n').problems[0]).toMatch(/^\(yaml\): /);
  });
});

describe('workloads reaching their database', () => {
  type Raw = { accounts: { name: string; network: Record<string, Record<string, unknown>> }[]; ecsClusters: Record<string, unknown>[]; kubernetesClusters: Record<string, unknown>[]; tenants: Record<string, unknown>[] };
  const raw = () => parse(exampleText) as Raw;

  it('refuses an ECS tenant whose cluster VPC is neither its database VPC nor peered with it, naming the field and value', () => {
    const config = raw();
    config.ecsClusters[0]!.vpcId = 'vpc-0c1a55e7';
    expect(refusal(stringify(config)).problems).toEqual([
      'tenants[0].cluster: the database of tenant "acme" cannot admit its workload: the workload runs in vpc-0c1a55e7 (ecsClusters[0].vpcId), which is neither the database\'s VPC vpc-0a1b2c3d4e5f60718 (accounts[name=acme-prod].network.eu-west-1.vpcId) nor peered with it; expected vpc-0c1a55e7 in accounts[name=acme-prod].network.eu-west-1.peeredVpcIds (a VPC peering connection with routes both ways, docs/operators.md) (got "ecs-eu-west-1")',
    ]);
    config.accounts[0]!.network['eu-west-1']!.peeredVpcIds = ['vpc-0c1a55e7'];
    expect(parseFleetConfig(stringify(config)).accounts[0]!.network['eu-west-1']!.peeredVpcIds).toEqual(['vpc-0c1a55e7']);
  });

  it('refuses a cluster in another region than the database, as a peer security group works only within one', () => {
    const config = raw();
    Object.assign(config.ecsClusters[0]!, { account: 'shared', region: 'us-east-1' });
    expect(refusal(stringify(config)).problems).toEqual([
      expect.stringMatching(/^tenants\[0\]\.cluster: the database of tenant "acme" cannot admit its workload: the workload runs in us-east-1 \(accounts\[name=shared\]\.network\.us-east-1\.vpcId\), the database in eu-west-1 .*expected the cluster in eu-west-1 \(got "ecs-eu-west-1"\)$/),
    ]);
  });

  it('gives pods security groups only on a flagged cluster, whose tenants need a load balancer of its account and a reachable database', () => {
    const config = raw();
    config.kubernetesClusters[0]!.securityGroupsForPods = { account: 'acme-prod', region: 'eu-west-1', securityGroupIds: ['sg-0c1a55e7'] };
    expect(refusal(stringify(config)).problems).toEqual([
      expect.stringMatching(/^tenants\[1\]\.loadBalancer: Kubernetes cluster "eks-us-east-1" gives pods security groups .* but load balancer "public-us-east-1" is in account "shared" us-east-1; expected a load balancer in account "acme-prod" eu-west-1/),
      expect.stringMatching(/^tenants\[1\]\.cluster: the database of tenant "globex" cannot admit its workload: the workload runs in eu-west-1/),
    ]);
    config.kubernetesClusters[0]!.securityGroupsForPods = { account: 'shared', region: 'us-east-1', securityGroupIds: ['sg-0c1a55e7'] };
    const parsed = parseFleetConfig(stringify(config));
    expect(resolveTenantSpec(parsed, 'globex')).toMatchObject({ workloadVpcId: 'vpc-0f1e2d3c4b5a69788', runtime: { kind: 'kubernetes', podSecurityGroupIds: ['sg-0c1a55e7'] } });
    // Unflagged: no workload group, and the pods keep their nodes' groups.
    const unflagged = resolveTenantSpec(parseFleetConfig(exampleText), 'globex');
    expect(unflagged.workloadVpcId).toBeUndefined();
    expect(unflagged.runtime).not.toHaveProperty('podSecurityGroupIds');
  });

  it('gives an ECS tenant with a load balancer the workload group in its cluster VPC', () => {
    const config = raw();
    config.accounts[0]!.network['eu-west-1']!.peeredVpcIds = ['vpc-0c1a55e7'];
    config.ecsClusters[0]!.vpcId = 'vpc-0c1a55e7';
    config.tenants[0]!.loadBalancer = 'eu';
    const withLb = { ...config, loadBalancers: [...(config as unknown as { loadBalancers: unknown[] }).loadBalancers, { name: 'eu', account: 'acme-prod', region: 'eu-west-1', listenerArn: 'arn:aws:elasticloadbalancing:eu-west-1:210987654321:listener/app/eu/50dc6c495c0c9188/f2f7dc8efc522ab2', dnsName: 'eu-1.eu-west-1.elb.amazonaws.com' }] };
    expect(resolveTenantSpec(parseFleetConfig(stringify(withLb)), 'acme').workloadVpcId).toBe('vpc-0c1a55e7');
  });
});

describe('the verify window and the alarms', () => {
  it('refuses a window shorter than the error alarm’s evaluation time, naming both', () => {
    const raw = parse(exampleText) as { releasePlans: Record<string, unknown>[] };
    raw.releasePlans[0]!.verifyWindow = '30s';
    expect(refusal(stringify(raw)).problems).toEqual([
      expect.stringMatching(/^releasePlans\[0\]\.verifyWindow: verify window 30s is shorter than the evaluation time of the tenant stack's error alarm, 3m \(period 60 s × 3 evaluation periods, infra\/cloudformation\/tenant\.yaml\).*set verification: metrics \(got "30s"\)$/),
    ]);
  });

  it('accepts it when the verification reads the metrics itself', () => {
    const raw = parse(exampleText) as { releasePlans: Record<string, unknown>[] };
    Object.assign(raw.releasePlans[0]!, { verifyWindow: '30s', verification: 'metrics' });
    expect(parseFleetConfig(stringify(raw)).releasePlans[0]).toMatchObject({ verifyWindow: 30_000, verification: 'metrics' });
  });

  it('knows the evaluation time the tenant template gives its error alarm', () => {
    const template = readFileSync(join(__dirname, '..', '..', 'infra', 'cloudformation', 'tenant.yaml'), 'utf8');
    const alarm = template.slice(template.indexOf('  ErrorRateAlarm:'), template.indexOf('\nOutputs:'));
    expect(Number(/Period: (\d+)/.exec(alarm)?.[1])).toBe(TENANT_ERROR_ALARM.periodSeconds);
    expect(Number(/EvaluationPeriods: (\d+)/.exec(alarm)?.[1])).toBe(TENANT_ERROR_ALARM.evaluationPeriods);
    expect(TENANT_ERROR_ALARM.evaluationMs).toBe(TENANT_ERROR_ALARM.periodSeconds * TENANT_ERROR_ALARM.evaluationPeriods * 1000);
  });
});

describe('release plan strategy (blue/green)', () => {
  type Raw = { releasePlans: Record<string, unknown>[]; loadBalancers: Record<string, unknown>[] };
  const withStrategy = (edit: (raw: Raw) => void): string => {
    const raw = parse(exampleText) as Raw;
    raw.loadBalancers[0]!.testListenerArn = String(raw.loadBalancers[0]!.listenerArn).replace(/[^/]+$/, '0c1d2e3f4a5b6c7d');
    raw.releasePlans[0]!.strategyByEnvironment = { staging: { type: 'blueGreen', steps: [{ weight: 10, bake: '1m' }, { weight: 50, bake: '2m', approval: true }, { weight: 100, bake: '5m' }], blueRetention: '1h' } };
    edit(raw);
    return stringify(raw);
  };
  const staging = (raw: Raw) => (raw.releasePlans[0]!.strategyByEnvironment as Record<string, Record<string, unknown>>).staging!;

  it('defaults to rolling, and a per-environment blueGreen becomes the release of those tenants', () => {
    expect(parseFleetConfig(exampleText).releasePlans[0]!.strategy).toEqual({ type: 'rolling' });
    const config = parseFleetConfig(withStrategy(() => undefined));
    const input = expandReleasePlan(config, { releaseId: 'r1', version: '2.0.0', plan: config.releasePlans[0]!.name, requestedBy: 'test' });
    expect(input.blueGreen).toEqual([
      {
        tenants: ['globex'],
        strategy: { type: 'blueGreen', steps: [{ weight: 10, bakeMs: 60_000 }, { weight: 50, bakeMs: 120_000, approval: true }, { weight: 100, bakeMs: 300_000 }], blueRetentionMs: 3_600_000 },
      },
    ]);
  });

  it.each([
    ['steps not ending at 100', (raw: Raw) => ((staging(raw).steps as { weight: number }[])[2]!.weight = 90), 'releasePlans[0].strategyByEnvironment.staging.steps[2].weight: expected the last step to put 100 % of the traffic on the new colour (got 90)'],
    ['a weight over 100', (raw: Raw) => ((staging(raw).steps as { weight: number }[])[2]!.weight = 150), 'releasePlans[0].strategyByEnvironment.staging.steps[2].weight: expected a weight of at most 100 (percent of the traffic) (got 150)'],
    ['weights not increasing', (raw: Raw) => ((staging(raw).steps as { weight: number }[])[1]!.weight = 10), 'releasePlans[0].strategyByEnvironment.staging.steps[1].weight: expected a weight above the step before\'s 10 (weights only grow) (got 10)'],
    ['a retention shorter than the last bake', (raw: Raw) => (staging(raw).blueRetention = '2m'), 'releasePlans[0].strategyByEnvironment.staging.blueRetention: expected at least the last step\'s bake, 5m: blue must stay warm while the release can still switch back (got 2m)'],
    ['blueGreen on a tenant without a load balancer', (raw: Raw) => (raw.releasePlans[0]!.strategy = staging(raw)), 'no load balancer'],
    ['blueGreen on a load balancer without a test listener', (raw: Raw) => delete raw.loadBalancers[0]!.testListenerArn, 'has no test listener (loadBalancers[name=public-us-east-1].testListenerArn)'],
  ])('refuses %s, naming field and value', (_, edit, expected) => {
    const { problems } = refusal(withStrategy(edit));
    expect(problems.some((p) => p.includes(expected))).toBe(true);
  });
});
