import { readFile } from 'node:fs/promises';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { InputValidationError, parseOrThrow } from '../validation';
import { fleetConfigSchema, type FleetConfig } from './schema';

/** Reads and validates a fleet config; kept apart from schema.ts so workflow code never pulls in fs. */
export async function loadFleetConfig(path: string): Promise<FleetConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new Error(`cannot read fleet config "${path}": ${(cause as Error).message}`, { cause });
  }
  return parseFleetConfig(text, path);
}

export function parseFleetConfig(text: string, source = 'fleet config'): FleetConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true });
  } catch (cause) {
    if (cause instanceof YAMLParseError) {
      throw new InputValidationError(source, [`(yaml): ${cause.message}`]);
    }
    throw cause;
  }
  return parseOrThrow(fleetConfigSchema, raw, source);
}
