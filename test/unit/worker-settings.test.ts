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
