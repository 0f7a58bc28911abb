import { calcPrice } from '@pydantic/genai-prices';
import { PriceCatalog } from './price-catalog';

const usage = { input: 1_000, output: 500, cacheRead: 20_000, cacheCreation: 3_000 };

describe('PriceCatalog', () => {
  it('should price a current Claude model as the catalogue does, cache reads and writes at their own rates', () => {
    const catalogue = calcPrice(
      { input_tokens: 24_000, output_tokens: 500, cache_read_tokens: 20_000, cache_write_tokens: 3_000 },
      'claude-sonnet-4-5-20250929',
      { providerId: 'anthropic' },
    );
    const cost = new PriceCatalog([]).cost('claude-sonnet-4-5-20250929', usage);
    expect(catalogue).not.toBeNull();
    expect(cost).toBeCloseTo(catalogue!.total_price, 10);
    // Cache reads are far cheaper than input: all 24k input tokens at the input price would cost more.
    const allInput = new PriceCatalog([]).cost('claude-sonnet-4-5-20250929', {
      ...usage,
      input: 24_000,
      cacheRead: 0,
      cacheCreation: 0,
    });
    expect(cost!).toBeLessThan(allInput!);
  });

  it('should price past a long-context tier as the catalogue does', () => {
    const long = { input: 250_000, output: 1_000, cacheRead: 0, cacheCreation: 0 };
    const catalogue = calcPrice({ input_tokens: 250_000, output_tokens: 1_000 }, 'claude-sonnet-4-5', {
      providerId: 'anthropic',
    });
    expect(new PriceCatalog([]).cost('claude-sonnet-4-5', long)).toBeCloseTo(catalogue!.total_price, 10);
  });

  it('should let an override by glob win, and look a relay’s vendor/model name up as the model', () => {
    const catalog = new PriceCatalog([
      { pattern: 'my-relay-*', input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 },
    ]);
    expect(catalog.cost('my-relay-sonnet', usage)).toBeCloseTo(
      (1_000 * 3 + 500 * 15 + 20_000 * 0.3 + 3_000 * 3.75) / 1e6,
      12,
    );
    expect(catalog.cost('anthropic/claude-haiku-4-5', usage)).toBeCloseTo(
      new PriceCatalog([]).cost('claude-haiku-4-5', usage)!,
      12,
    );
  });

  it('should leave a model nobody prices unpriced, not free', () => {
    expect(new PriceCatalog([]).cost('some-local-model-7b', usage)).toBeUndefined();
  });
});
