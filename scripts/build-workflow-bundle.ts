// `npm run build` step: the production workflow bundle (workers load it instead of bundling at start).
import { join } from 'node:path';
import { writeWorkflowBundle } from '../src/workers/bundle';

writeWorkflowBundle(join(__dirname, '..', 'dist', 'workflow-bundle.js')).then(
  (path) => console.log(`workflow bundle written to ${path}`),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
