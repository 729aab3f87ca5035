import { userInfo } from 'node:os';

type Env = Record<string, string | undefined>;

/**
 * Who is acting, for `requestedBy` / `by` in history: `--by` wins; otherwise the CI job (so an
 * approval or a release can be traced to the pipeline run that made it), otherwise the login.
 */
export function defaultActor(env: Env): string {
  const actor = ciActor(env) ?? env.USER ?? env.LOGNAME ?? env.USERNAME ?? loginName() ?? 'unknown';
  return actor.slice(0, 200);
}

function ciActor(env: Env): string | undefined {
  if (env.GITHUB_ACTIONS === 'true' && env.GITHUB_RUN_ID) {
    const who = env.GITHUB_ACTOR ? ` (${env.GITHUB_ACTOR})` : '';
    return `github-actions:${env.GITHUB_REPOSITORY ?? 'unknown'}/runs/${env.GITHUB_RUN_ID}${who}`;
  }
  if (env.GITLAB_CI === 'true' && env.CI_JOB_ID) return `gitlab-ci:${env.CI_PROJECT_PATH ?? 'unknown'}/jobs/${env.CI_JOB_ID}`;
  if (env.BUILD_URL) return `ci:${env.BUILD_URL}`; // Jenkins, TeamCity
  if (env.CI_JOB_ID) return `ci-job:${env.CI_JOB_ID}`;
  return undefined;
}

function loginName(): string | undefined {
  try {
    return userInfo().username || undefined;
  } catch {
    // No passwd entry (a container running as an arbitrary UID): fall through to "unknown".
    return undefined;
  }
}
