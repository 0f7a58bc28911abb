import { ClientKeyRing } from '../auth/client-key-ring';
import { compileModelPattern } from '../routing/model-pattern';
import { RouteTable } from '../routing/route-table';
import { SecretScrubber } from '../common/secret-scrubber';
import { PriceCatalog } from '../usage/price-catalog';
import type { ClientConfig, GatewayConfig } from './gateway-config';

/**
 * Everything derived from one config load, built once and never mutated. A request takes the runtime current when
 * it starts and keeps it to the end, which is what makes a reload atomic for requests in flight.
 */
export class GatewayRuntime {
  readonly routes: RouteTable;
  readonly scrubber: SecretScrubber;
  readonly clientKeys: ClientKeyRing;
  readonly prices: PriceCatalog;
  private readonly allowlists: Map<string, (model: string) => boolean>;

  constructor(readonly config: GatewayConfig) {
    this.routes = new RouteTable(config);
    this.scrubber = new SecretScrubber(config.secrets);
    this.clientKeys = new ClientKeyRing(config.clients);
    this.prices = new PriceCatalog(config.settings.usage.prices);
    this.allowlists = new Map(
      config.clients
        .filter((client) => client.models !== undefined)
        .map((client) => {
          const matchers = (client.models ?? []).map(compileModelPattern);
          return [client.name, (model: string) => matchers.some((match) => match(model))];
        }),
    );
  }

  clientMayUse(client: ClientConfig, model: string): boolean {
    return this.allowlists.get(client.name)?.(model) ?? true;
  }
}
