import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { runCliCaptured, OFFLINE_CLI_ENV } from '../support/cli';
import { EXIT } from '../../src/client/cli/exit-codes';
import { planRelease } from '../../src/client/releases';
import { parseFleetConfig } from '../../src/shared/config/load';
import { resolveTenantSpec } from '../../src/shared/config/resolve';
import { reconcileRequestSchema } from '../../src/shared/messages/certificates';
import { provisionTenantInputSchema } from '../../src/shared/messages/provisioning';
import { abortInputSchema, approveInputSchema, pauseInputSchema, releaseWaveInputSchema, skipWindowInputSchema } from '../../src/shared/messages/release';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../src/shared/errors';
import { parseOrFail, parseOrThrow } from '../../src/shared/validation';

/**
 * Generated bad input at every boundary: each one is refused with a message that names the
 * field at fault. (That none of it starts a workflow or reaches AWS or Kubernetes against real
 * servers is test/integration/bad-input.test.ts.)
 */

const EXAMPLE_PATH = join(__dirname, '..', '..', 'config', 'fleet.example.yaml');
const EXAMPLE_TEXT = readFileSync(EXAMPLE_PATH, 'utf8');
const EXAMPLE = parseFleetConfig(EXAMPLE_TEXT, EXAMPLE_PATH);
const RUNS = { numRuns: 150, seed: Number(process.env.FC_SEED ?? 20240901) };

/** Values no field of ours accepts in place of a string ID, tag or name. */
const badString = fc.oneof(
  fc.constantFrom('', ' ', 'UPPER_case!', '-leading-dash', 'has space', 'x'.repeat(300), 'ünïcode', '../etc/passwd', 'a..b', 'semi;colon'),
  fc.string({ minLength: 1, maxLength: 20 }).filter((s) => /[^a-z0-9-]/.test(s) && /^[^a-z]/.test(s)),
);
const notAString = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 2 }), fc.object({ maxDepth: 0 }));

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected the input to be refused, but it was accepted');
}

const setPath = (root: unknown, path: (string | number)[], value: unknown): void => {
  let node = root as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path[path.length - 1]!] = value;
};

const formatPath = (path: (string | number)[]) => path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');

describe('fleet config: every generated mistake is refused and names its field', () => {
  const tenantCount = (parseYaml(EXAMPLE_TEXT) as { tenants: unknown[] }).tenants.length;
  const fields: { field: string; bad: fc.Arbitrary<unknown> }[] = [
    { field: 'id', bad: fc.oneof(badString, notAString) },
    { field: 'runtime', bad: fc.oneof(fc.constantFrom('nomad', 'ECS', 'lambda', ''), notAString) },
    { field: 'hostnames', bad: fc.oneof(fc.constant('not-a-list'), fc.array(fc.constantFrom('UPPER.example.com', 'bad host', '*.*.example.com', ''), { minLength: 1, maxLength: 3 })) },
    { field: 'region', bad: fc.oneof(fc.constantFrom('mars-1', 'US-EAST-1', ''), notAString) },
    { field: 'account', bad: fc.oneof(fc.constantFrom('no-such-account', ''), notAString) },
    { field: 'environment', bad: fc.oneof(fc.constantFrom('no-such-env', ''), notAString) },
  ];

  it('a tenant field replaced by a wrong value', () => {
    fc.assert(
      fc.property(fc.nat({ max: tenantCount - 1 }), fc.constantFrom(...fields), fc.context(), (index, { field, bad }, ctx) => {
        const value = fc.sample(bad, { numRuns: 1, seed: index * 31 + field.length })[0];
        const doc = parseYaml(EXAMPLE_TEXT) as Record<string, unknown>;
        setPath(doc, ['tenants', index, field], value);
        ctx.log(`tenants[${index}].${field} = ${JSON.stringify(value)}`);
        const message = refusal(() => parseFleetConfig(stringifyYaml(doc), 'fleet.yaml'));
        expect(message).toContain(`tenants[${index}].${field}`);
      }),
      RUNS,
    );
  });

  it('a required top-level section or tenant field left out', () => {
    fc.assert(
      fc.property(fc.nat({ max: tenantCount - 1 }), fc.constantFrom('id', 'environment', 'account', 'runtime', 'image', 'hostnames'), (index, field) => {
        const doc = parseYaml(EXAMPLE_TEXT) as { tenants: Record<string, unknown>[] };
        delete doc.tenants[index]![field];
        expect(refusal(() => parseFleetConfig(stringifyYaml(doc), 'fleet.yaml'))).toContain(`tenants[${index}].${field}`);
      }),
      RUNS,
    );
  });
});

