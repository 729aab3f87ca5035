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
    expect(canary?.approval).toEqual({ required: true, timeout: 4 * 3_600_000, onTimeout: 'abort' });
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
