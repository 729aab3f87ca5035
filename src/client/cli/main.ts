import { commandHelp, groupHelp, parseCommandLine, validateArgs, type Command, type GlobalOptions } from './command';
import { CliContext, type CliIo } from './context';
import { applicationFailureOf, CliInputError, EXIT, EXIT_CODE_HELP, exitCodeForError } from './exit-codes';
import { Output, colourWanted, printJson } from './output';
import { certsCommands } from './certs';
import { fleetCommands } from './fleet';
import { releaseCommands } from './release';
import { tenantCommands } from './tenant';
import { tenantInspectCommands } from './tenant-inspect';
import { InputValidationError } from '../../shared/validation';

interface Group {
  summary: string;
  commands: Command<never>[];
}

const GROUPS: Record<string, Group> = {
  tenant: { summary: 'provision, deprovision, list tenants, show their history, resources and what provisioning would change', commands: [...tenantCommands, ...tenantInspectCommands] },
  release: { summary: 'roll a version across the fleet in waves, and steer it (approve, abort, pause, resume)', commands: releaseCommands },
  certs: { summary: "TLS certificates per load balancer: plan (dry run), sync, status", commands: certsCommands },
  fleet: { summary: 'the whole fleet at a glance: versions, failures, pending approvals, certificates due', commands: fleetCommands },
};

const ENVIRONMENT_HELP = [
  'TEMPORAL_ADDRESS            frontend host:port (default 127.0.0.1:7233)',
  'TEMPORAL_NAMESPACE          namespace (default "default")',
  'TEMPORAL_API_KEY            API key (Temporal Cloud); turns TLS on',
  'TEMPORAL_TLS=true, TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH,',
  '  TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME   TLS / mutual TLS',
  'TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE   Temporal\'s client config file (default',
  '  ~/.config/temporalio/temporal.toml) and profile; the variables above override it',
  'TEMPORAL_UI_URL             Temporal Web UI base URL, for the links tenantctl prints',
  'TENANT_FLEET_CONFIG         fleet config file (or --config)',
  'TENANT_FLEET_CODEC_KEYS / TENANT_FLEET_CODEC_KEY_FILE   payload encryption keys (as the workers)',
  'AWS_ENDPOINT_URL, AWS credentials   for `tenant list` and `fleet status` versions (SSM), `tenant diff`',
  '  and `tenant resources` (the credentials assume each account\'s fleet access role, as the workers\')',
  '`. .sandbox/env` sets all of these for the sandbox.',
];

export function mainHelp(): string {
  const width = Math.max(...Object.keys(GROUPS).map((g) => g.length));
  const lines = [
    'tenantctl: provision tenants and roll releases across the fleet, on Temporal',
    '',
    'Usage: tenantctl <group> <command> [arguments] [options]',
    '',
    'Command groups:',
    ...Object.entries(GROUPS).map(([name, g]) => `  ${name.padEnd(width)}  ${g.summary}`),
    '',
    'Commands:',
    ...Object.entries(GROUPS).flatMap(([name, g]) => g.commands.map((c) => `  ${`${name} ${c.name}`.padEnd(20)} ${c.summary}`)),
    '',
    'Examples:',
    '  tenantctl tenant list',
    '  tenantctl release start --version 2.4.0 --release-id "ci-$RUN_ID" --wait --json',
    '  tenantctl release status ci-812 --watch',
    '  tenantctl release approve ci-812 --comment "canary healthy"',
    '  tenantctl certs plan',
    '  tenantctl fleet status',
    '',
    'Every command takes --help, --json (one JSON document on stdout), --config, --by and --no-color.',
    '',
    'Environment:',
    ...ENVIRONMENT_HELP.map((l) => `  ${l}`),
    '',
    'Exit codes:',
    ...EXIT_CODE_HELP.map((l) => `  ${l}`),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Runs one tenantctl invocation and returns its exit code; never calls process.exit, so it can
 * be embedded (and tested) as a library. `io` supplies the streams and environment.
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [groupName, commandName, ...rest] = argv;
  const wantsHelp = (args: (string | undefined)[]) => args.some((a) => a === '--help' || a === '-h');

  if (groupName === undefined || groupName === '--help' || groupName === '-h' || groupName === 'help') {
    (groupName === undefined ? io.stderr : io.stdout).write(mainHelp());
    return groupName === undefined ? EXIT.refused : EXIT.ok;
  }
  const group = GROUPS[groupName];
  if (!group) return refuseEarly(io, argv, [`<group>: unknown command group; expected one of: ${Object.keys(GROUPS).join(', ')} (got ${JSON.stringify(groupName)})`]);
  if (commandName === undefined || commandName === '--help' || commandName === '-h') {
    (commandName === undefined ? io.stderr : io.stdout).write(groupHelp(groupName, group.summary, group.commands));
    return commandName === undefined ? EXIT.refused : EXIT.ok;
  }
  const command = group.commands.find((c) => c.name === commandName) as Command<unknown> | undefined;
  if (!command) {
    return refuseEarly(io, argv, [`<command>: unknown \`tenantctl ${groupName}\` command; expected one of: ${group.commands.map((c) => c.name).join(', ')} (got ${JSON.stringify(commandName)})`]);
  }
  if (wantsHelp(rest)) {
    io.stdout.write(commandHelp(command));
    return EXIT.ok;
  }

  let ctx: CliContext | undefined;
  try {
    const { globals, raw } = parseCommandLine(command, rest);
    ctx = new CliContext(io, globals);
    const args = validateArgs(command, raw);
    return await command.run(args, ctx);
  } catch (error) {
    return report(ctx ?? new CliContext(io, fallbackGlobals(argv)), command, error);
  } finally {
    await ctx?.close();
  }
}

function fallbackGlobals(argv: string[]): GlobalOptions {
  return { json: argv.includes('--json'), noColor: argv.includes('--no-color'), help: false };
}

function refuseEarly(io: CliIo, argv: string[], problems: string[]): number {
  return report(new CliContext(io, fallbackGlobals(argv)), undefined, new CliInputError(problems));
}

/** Prints an error the way people and CI can act on it, and returns its exit code. */
function report(ctx: CliContext, command: Command<unknown> | undefined, error: unknown): number {
  const code = exitCodeForError(error);
  const problems =
    error instanceof CliInputError || error instanceof InputValidationError ? error.problems : [applicationFailureOf(error)?.message ?? (error as Error)?.message ?? String(error)];
  const failure = applicationFailureOf(error);
  const what = command ? `tenantctl ${command.group} ${command.name}` : 'tenantctl';
  const err = new Output(ctx.io.stderr, colourWanted(ctx.io.stderr, ctx.env, ctx.globals.noColor));
  const headline = code === EXIT.refused ? `${what}: refused, nothing was started:` : code === EXIT.cannotConnect ? `${what}: cannot connect:` : `${what}: failed:`;
  err.line(err.paint('red', headline));
  for (const p of problems) err.line(`  ${p}`);
  if (code === EXIT.refused && command && !(error instanceof InputValidationError)) err.line(err.paint('grey', `  (see tenantctl ${command.group} ${command.name} --help)`));
  if (ctx.env.TENANTCTL_DEBUG && error instanceof Error && error.stack) err.line(err.paint('grey', error.stack));
  if (ctx.json) {
    const kind = code === EXIT.refused ? 'refused' : code === EXIT.cannotConnect ? 'cannot-connect' : code === EXIT.aborted ? 'aborted' : 'failed';
    printJson(new Output(ctx.io.stdout, false), { error: { kind, exitCode: code, type: failure?.type, problems } });
  }
  return code;
}
