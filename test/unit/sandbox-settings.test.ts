import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandbox } from '../sandbox';

/**
 * Bad AWS emulator settings are refused before any server of the sandbox starts, naming the
 * setting (test/sandbox/moto/README.md, "Settings"). The launcher validates them; this checks
 * that startSandbox asks it first, so nothing is left running and the message is one line.
 */
describe('sandbox settings', () => {
  let stateDir: string;
  const saved = { ...process.env };
  beforeEach(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'sandbox-settings-'));
  });
  afterEach(() => {
    process.env = { ...saved };
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('refuses a negative time scale from the environment, naming the variable', async () => {
    process.env.TENANT_FLEET_SANDBOX_TIME_SCALE = '-1';
    await expect(startSandbox({ stateDir, kubernetes: false })).rejects.toThrow(
      /^AWS emulator settings refused: TENANT_FLEET_SANDBOX_TIME_SCALE: expected a number >= 0 \(got "-1"\)$/,
    );
    expect(readdirSync(stateDir)).toEqual([]); // nothing started: no server wrote its state or log
  });

  it('refuses an unknown TENANT_FLEET_SANDBOX_* variable and an unknown settings key', async () => {
    process.env.TENANT_FLEET_SANDBOX_TIMESCALE = '0.1';
    await expect(startSandbox({ stateDir, kubernetes: false })).rejects.toThrow(
      /^AWS emulator settings refused: TENANT_FLEET_SANDBOX_TIMESCALE: unknown sandbox setting \(known: .*TENANT_FLEET_SANDBOX_TIME_SCALE/,
    );
    delete process.env.TENANT_FLEET_SANDBOX_TIMESCALE;
    await expect(startSandbox({ stateDir, kubernetes: false, awsSettings: { timeScale: 'fast' } })).rejects.toThrow(
      /^AWS emulator settings refused: --settings timeScale: expected a number >= 0 \(got "fast"\)$/,
    );
    await expect(startSandbox({ stateDir, kubernetes: false, awsSettings: { snapshotQuotas: 5 } })).rejects.toThrow(
      /^AWS emulator settings refused: --settings: unknown key "snapshotQuotas" \(known: .*snapshotQuota/,
    );
    expect(existsSync(join(stateDir, 'aws'))).toBe(false);
  });
});
