import { parseArgs } from 'node:util';
import type { z } from 'zod';
import type { CliContext } from './context';
import { CliInputError, EXIT_CODE_HELP } from './exit-codes';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder shown in help, e.g. `<tag>`. */
  value?: string;
  description: string;
}

export interface PositionalSpec {
  name: string;
  description: string;
  /** Takes every remaining positional (e.g. several tenant IDs). */
  variadic?: boolean;
}

/** Raw arguments as parseArgs gives them, positionals keyed by their names. */
export type RawArgs = Record<string, string | boolean | string[] | undefined>;

/**
 * One `tenantctl <group> <command>`: its options, examples, a zod schema that validates every
 * argument (so a mistake is refused before anything connects or starts), and what it does.
 */
export interface Command<T = unknown> {
  group: string;
  name: string;
  summary: string;
  positionals?: PositionalSpec[];
  options: Record<string, OptionSpec>;
  examples: string[];
  notes?: string[];
  schema: z.ZodType<T>;
  run(args: T, ctx: CliContext): Promise<number>;
}

/** Declared through this helper so `run` sees the schema's output type. */
export const defineCommand = <T>(command: Command<T>): Command<T> => command;

export interface GlobalOptions {
  json: boolean;
  config?: string;
  by?: string;
  noColor: boolean;
  help: boolean;
}

/** Options every command takes. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  json: { type: 'boolean', description: 'print one machine-readable JSON document on stdout (progress goes to stderr)' },
  config: { type: 'string', value: '<path>', description: 'fleet config file (default: $TENANT_FLEET_CONFIG)' },
  by: { type: 'string', value: '<name>', description: 'who is acting, recorded in history (default: the CI job, else $USER)' },
  'no-color': { type: 'boolean', description: 'no colour even on a terminal (NO_COLOR=1 does the same)' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
};

export interface ParsedCommandLine {
  globals: GlobalOptions;
  raw: RawArgs;
}

/** Splits argv into global options and the command's raw arguments; unknown options are refused. */
export function parseCommandLine(command: Command<unknown>, argv: string[]): ParsedCommandLine {
  const options = { ...GLOBAL_OPTIONS, ...command.options };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: Object.fromEntries(Object.entries(options).map(([name, o]) => [name, o.short ? { type: o.type, short: o.short } : { type: o.type }])),
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new CliInputError([describeParseError(error as Error & { code?: string }, command, options)]);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const raw: RawArgs = {};
  for (const name of Object.keys(command.options)) raw[name] = values[name];

  const specs = command.positionals ?? [];
  const rest = [...parsed.positionals];
  for (const spec of specs) raw[spec.name] = spec.variadic ? rest.splice(0) : rest.shift();
  if (rest.length > 0) {
    throw new CliInputError([
      `${rest[0]}: unexpected argument; \`tenantctl ${command.group} ${command.name}\` takes ${specs.length === 0 ? 'no arguments' : specs.map((s) => `<${s.name}>`).join(' ')} (got ${JSON.stringify(rest)})`,
    ]);
  }
  return {
    raw,
    globals: {
      json: values.json === true,
      config: typeof values.config === 'string' ? values.config : undefined,
      by: typeof values.by === 'string' ? values.by : undefined,
      noColor: values['no-color'] === true,
      help: values.help === true,
    },
  };
}

/** Validates raw arguments with the command's schema; every problem as `--option: problem (got value)`. */
export function validateArgs<T>(command: Command<T>, raw: RawArgs): T {
  const result = command.schema.safeParse(raw);
  if (result.success) return result.data;
  const positionals = new Set((command.positionals ?? []).map((p) => p.name));
  const label = (key: PropertyKey | undefined) =>
    key === undefined ? `tenantctl ${command.group} ${command.name}` : positionals.has(String(key)) ? `<${String(key)}>` : `--${String(key)}`;
  throw new CliInputError(
    result.error.issues.map((issue) => {
      const [key, ...rest] = issue.path;
      const whole = key === undefined ? undefined : raw[String(key)];
      // For one item of a comma list, show that item rather than the whole list.
      const value = typeof whole === 'string' && typeof rest[0] === 'number' ? (whole.split(',')[rest[0]]?.trim() ?? whole) : whole;
      const field = label(key) + rest.map((k) => `[${String(k)}]`).join('');
      return `${field}: ${issue.message} (got ${value === undefined ? 'nothing' : JSON.stringify(value)})`;
    }),
  );
}

function describeParseError(error: Error & { code?: string }, command: Command<unknown>, options: Record<string, OptionSpec>): string {
  const token = /'(-[^' ]*)/.exec(error.message)?.[1] ?? '(argument)';
  const known = Object.keys(options).map((o) => `--${o}`).join(', ');
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `${token}: unknown option for \`tenantctl ${command.group} ${command.name}\`; expected one of ${known} (got ${JSON.stringify(token)})`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/argument missing/.test(error.message)) return `${token}: expected a value after it (got nothing)`;
      if (/ambiguous/.test(error.message)) return `${token}: its value starts with "-"; write ${token}=<value> if that is really meant (got ${JSON.stringify(token)} followed by an option)`;
      return `${token}: ${error.message}`;
    default:
      return `${token}: ${error.message}`;
  }
}

// --- help -------------------------------------------------------------------------------------

const indent = (lines: string[], by = 2) => lines.map((l) => `${' '.repeat(by)}${l}`);

function optionLines(options: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(options).map(([name, o]) => [`${o.short ? `-${o.short}, ` : ''}--${name}${o.value ? ` ${o.value}` : ''}`, o.description] as const);
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `${left.padEnd(width)}  ${right}`);
}

export function commandHelp(command: Command<unknown>): string {
  const positionals = (command.positionals ?? []).map((p) => (p.variadic ? `<${p.name}...>` : `<${p.name}>`)).join(' ');
  const lines = [
    `tenantctl ${command.group} ${command.name}: ${command.summary}`,
    '',
    'Usage:',
    `  tenantctl ${command.group} ${command.name}${positionals ? ` ${positionals}` : ''}${Object.keys(command.options).length ? ' [options]' : ''}`,
  ];
  if (command.positionals?.length) {
    lines.push('', 'Arguments:', ...indent(command.positionals.map((p) => `<${p.name}>  ${p.description}`)));
  }
  if (Object.keys(command.options).length) lines.push('', 'Options:', ...indent(optionLines(command.options)));
  lines.push('', 'Global options:', ...indent(optionLines(GLOBAL_OPTIONS)));
  if (command.notes?.length) lines.push('', ...command.notes);
  lines.push('', 'Examples:', ...indent(command.examples));
  lines.push('', 'Exit codes:', ...indent(EXIT_CODE_HELP));
  return `${lines.join('\n')}\n`;
}

export function groupHelp(group: string, summary: string, commands: Command<unknown>[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = [
    `tenantctl ${group}: ${summary}`,
    '',
    'Commands:',
    ...indent(commands.map((c) => `${c.name.padEnd(width)}  ${c.summary}`)),
    '',
    `Run \`tenantctl ${group} <command> --help\` for a command's options and examples.`,
    '',
    'Examples:',
    ...indent(commands.slice(0, 3).map((c) => c.examples[0] ?? '')),
  ];
  return `${lines.join('\n')}\n`;
}
