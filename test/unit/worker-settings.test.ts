import { workerEnvFrom } from '../../src/workers/settings';
import { InputValidationError } from '../../src/shared/validation';

/** The worker's environment is a boundary: TENANT_FLEET_SHUTDOWN_GRACE is read with the project's duration schema. */
describe('TENANT_FLEET_SHUTDOWN_GRACE', () => {
  it('defaults to 30 s when unset', () => {
    expect(workerEnvFrom({}).TENANT_FLEET_SHUTDOWN_GRACE).toBe(30_000);
  });

  it.each([
    ['60s', 60_000],
    ['1500ms', 1_500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['0s', 0],
  ])('reads %s as %d ms, like every duration in the fleet config', (value, ms) => {
    expect(workerEnvFrom({ TENANT_FLEET_SHUTDOWN_GRACE: value }).TENANT_FLEET_SHUTDOWN_GRACE).toBe(ms);
  });

  it.each(['60', 'soon', '-5s', '1.5m', '30 seconds', ''])('refuses %j naming the variable, the value and the expected form', (value) => {
    let thrown: unknown;
    try {
      workerEnvFrom({ TENANT_FLEET_SHUTDOWN_GRACE: value });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InputValidationError);
    expect((thrown as InputValidationError).problems).toEqual([
      `TENANT_FLEET_SHUTDOWN_GRACE: expected a duration such as "30s", "5m", "2h" or "7d" (got ${JSON.stringify(value)})`,
    ]);
  });
});

/** Role workflows: the memory rule's input and its overrides (src/workers/workflow-memory.ts). */
describe('workflow memory settings', () => {
  const problemsOf = (env: NodeJS.ProcessEnv): string[] => {
    try {
      workerEnvFrom(env);
    } catch (error) {
      return (error as InputValidationError).problems;
    }
    return [];
  };

  it('defaults to 1,024 MiB, the cache of the memory rule and the reusable V8 context', () => {
    const env = workerEnvFrom({});
    expect(env.TENANT_FLEET_WORKER_MEMORY_MIB).toBe(1_024);
    expect(env.TENANT_FLEET_MAX_CACHED_WORKFLOWS).toBeUndefined();
    expect(env.TENANT_FLEET_REUSE_V8_CONTEXT).toBe(true);
  });

  it('reads the values an operator writes', () => {
    const env = workerEnvFrom({ TENANT_FLEET_WORKER_MEMORY_MIB: '2048', TENANT_FLEET_MAX_CACHED_WORKFLOWS: '0', TENANT_FLEET_REUSE_V8_CONTEXT: 'false' });
    expect([env.TENANT_FLEET_WORKER_MEMORY_MIB, env.TENANT_FLEET_MAX_CACHED_WORKFLOWS, env.TENANT_FLEET_REUSE_V8_CONTEXT]).toEqual([2_048, 0, false]);
  });

  it.each([
    [{ TENANT_FLEET_WORKER_MEMORY_MIB: '1g' }, 'TENANT_FLEET_WORKER_MEMORY_MIB: expected a whole number of MiB (got "1g")'],
    [{ TENANT_FLEET_WORKER_MEMORY_MIB: '1.5' }, 'TENANT_FLEET_WORKER_MEMORY_MIB: expected a whole number of MiB (got "1.5")'],
    [{ TENANT_FLEET_WORKER_MEMORY_MIB: '512' }, 'TENANT_FLEET_WORKER_MEMORY_MIB: expected at least 768 MiB (got "512")'],
    [{ TENANT_FLEET_MAX_CACHED_WORKFLOWS: '1' }, 'TENANT_FLEET_MAX_CACHED_WORKFLOWS: expected 0 (no cache) or at least 2 (got "1")'],
    [{ TENANT_FLEET_MAX_CACHED_WORKFLOWS: 'many' }, 'TENANT_FLEET_MAX_CACHED_WORKFLOWS: expected a whole number of workflows (got "many")'],
    [{ TENANT_FLEET_REUSE_V8_CONTEXT: 'yes' }, 'TENANT_FLEET_REUSE_V8_CONTEXT: expected true or false (got "yes")'],
  ])('refuses %j naming the variable and the value', (env, problem) => {
    expect(problemsOf(env)).toEqual([problem]);
  });
});
