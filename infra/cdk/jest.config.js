/** Jest + ts-jest for the CDK assertions tests (test/*.test.ts). tsconfig's isolatedModules makes
 * ts-jest transpile only (fast); scripts/iac.sh type-checks everything with `tsc --noEmit`. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.tsx?$': 'ts-jest',
  },
  // Synthesising the stack takes a few seconds on a busy machine.
  testTimeout: 60000,
  // A fake `cargo` on PATH for every test (no test builds Rust); one worker, so the test files
  // read its call log in turn (and the 2-core machine is not swamped).
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  maxWorkers: 1,
};
