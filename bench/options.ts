import { parseArgs } from 'node:util';
import { z } from 'zod';
import { parseOrThrow } from '../src/shared/validation';
import { workerConfigSchema } from './sim/worker-config';

export const SECTIONS = ['release', 'realistic', 'raw', 'control', 'crash', 'memory', 'provisioning', 'switch-back'] as const;
export type Section = (typeof SECTIONS)[number];

export const USAGE = `npm run bench [-- options]
  --full               also N = 5,000 (the default run is N = 100 and 1,000)
  --tenants 100,1000   the release sizes to measure
  --step-ms 100        injected latency of each simulated step (8 per tenant)
  --raw 500            trivial workflows in the raw-throughput measure
  --realistic 1000     tenants in the realistic release (8 steps × --realistic-step-ms, 50 in flight)
  --realistic-step-ms 5000
  --memory-tenants 1000  tenants all in flight at once in the memory measure
  --provisioning 100   tenants provisioned at once in the provisioning measure
  --switch-back 3      releases per strategy in the switch-back measure (rolling against blue/green)
  --only a,b           sections: ${SECTIONS.join(', ')}
  --tuning '{...}'     worker options under test, e.g. '{"maxConcurrentWorkflowTaskExecutions":100}'
  --label text         stored with the results (what this run changed)
  --temporal dev       which Temporal to measure: dev (the CLI's dev server), cluster (the
                       production-shaped one: PostgreSQL, 4 shards), both side by side
                       (dev,cluster), or host:port of a running server (nothing started)`;

const optionsSchema = z.strictObject({
  tenants: z.array(z.number().int().min(2).max(20_000)).min(1),
  stepMs: z.number().int().min(0).max(60_000),
  rawWorkflows: z.number().int().min(1).max(20_000),
  realisticTenants: z.number().int().min(2).max(20_000),
  realisticStepMs: z.number().int().min(0).max(60_000),
  memoryTenants: z.number().int().min(2).max(20_000),
  provisioningTenants: z.number().int().min(1).max(1_000),
  switchBackSamples: z.number().int().min(1).max(20),
  sections: z.array(z.enum(SECTIONS)).min(1),
  tuning: workerConfigSchema.shape.tuning,
  label: z.string().max(200).optional(),
  temporal: z
    .array(z.union([z.enum(['dev', 'cluster']), z.string().regex(/^[^:\s,]+:\d+$/, 'expected dev, cluster or host:port')]))
    .min(1)
    .refine((targets) => new Set(targets).size === targets.length, 'each server at most once'),
});
export type BenchOptions = z.output<typeof optionsSchema>;
/** `dev`, `cluster`, or the host:port of a server someone else runs. */
export type BenchTarget = BenchOptions['temporal'][number];

export function parseBenchOptions(argv: string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      full: { type: 'boolean', default: false },
      tenants: { type: 'string' },
      'step-ms': { type: 'string', default: '100' },
      raw: { type: 'string', default: '500' },
      realistic: { type: 'string', default: '1000' },
      'realistic-step-ms': { type: 'string', default: '5000' },
      'memory-tenants': { type: 'string', default: '1000' },
      provisioning: { type: 'string', default: '100' },
      'switch-back': { type: 'string', default: '3' },
      only: { type: 'string' },
      tuning: { type: 'string', default: '{}' },
      label: { type: 'string' },
      temporal: { type: 'string', default: 'dev' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const list = (text: string) => text.split(',').map((s) => s.trim()).filter(Boolean);
  let tuning: unknown;
  try {
    tuning = JSON.parse(values.tuning);
  } catch {
    tuning = values.tuning; // reported by the schema below with the value
  }
  return parseOrThrow(
    optionsSchema,
    {
      tenants: values.tenants ? list(values.tenants).map(Number) : values.full ? [100, 1_000, 5_000] : [100, 1_000],
      stepMs: Number(values['step-ms']),
      rawWorkflows: Number(values.raw),
      realisticTenants: Number(values.realistic),
      realisticStepMs: Number(values['realistic-step-ms']),
      memoryTenants: Number(values['memory-tenants']),
      provisioningTenants: Number(values.provisioning),
      switchBackSamples: Number(values['switch-back']),
      sections: values.only ? list(values.only) : [...SECTIONS],
      tuning,
      label: values.label,
      temporal: list(values.temporal),
    },
    'bench options',
  );
}
