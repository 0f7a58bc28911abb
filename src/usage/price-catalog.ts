import { calcPrice } from '@pydantic/genai-prices';
import type { PriceOverride } from '../config/gateway-config';
import type { TokenUsage } from '../messages/token-usage';
import { compileModelPattern } from '../routing/model-pattern';

/** USD per token of each kind, at the price tier one request's input size falls in. */
interface Rates {
  readonly input: number;
  readonly output: number;
  readonly cacheRead: number;
  readonly cacheWrite: number;
}

/** A model in the catalogue: where its price tiers start (input tokens; long-context pricing), and each tier's rates. */
interface CataloguedModel {
  readonly tierStarts: readonly number[];
  readonly tiers: Map<number, Rates | undefined>;
}

/**
 * What a call cost in USD: `settings.usage.prices` first (by model glob, in file order), then the genai-prices
 * catalogue. A model neither knows is unpriced (undefined), never free. The catalogue's own calculation validates its
 * data on every call (tens of microseconds); since prices are linear within a tier, each model's rates are worked out
 * from it once per tier and multiplied here.
 */
export class PriceCatalog {
  private readonly overrides: readonly { readonly matches: (model: string) => boolean; readonly rates: Rates }[];
  private readonly catalogued = new Map<string, CataloguedModel | null>();

  constructor(overrides: readonly PriceOverride[]) {
    this.overrides = overrides.map((price) => ({
      matches: compileModelPattern(price.pattern),
      rates: {
        input: price.input / 1e6,
        output: price.output / 1e6,
        cacheRead: price.cacheRead / 1e6,
        cacheWrite: price.cacheWrite / 1e6,
      },
    }));
  }

  /** The cost of one call's usage, or undefined when the model has no price. */
  cost(model: string, usage: TokenUsage): number | undefined {
    const rates = this.ratesFor(model, totalInput(usage));
    if (!rates) return undefined;
    return (
      usage.input * rates.input +
      usage.output * rates.output +
      usage.cacheRead * rates.cacheRead +
      usage.cacheCreation * rates.cacheWrite
    );
  }

  priced(model: string): boolean {
    return this.ratesFor(model, 0) !== undefined;
  }

  private ratesFor(model: string, input: number): Rates | undefined {
    const override = this.overrides.find((price) => price.matches(model));
    if (override) return override.rates;
    const name = catalogueName(model);
    let entry = this.catalogued.get(name);
    if (entry === undefined) {
      entry = catalogueModel(name) ?? null;
      this.catalogued.set(name, entry);
    }
    if (!entry) return undefined;
    // A tier applies once the input is past its start; rates are measured just inside the tier.
    const tier = entry.tierStarts.filter((start) => input > start).length;
    if (!entry.tiers.has(tier))
      entry.tiers.set(tier, catalogueRates(name, tier === 0 ? 1 : entry.tierStarts[tier - 1]! + 1));
    return entry.tiers.get(tier);
  }
}

/** Anthropic reports input in disjoint buckets; the catalogue wants the total, of which cache reads and writes are part. */
function totalInput(usage: TokenUsage): number {
  return usage.input + usage.cacheRead + usage.cacheCreation;
}

/** `anthropic/claude-sonnet-4.5` (a relay's spelling) is priced as Anthropic's `claude-sonnet-4.5`. */
function catalogueName(model: string): string {
  const slash = model.lastIndexOf('/');
  return slash === -1 ? model : model.slice(slash + 1);
}

function priceOf(model: string, usage: Record<string, number>) {
  return calcPrice(usage, model, { providerId: 'anthropic' }) ?? calcPrice(usage, model);
}

/** Whether the catalogue knows the model, and where its tiers start. */
function catalogueModel(model: string): CataloguedModel | undefined {
  const found = priceOf(model, { input_tokens: 1 });
  if (!found) return undefined;
  const starts = new Set<number>();
  for (const value of Object.values(found.model_price)) {
    if (typeof value === 'object') for (const tier of value.tiers) starts.add(tier.start);
  }
  return { tierStarts: [...starts].sort((a, b) => a - b), tiers: new Map() };
}

/** Per-token rates at an input size of `total` tokens, measured from the catalogue's own calculation. */
function catalogueRates(model: string, total: number): Rates | undefined {
  const price = (usage: Record<string, number>) => priceOf(model, usage);
  const plain = price({ input_tokens: total });
  if (!plain) return undefined;
  const withOutput = price({ input_tokens: total, output_tokens: total });
  const withRead = price({ input_tokens: total, cache_read_tokens: total });
  const withWrite = price({ input_tokens: total, cache_write_tokens: total });
  const input = plain.total_price / total;
  return {
    input,
    output: ((withOutput?.total_price ?? plain.total_price) - plain.total_price) / total,
    cacheRead: (withRead?.total_price ?? plain.total_price) / total,
    cacheWrite: (withWrite?.total_price ?? plain.total_price) / total,
  };
}
