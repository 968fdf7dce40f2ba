import tseslint from 'typescript-eslint';

export default tseslint.config(
  // scripts/patches: copies of dependency files with PayFlow's fixes, kept in their upstream style.
  { ignores: ['node_modules/**', '.payflow/**', 'dist/**', 'scripts/patches/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test registers tests synchronously; the promises they return are the runner's.
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['test', 'describe', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  // A processor is a pure function of its record and state: no I/O client, no clock, no network
  // (the runtime owns them). The direction of dependencies between folders is app/layering.test.ts.
  {
    files: ['processors/**/*.ts'],
    ignores: ['processors/runtime/**', 'processors/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            'kafkajs',
            'pg',
            'ioredis',
            'fastify',
            '@elastic/elasticsearch',
            '@aws-sdk/client-s3',
            'node:fs',
            'node:net',
            'node:http',
            'node:child_process',
            'node:fs/promises',
          ].map((name) => ({ name, message: 'Processors are pure: I/O belongs to the runtime.' })),
        },
      ],
    },
  },
  { files: ['**/*.mjs'], ...tseslint.configs.disableTypeChecked },
);
