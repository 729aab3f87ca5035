import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const INFRA_DIR = resolve(__dirname, '..', '..', 'infra');

type TemplateName = 'tenant' | 'tenant-traffic' | 'fleet-access-role';

/** A template's revision: the SHA-256 of its text, what a release carrying the template names (docs/releases.md, "Infrastructure changes"). */
export const templateRevision = (body: string) => createHash('sha256').update(body).digest('hex');

/**
 * The CloudFormation templates under infra/ are the single source of truth: activities
 * read them from there, never from copies in code. A file edited while the worker runs is read
 * again (the cache is keyed by its modification time and size), so the revision a release
 * checks is always the text the worker would deploy.
 */
export class TemplateStore {
  private readonly cache = new Map<string, { mtimeMs: number; size: number; body: string }>();

  constructor(private readonly directory = join(INFRA_DIR, 'cloudformation')) {}

  cloudFormation(name: TemplateName): string {
    const path = join(this.directory, `${name}.yaml`);
    const { mtimeMs, size } = statSync(path);
    const cached = this.cache.get(name);
    if (cached && cached.mtimeMs === mtimeMs && cached.size === size) return cached.body;
    const body = readFileSync(path, 'utf8');
    this.cache.set(name, { mtimeMs, size, body });
    return body;
  }

  revision(name: TemplateName): string {
    return templateRevision(this.cloudFormation(name));
  }
}
