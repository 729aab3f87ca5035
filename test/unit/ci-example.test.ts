import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from '../sandbox/tools';

/** The CI example operators copy (infra/ci/release.github-actions.yml), held to least privilege. */
interface Step {
  name?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
}
interface Job {
  'timeout-minutes'?: number;
  permissions?: unknown;
  env?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  permissions?: unknown;
  env?: Record<string, string>;
  jobs: Record<string, Job>;
}

const workflow = parseYaml(readFileSync(join(repoRoot, 'infra', 'ci', 'release.github-actions.yml'), 'utf8')) as Workflow;
const jobs = Object.entries(workflow.jobs);
const usesSecrets = (env: Record<string, string> | undefined) => Object.entries(env ?? {}).filter(([, value]) => /\bsecrets\./.test(String(value)));
/** GitHub-hosted runners end a job after 6 hours. */
const HOSTED_RUNNER_JOB_LIMIT_MINUTES = 360;

describe('the CI example (infra/ci/release.github-actions.yml)', () => {
  it('gives its token read access to the repository contents only', () => {
    expect(workflow.permissions).toEqual({ contents: 'read' });
    for (const [, job] of jobs) expect(job.permissions ?? {}).toEqual({});
  });

  it('stops within the hosted runner limit', () => {
    for (const [name, job] of jobs) {
      expect({ name, timeout: job['timeout-minutes'] }).toEqual({ name, timeout: expect.any(Number) as number });
      expect(job['timeout-minutes']).toBeLessThanOrEqual(HOSTED_RUNNER_JOB_LIMIT_MINUTES);
    }
  });

  it('gives secrets only to the steps that connect to Temporal, never to the whole job', () => {
    expect(usesSecrets(workflow.env)).toEqual([]);
    for (const [, job] of jobs) {
      expect(usesSecrets(job.env)).toEqual([]);
      const withSecrets = job.steps.filter((step) => usesSecrets(step.env).length > 0 || /\bsecrets\./.test(step.run ?? ''));
      expect(withSecrets.map((step) => step.name)).toEqual(['Release']);
    }
  });

  it('pins every action by full commit SHA', () => {
    const uses = jobs.flatMap(([, job]) => job.steps.flatMap((step) => (step.uses ? [step.uses] : [])));
    expect(uses.length).toBeGreaterThan(0);
    for (const action of uses) expect(action).toMatch(/^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@[0-9a-f]{40}$/);
  });
});
