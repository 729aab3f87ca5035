import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const INFRA_DIR = resolve(__dirname, '..', '..', 'infra');

/**
 * The CloudFormation templates under infra/ are the single source of truth: activities
 * read them from there, never from copies in code.
 */
export class TemplateStore {
  private readonly cache = new Map<string, string>();

  constructor(private readonly directory = join(INFRA_DIR, 'cloudformation')) {}

  cloudFormation(name: 'tenant' | 'tenant-traffic' | 'fleet-access-role'): string {
    let body = this.cache.get(name);
    if (body === undefined) {
      body = readFileSync(join(this.directory, `${name}.yaml`), 'utf8');
      this.cache.set(name, body);
    }
    return body;
  }
}