describe('maintenance windows and freezes: each mistake is refused, naming the field and the value', () => {
  type Doc = { tenants: Record<string, unknown>[]; environments: Record<string, unknown>[]; freezes?: unknown[] };
  const withConfig = (edit: (doc: Doc) => void) => {
    const doc = parseYaml(EXAMPLE_TEXT) as Doc;
    edit(doc);
    return refusal(() => parseFleetConfig(stringifyYaml(doc), 'fleet.yaml'));
  };
  it.each([
    ['a bad day', 'Sonntag 02:00-04:00 Europe/Berlin', '"Sonntag" is not a day'],
    ['a bad time', 'Sun 25:00-04:00 Europe/Berlin', '"25:00" is not a time of day'],
    ['an empty range', 'Sun 02:00-02:00 Europe/Berlin', 'the window 02:00-02:00 is empty'],
    ['an unknown zone', 'Sun 02:00-04:00 Europe/Atlantis', 'unknown time zone "Europe/Atlantis"'],
    ['no zone at all', 'Sun 02:00-04:00', 'expected "<days> HH:MM-HH:MM <IANA zone>"'],
  ])('a tenant window with %s', (_what, window, problem) => {
    const message = withConfig((doc) => (doc.tenants[1]!.maintenanceWindows = ['Sat 22:00-23:00 UTC', window]));
    expect(message).toContain(`tenants[1].maintenanceWindows[1]: not a maintenance window: ${problem}`);
    expect(message).toContain(`(got ${JSON.stringify(window)})`);
  });

  it("an environment's windows that overlap", () => {
    const message = withConfig((doc) => (doc.environments[0]!.maintenanceWindows = ['Sat 23:00-01:00 UTC', 'Sun 00:30-02:00 UTC']));
    expect(message).toContain('environments[0].maintenanceWindows[1]: overlaps the window "Sat 23:00-01:00 UTC"; merge them into one (got "Sun 00:30-02:00 UTC")');
  });

  it('a freeze whose end is before its start, or that names an unknown environment', () => {
    const ends = withConfig((doc) => (doc.freezes = [{ from: '2026-12-20T00:00:00Z', until: '2026-12-19T00:00:00Z', reason: 'year end' }]));
    expect(ends).toContain('freezes[0].until: ends before it starts (from 2026-12-20T00:00:00Z); expected an end after the start (got "2026-12-19T00:00:00Z")');
    const notADate = withConfig((doc) => (doc.freezes = [{ from: 'next monday', until: '2026-12-19T00:00:00Z', reason: 'x' }]));
    expect(notADate).toContain('freezes[0].from: expected an ISO 8601 date and time with its offset');
    expect(notADate).toContain('(got "next monday")');
    const unknown = withConfig((doc) => (doc.freezes = [{ from: '2026-12-20T00:00:00Z', until: '2027-01-04T00:00:00Z', reason: 'x', environments: ['moon'] }]));
    expect(unknown).toContain('freezes[0].environments[0]: unknown environment');
  });
});

