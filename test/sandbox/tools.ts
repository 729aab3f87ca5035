import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
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
