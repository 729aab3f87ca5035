import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(__dirname, '..', '..');
export const toolsDir = join(repoRoot, '.tools');

/** The Temporal CLI: an explicit path, then one on PATH, then the one scripts/setup.sh built. */
export function temporalCliPath(): string {
  const explicit = process.env.TEMPORAL_CLI_PATH;
  if (explicit && existsSync(explicit)) return explicit;
  try {
    const onPath = execFileSync('bash', ['-c', 'command -v temporal'], { encoding: 'utf8' }).trim();
    if (onPath) return onPath;
  } catch {
    // not on PATH: fall through to the project's own build
  }
  const built = join(toolsDir, 'bin', 'temporal');
  if (existsSync(built)) return built;
  throw new Error('Temporal CLI not found: run `npm run setup` (it builds one into .tools/bin)');
}

export function motoPython(): string {
  const python = join(toolsDir, 'venv', 'bin', 'python');
  if (!existsSync(python)) throw new Error('moto venv not found: run `npm run setup` (it creates .tools/venv)');
  return python;
}

/** The production-shaped Temporal's binaries (scripts/setup-temporal-cluster.sh builds them). */
export function temporalClusterTools(): { server: string; sqlTool: string; uiServer: string } {
  const tools = {
    server: join(toolsDir, 'temporal-server', 'bin', 'server'),
    sqlTool: join(toolsDir, 'temporal-server', 'bin', 'sql'),
    uiServer: join(toolsDir, 'temporal-ui-server', 'bin', 'server'),
  };
  const missing = Object.values(tools).filter((path) => !existsSync(path));
  if (missing.length > 0) throw new Error(`Temporal cluster binaries not found (${missing.join(', ')}): run \`npm run setup\` (scripts/setup-temporal-cluster.sh builds them)`);
  return tools;
}

/** PostgreSQL's bin folder: TENANT_FLEET_POSTGRES_BIN, else the newest Debian package's. */
export function postgresBinDir(): string {
  const explicit = process.env.TENANT_FLEET_POSTGRES_BIN;
  if (explicit) {
    if (!existsSync(join(explicit, 'postgres'))) throw new Error(`TENANT_FLEET_POSTGRES_BIN=${explicit}: expected a folder holding postgres, initdb and pg_isready`);
    return explicit;
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) throw new Error('PostgreSQL not found under /usr/lib/postgresql: run `npm run setup` as root (it installs Debian\'s postgresql), or set TENANT_FLEET_POSTGRES_BIN');
  return join(root, versions[0]!, 'bin');
}
