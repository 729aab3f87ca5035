/** Two projects: fast unit tests, and integration tests that share one real sandbox per run. */
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.test.json' }];
/** ES-module-only packages that @kubernetes/client-node loads; jest's CommonJS runtime gets them as CommonJS (test/jest/esm-to-cjs.js). */
const ESM_PACKAGES = ['@kubernetes/client-node', 'openid-client', 'oauth4webapi', 'jose', 'jsep', '@jsep-plugin', 'jsonpath-plus', 'rfc4648'];
const transform = { '^.+\\.ts$': tsJest, '^.+\\.js$': '<rootDir>/test/jest/esm-to-cjs.js' };
const transformIgnorePatterns = [`/node_modules/(?!(${ESM_PACKAGES.join('|')})/)`];

module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      roots: ['<rootDir>/test/unit'],
      testMatch: ['**/*.test.ts'],
      transform,
      transformIgnorePatterns,
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      roots: ['<rootDir>/test/integration'],
      testMatch: ['**/*.test.ts'],
      transform,
      transformIgnorePatterns,
      globalSetup: '<rootDir>/test/integration/global-setup.ts',
      globalTeardown: '<rootDir>/test/integration/global-teardown.ts',
      setupFilesAfterEnv: ['<rootDir>/test/integration/setup-timeout.ts'],
    },
  ],
};