describe('workflow inputs: a mutated field is refused by the schema the workflow re-validates with', () => {
  const tenant = resolveTenantSpec(EXAMPLE, EXAMPLE.tenants[0]!.id);
  const release = planRelease(EXAMPLE, { releaseId: 'r-1', version: '2.0.0', plan: EXAMPLE.releasePlans[0]!.name, requestedBy: 'unit' });

  it('the valid bases parse (so every refusal below is caused by its mutation)', () => {
    expect(releaseWaveInputSchema.safeParse(release).success).toBe(true);
    expect(provisionTenantInputSchema.safeParse({ tenant }).success).toBe(true);
  });

  const cases: { name: string; schema: Parameters<typeof parseOrThrow>[0]; base: () => unknown; paths: (string | number)[][] }[] = [
    { name: 'releaseWave', schema: releaseWaveInputSchema, base: () => structuredClone(release), paths: [['releaseId'], ['version'], ['requestedBy'], ['waves', 0, 'maxInFlight'], ['waves', 0, 'tenants', 0], ['options', 'verifyWindowMs']] },
    { name: 'provisionTenant', schema: provisionTenantInputSchema, base: () => ({ tenant: structuredClone(tenant) }), paths: [['tenant', 'id'], ['tenant', 'hostnames'], ['tenant', 'aws', 'region'], ['tenant', 'environment'], ['initialVersion']] },
    { name: 'reconcile signal', schema: reconcileRequestSchema, base: () => ({ tenantId: 'acme', hostnames: ['acme.example.com'], environment: 'prod' }), paths: [['tenantId'], ['hostnames', 0], ['environment']] },
    { name: 'approve update', schema: approveInputSchema, base: () => ({ by: 'ops' }), paths: [['by'], ['wave']] },
    { name: 'abort update', schema: abortInputSchema, base: () => ({ by: 'ops', reason: 'bad canary' }), paths: [['by'], ['reason'], ['rollback']] },
    { name: 'pause update', schema: pauseInputSchema, base: () => ({ by: 'ops' }), paths: [['by'], ['reason']] },
    { name: 'skipWindow update', schema: skipWindowInputSchema, base: () => ({ by: 'ops', tenant: 'acme', reason: 'customer agreed' }), paths: [['by'], ['tenant'], ['reason']] },
  ];

  it.each(cases)('$name', ({ schema, base, paths }) => {
    fc.assert(
      fc.property(fc.constantFrom(...paths), fc.oneof(notAString, fc.constantFrom('', ' ', '-x', 'UPPER_case!', 'x'.repeat(2_000))), (path, value) => {
        const input = base();
        setPath(input, path, value);
        const result = schema.safeParse(input);
        // Some generated values are valid for some fields ('-x' as a reason, say): only refusals are checked.
        fc.pre(!result.success);
        // The helper workflows and activities validate with: a permanent InvalidInput failure.
        const failure = (() => {
          try {
            parseOrFail(schema, input, 'input');
          } catch (e) {
            return e as ApplicationFailure;
          }
          throw new Error('unreachable');
        })();
        expect(failure).toBeInstanceOf(ApplicationFailure);
        expect(failure).toMatchObject({ type: ErrorType.InvalidInput, nonRetryable: true });
        expect((failure.details as string[]).some((p) => p.startsWith(formatPath(path)))).toBe(true);
      }),
      RUNS,
    );
  });

  it('unknown fields are refused by name, not ignored', () => {
    fc.assert(
      fc.property(fc.constantFrom(...cases), fc.stringMatching(/^[a-z][a-zA-Z]{2,12}$/), ({ schema, base }, key) => {
        const input = base() as Record<string, unknown>;
        fc.pre(!(key in input));
        input[key] = 1;
        const message = refusal(() => parseOrThrow(schema, input, 'input'));
        expect(message).toContain(key);
      }),
      RUNS,
    );
  });
});

describe('tenantctl: generated bad arguments exit 2 naming the option, without connecting', () => {
  // Any attempt to connect would end in exit 4 (cannot connect): 127.0.0.1:1 refuses.
  const cli = (argv: string[]) => runCliCaptured(argv, OFFLINE_CLI_ENV);
  const cliBad = fc.constantFrom('bad tag!', 'UPPER_case!', 'has space', '.dot', 'ünï', 'x'.repeat(300), ';rm -rf');

  it.each(
    [
    ['release', 'start', '--version'],
    ['release', 'start', '--version', '1.0.0', '--release-id'],
    ['release', 'start', '--version', '1.0.0', '--tenants'],
    ['release', 'start', '--version', '1.0.0', '--plan'],
    ['release', 'start', '--version', '1.0.0', '--env'],
    ['release', 'list', '--limit'],
    ['tenant', 'provision'],
    ['release', 'status'],
    ['release', 'skip-window', 'r-1', '--reason', 'ok', '--tenant'],
    ['release', 'rollback'],
    ['release', 'rollback', 'r-1', '--reason', 'ok', '--bake'],
    ].map((argv) => [argv.join(' '), argv] as const),
  )('tenantctl %s <generated>', async (_title, argv) => {
    const option = argv[argv.length - 1]!;
    await fc.assert(
      fc.asyncProperty(cliBad, async (value) => {
        const { code, err } = await cli([...argv, value]);
        expect(code).toBe(EXIT.refused);
        expect(err).toContain('refused, nothing was started');
        expect(err).toContain(option.startsWith('--') ? `${option}` : '<');
      }),
      { numRuns: 25, seed: RUNS.seed },
    );
  });

  it('unknown options are refused by name', async () => {
    await fc.assert(
      fc.asyncProperty(fc.stringMatching(/^[a-z]{3,10}$/), async (name) => {
        fc.pre(!['version', 'tenants', 'plan', 'env', 'wait', 'json', 'config', 'by', 'help', 'watch'].includes(name));
        const { code, err } = await cli(['release', 'start', '--version', '1.0.0', `--${name}x`, 'v']);
        expect(code).toBe(EXIT.refused);
        expect(err).toContain(`--${name}x`);
      }),
      { numRuns: 25, seed: RUNS.seed },
    );
  });
});
