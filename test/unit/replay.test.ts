import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { workflowBundleOptions } from '../../src/workers/bundle';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorsOnlyLogger, installQuietRuntime } from '../support/quiet-runtime';

/**
 * Histories recorded from real sandbox runs (test/integration/histories.ts) replayed against
 * today's workflow code: a change that would break running releases or provisionings fails
 * here, before it reaches a worker. Guard intended changes with `patched()`.
 */
const dir = join(__dirname, '..', 'replay', 'histories');
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

let bundle: WorkflowBundleWithSourceMap;
beforeAll(async () => {
  installQuietRuntime();
  // The product's bundle options (its shared modules, the failure converter): what workers run.
  bundle = await bundleWorkflowCode({ ...workflowBundleOptions(require.resolve('../../src/workflows')), logger: errorsOnlyLogger });
}, 120_000);

describe('recorded histories replay against the current workflow code', () => {
  it('has recorded histories to replay', () => {
    expect(fixtures.length).toBeGreaterThan(0);
  });

  it.each(fixtures)('%s', async (file) => {
    const history = temporal.api.history.v1.History.fromObject(JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>);
    await Worker.runReplayHistory({ workflowBundle: { code: bundle.code } }, history, file.replace(/\.json$/, ''));
  }, 60_000);
});
