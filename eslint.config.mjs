// Workflow code runs in Temporal's deterministic sandbox: any I/O, clock or Node built-in
// there breaks replay, so the rules for src/workflows/** are stricter than elsewhere.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importPlugin from 'eslint-plugin-import';
import { builtinModules } from 'node:module';
import globals from 'globals';

const nodeBuiltins = builtinModules.flatMap((name) => [name, `node:${name}`]);

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.tools/**', '.sandbox/**', 'coverage/**', 'bench-results/**', 'test/sandbox/kube/**/*.go'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: { ...globals.node },
    },
    plugins: { import: importPlugin },
    settings: { 'import/resolver': { node: { extensions: ['.ts', '.js'] } } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/only-throw-error': 'error',
      'import/no-cycle': 'error',
      'no-console': 'off',
    },
  },
  {
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Workflow code must be deterministic: no Node built-ins.' })),
          patterns: [
            { group: ['@aws-sdk/*', '@kubernetes/*', '@temporalio/client', '@temporalio/worker', '@temporalio/activity'], message: 'Workflow code must not create SDK clients or do I/O; call an activity instead.' },
            { group: ['**/activities/*', '**/activities'], allowTypeImports: true, message: 'Import activities with `import type` and call them through proxyActivities.' },
            { group: ['**/workers/*', '**/client/*'], message: 'Workflow code must not depend on workers or the client.' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'Workflow code must not read the process environment.' },
        { name: 'fetch', message: 'Workflow code must not do I/O; call an activity.' },
      ],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js', 'bin/**'],
    ...tseslint.configs.disableTypeChecked,
  },
);
