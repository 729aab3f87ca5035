'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- jest loads transformers as CommonJS */
/**
 * Jest 29 loads modules through its own CommonJS runtime, which cannot require() an ES module
 * (Node 20.19+ can, so the workers need nothing like this). The few ESM-only packages behind
 * @kubernetes/client-node are turned into CommonJS as jest loads them; which ones is listed in
 * jest.config.js (ESM_PACKAGES), and docs/decisions.md says why this and not jest's ESM mode.
 */
const { createHash } = require('node:crypto');
const { transformSync, version } = require('esbuild');

module.exports = {
  process(source, path) {
    const { code, map } = transformSync(source, { loader: 'js', format: 'cjs', target: 'node20', sourcemap: 'external', sourcefile: path });
    return { code, map };
  },
  getCacheKey(source, path) {
    return createHash('sha256').update(`esbuild ${version}\0${path}\0${source}`).digest('hex');
  },
};
