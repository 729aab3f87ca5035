// `npm run build` step: the production workflow bundle (workers load it instead of bundling at start).
// An argument writes it elsewhere: scripts/test-integration.sh bundles once for all its test files.
import { join, resolve } from 'node:path';
import { writeWorkflowBundle } from '../src/workers/bundle';

const output = process.argv[2] ? resolve(process.argv[2]) : join(__dirname, '..', 'dist', 'workflow-bundle.js');
writeWorkflowBundle(output).then(
  (path) => console.log(`workflow bundle written to ${path}`),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
