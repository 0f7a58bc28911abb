import type { CachedAnswer } from './dedup.store';
import { InMemoryDedupStore, type ReplayCacheLimits } from './in-memory-dedup.store';
import { SharedCall } from './shared-call';

const answer = (body: string): CachedAnswer => ({ body, status: 200, headers: {}, provider: 'p' });

describe('InMemoryDedupStore', () => {
  let now = 0;
  let limits: ReplayCacheLimits;
  const store = () =>
    new InMemoryDedupStore(
      () => limits,
      () => now,
    );

  beforeEach(() => {
    now = 1000;
    limits = { ttlMs: 10_000, maxEntries: 3, maxBytes: 1000 };
  });

  it('should make the first claim the leader and attach later identical claims to its call', async () => {
    const s = store();
    const first = await s.claim('sig', () => new SharedCall(0));
    const second = await s.claim('sig', () => new SharedCall(0));
    expect(first.leader).toBe(true);
    expect(second.leader).toBe(false);
    expect(second.call).toBe(first.call);
    await s.forget('sig', first.call);
    expect((await s.claim('sig', () => new SharedCall(0))).leader).toBe(true);
  });

  it('should not attach to an aborted call', async () => {
    const s = store();
    const first = await s.claim('sig', () => new SharedCall(0));
    first.call.subscribe().release();
    expect((await s.claim('sig', () => new SharedCall(0))).leader).toBe(true);
  });

  it('should replay until the TTL passes', async () => {
    const s = store();
    await s.remember('a', answer('{"x":1}'));
    expect(await s.cached('a')).toEqual(answer('{"x":1}'));
    now += 10_001;
    expect(await s.cached('a')).toBeUndefined();
    expect(await s.stats()).toEqual({ inflight: 0, cached: 0, cachedBytes: 0 });
  });

  it('should evict the least recently used entry past the size limit or the byte budget', async () => {
    const s = store();
    await s.remember('a', answer('a'));
    await s.remember('b', answer('b'));
    await s.remember('c', answer('c'));
    await s.cached('a');
    await s.remember('d', answer('d'));
    expect(await s.cached('b')).toBeUndefined();
    expect(await s.cached('a')).toBeDefined();
    await s.remember('big', answer('x'.repeat(900)));
    expect((await s.stats()).cachedBytes).toBeLessThanOrEqual(1000);
    expect(await s.cached('big')).toBeDefined();
  });

  it('should free expired answers when swept, without a lookup', async () => {
    const s = store();
    await s.remember('a', answer('{"x":1}'));
    now += 10_001;
    await s.evictExpired();
    now -= 10_001;
    expect(await s.cached('a')).toBeUndefined();
  });

  it('should keep nothing when the TTL is zero', async () => {
    limits = { ...limits, ttlMs: 0 };
    const s = store();
    await s.remember('a', answer('a'));
    expect(await s.cached('a')).toBeUndefined();
  });
});
