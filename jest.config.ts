/** @jest-config-loader esbuild-register */
import type { Config } from 'jest';

const transform: Config['transform'] = { '^.+\\.ts$': '@swc/jest' };

const config: Config = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform,
      rootDir: '.',
      testMatch: ['<rootDir>/src/**/*.spec.ts'],
    },
    {
      displayName: 'middle',
      testEnvironment: 'node',
      transform,
      rootDir: '.',
      testMatch: ['<rootDir>/test/middle/**/*.spec.ts'],
      testTimeout: 30_000,
    },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      transform,
      rootDir: '.',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      testTimeout: 60_000,
      slowTestThreshold: 20,
    },
    {
      displayName: 'resilience',
      testEnvironment: 'node',
      transform,
      rootDir: '.',
      // The soak runs here for two minutes per backend; npm run soak runs it alone for ten.
      testMatch: ['<rootDir>/test/resilience/**/*.spec.ts'],
      testTimeout: 120_000,
      setupFilesAfterEnv: ['<rootDir>/test/resilience/jest.setup.ts'],
      slowTestThreshold: 60,
    },
    {
      displayName: 'soak',
      testEnvironment: 'node',
      transform,
      rootDir: '.',
      testMatch: ['<rootDir>/test/resilience/soak.spec.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/resilience/jest.setup.ts'],
    },
    {
      displayName: 'browser',
      testEnvironment: 'node',
      transform,
      rootDir: '.',
      testMatch: ['<rootDir>/test/browser/**/*.spec.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/browser/jest.setup.ts'],
      slowTestThreshold: 30,
    },
  ],
};

export default config;
