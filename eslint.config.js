// The linter of `npm run lint` (run by .ci/run): the recommended JavaScript and TypeScript rules over
// the code and the tests, plus the few rules that catch this codebase's real mistakes. Type-aware
// rules would double CI time for little gain: `npm run typecheck` already runs tsc over everything.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**', 'tests/artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: {
        // Node.js and the browser (the console's ES modules); TypeScript checks the rest
        process: 'readonly', Buffer: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly',
        setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', clearImmediate: 'readonly',
        queueMicrotask: 'readonly', performance: 'readonly', URL: 'readonly', URLSearchParams: 'readonly', fetch: 'readonly',
        TextEncoder: 'readonly', TextDecoder: 'readonly', AbortController: 'readonly', structuredClone: 'readonly',
        document: 'readonly', window: 'readonly', sessionStorage: 'readonly', localStorage: 'readonly', navigator: 'readonly',
        location: 'readonly', history: 'readonly', HTMLElement: 'readonly', Node: 'readonly', Event: 'readonly', CustomEvent: 'readonly',
        TextDecoderStream: 'readonly',
      },
    },
    rules: {
      // `_name` marks a value that is deliberately unused (destructured away, a required parameter)
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
      // `const enum Verdict` and declaration merging of Fastify's request are intended
      '@typescript-eslint/no-namespace': 'off',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-console': 'off',
    },
  },
);
