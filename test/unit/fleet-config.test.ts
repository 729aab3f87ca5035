import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { parseFleetConfig } from '../../src/shared/config/load';
import { TENANT_ERROR_ALARM } from '../../src/shared/config/schema';
import { InputValidationError } from '../../src/shared/validation';

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
