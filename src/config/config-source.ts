import { builtInDefault } from './built-in-default';
import { type ConfigOverrides, locateConfigFile, loadConfigFile } from './config-loader';
import type { GatewayConfig } from './gateway-config';

/**
 * Where the config came from, so that a reload reads the same file with the same overrides. On the built-in default
 * (no path), a reload looks for a providers.yaml again, so writing one and reloading needs no restart.
 */
export class ConfigSource {
  constructor(
    private path: string | undefined,
    readonly initial: GatewayConfig,
    private readonly overrides: ConfigOverrides,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  get file(): string | undefined {
    return this.path;
  }

  load(): GatewayConfig {
    this.path ??= locateConfigFile(undefined, this.env);
    return this.path ? loadConfigFile(this.path, this.env, this.overrides) : builtInDefault(this.env, this.overrides);
  }
}
