// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['node_modules/', 'dist/', 'native/*/build/', 'e2e/artifacts/', 'coverage/'],
  },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-bitwise': 'off',
      eqeqeq: ['error', 'always'],
      'no-console': 'off',
    },
  },
  {
    // Main-process logic stays testable without Electron: only src-main/electron/ imports it at
    // run time (type imports are fine).
    files: ['src-main/**/*.ts'],
    ignores: ['src-main/electron/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'electron',
              message: 'Only src-main/electron/ may import Electron.',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  {
    // The renderer reaches main only through window.fz: no Node, no Electron, no main code.
    files: ['src-renderer/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: ['electron'], patterns: ['node:*', '../src-main/*', '../../src-main/*'] },
      ],
    },
  },
  {
    // The engine must stay free of Electron so the gateway and headless client can use it, and
    // free of the portal's server side (signalling core, simulation portal) so the app and the
    // gateway never ship it.
    files: ['src-engine/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['electron'],
          patterns: [
            {
              group: ['**/src-main/**', '**/src-main'],
              message: 'The engine may not import the Electron app.',
            },
            {
              group: ['**/src-portal/**', '**/src-portal'],
              message: 'The engine may not import the portal.',
            },
          ],
        },
      ],
    },
  },
);
