import type { GatewayConfig, ProviderConfig } from '../config/gateway-config';
import { compileModelPattern } from './model-pattern';

export interface RouteCandidate {
  readonly provider: ProviderConfig;
  /** `passthrough` keeps the client's model name. */
  readonly model: string;
  readonly priority: number;
  readonly weight: number;
  /** Enabled in the route and in the provider entry. */
  readonly enabled: boolean;
}

export interface CompiledRoute {
  readonly pattern: string;
  readonly matches: (model: string) => boolean;
  readonly candidates: readonly RouteCandidate[];
}

/** The routes of one config, compiled once. Candidates are kept in priority order (file order breaks ties). */
export class RouteTable {
  private readonly routes: readonly CompiledRoute[];

  constructor(config: GatewayConfig) {
    const providers = new Map(config.providers.map((p) => [p.name, p]));
    this.routes = config.routes.map((route) => ({
      pattern: route.pattern,
      matches: compileModelPattern(route.pattern),
      candidates: route.candidates
        .flatMap((c): RouteCandidate[] => {
          const provider = providers.get(c.provider);
          if (!provider) return [];
          return [
            {
              provider,
              model: c.model,
              priority: c.priority,
              weight: c.weight ?? provider.weight,
              enabled: c.enabled && provider.enabled,
            },
          ];
        })
        .map((candidate, index) => ({ candidate, index }))
        .sort((a, b) => a.candidate.priority - b.candidate.priority || a.index - b.index)
        .map(({ candidate }) => candidate),
    }));
  }

  /** Routes that apply to a model: an exact key first, then every matching pattern in file order. */
  matching(model: string): CompiledRoute[] {
    const exact = this.routes.find((route) => route.pattern === model);
    const rest = this.routes.filter((route) => route !== exact && route.matches(model));
    return exact ? [exact, ...rest] : rest;
  }

  get patterns(): string[] {
    return this.routes.map((route) => route.pattern);
  }
}
