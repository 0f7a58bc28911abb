// jest-circus reads testTimeout from the global config only, so the project's own value is applied here.
jest.setTimeout(120_000);
