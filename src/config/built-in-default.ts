import type { ConfigOverrides } from './config-loader';
import { buildConfig } from './config-loader';
import type { GatewayConfig } from './gateway-config';

/** What the banner and /providers call the config when no file was named or found. */
export const BUILT_IN_DEFAULT_NAME = '(built-in default: no providers.yaml found)';

/**
 * With no config file, the gateway still serves: Anthropic's API for every model, each teammate's own credential
 * (API key or Claude login) passed through, everything else at its default.
 */
export const BUILT_IN_DEFAULT_DOCUMENT = {
  providers: [
    { name: 'anthropic', type: 'anthropic', base_url: 'https://api.anthropic.com', auth_type: 'passthrough' },
  ],
  model_routes: { '*': [{ provider: 'anthropic', model: 'passthrough', priority: 1 }] },
};

export function builtInDefault(env: NodeJS.ProcessEnv, overrides: ConfigOverrides = {}): GatewayConfig {
  return buildConfig(BUILT_IN_DEFAULT_DOCUMENT, BUILT_IN_DEFAULT_NAME, env, overrides);
}

export const WRITE_A_CONFIG_HINT =
  'Running on the built-in default (Anthropic, each teammate’s own key or Claude login passed through). To add providers, failover, client keys and limits: cp providers.example.yaml providers.yaml, edit it, and restart (or POST /providers/reload).';
