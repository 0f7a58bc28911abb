import type { StateBackend } from '../../state/redis/state-backend';
import type { CachedAnswer, DedupStoreStats } from '../dedup.store';
import type { ReplayCacheLimits } from '../in-memory-dedup.store';

/*
 * KEYS: [1] the answer's key, [2] recency (zset, scored by a counter), [3] expiry (zset, scored by expiry time),
 * [4] sizes (hash), [5] total bytes, [6] the recency counter. ARGV[1] the signature, ARGV[2] now. An answer's key is
 * the answers' base followed by its signature, so evicting another signature derives its key from KEYS[1].
 */
const PRELUDE = `
local base = string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[1])
local function drop(sig)
  local size = tonumber(redis.call('HGET', KEYS[4], sig) or '0')
  redis.call('DEL', base .. sig)
  redis.call('ZREM', KEYS[2], sig)
  redis.call('ZREM', KEYS[3], sig)
  redis.call('HDEL', KEYS[4], sig)
  if size > 0 then redis.call('DECRBY', KEYS[5], size) end
end
local function dropExpired()
  for _, sig in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[2])) do drop(sig) end
end
`;

/** ARGV[3] the answer, [4] its bytes, [5] when it expires, [6] its TTL in ms, [7] most entries, [8] most bytes. */
const REMEMBER = `${PRELUDE}
dropExpired()
drop(ARGV[1])
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[6])
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[6]), ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[4])
redis.call('INCRBY', KEYS[5], ARGV[4])
while redis.call('ZCARD', KEYS[2]) > tonumber(ARGV[7]) or tonumber(redis.call('GET', KEYS[5]) or '0') > tonumber(ARGV[8]) do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)
  if #oldest == 0 then break end
  drop(oldest[1])
end
return 1
`;

const LOOKUP = `${PRELUDE}
local expires = redis.call('ZSCORE', KEYS[3], ARGV[1])
if not expires then return false end
local answer = redis.call('GET', KEYS[1])
if tonumber(expires) <= tonumber(ARGV[2]) or not answer then
  drop(ARGV[1])
  return false
end
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[6]), ARGV[1])
return answer
`;

const SWEEP = `${PRELUDE}
dropExpired()
return {redis.call('ZCARD', KEYS[2]), tonumber(redis.call('GET', KEYS[5]) or '0')}
`;

/**
 * The replay cache shared by every replica: each answer a key with a native TTL, plus a recency and an expiry index
 * and a byte count, all changed by one script at a time, so that the entry and byte budgets hold for the whole
 * team rather than per replica. While Redis does not answer, nothing is replayed (the request calls upstream).
 */
export class RedisReplayCache {
  private readonly lookup: (...args: (string | number)[]) => Promise<string | null | undefined>;
  private readonly store: (...args: (string | number)[]) => Promise<number | undefined>;
  private readonly sweepScript: (...args: (string | number)[]) => Promise<[number, number] | undefined>;

  constructor(
    backend: StateBackend,
    private readonly limits: () => ReplayCacheLimits,
    private readonly now: () => number,
  ) {
    this.lookup = backend.script(LOOKUP, 6);
    this.store = backend.script(REMEMBER, 6);
    this.sweepScript = backend.script(SWEEP, 6);
  }

  async cached(signature: string): Promise<CachedAnswer | undefined> {
    if (this.limits().ttlMs <= 0) return undefined;
    const found = await this.lookup(...this.keys(signature), signature, this.now());
    return typeof found === 'string' ? (JSON.parse(found) as CachedAnswer) : undefined;
  }

  async remember(signature: string, answer: CachedAnswer): Promise<void> {
    const { ttlMs, maxEntries, maxBytes } = this.limits();
    const bytes = answer.body.length;
    if (ttlMs <= 0 || maxEntries <= 0 || bytes > maxBytes) return;
    const now = this.now();
    await this.store(
      ...this.keys(signature),
      signature,
      now,
      JSON.stringify(answer),
      bytes,
      now + ttlMs,
      ttlMs,
      maxEntries,
      maxBytes,
    );
  }

  async stats(): Promise<Pick<DedupStoreStats, 'cached' | 'cachedBytes'>> {
    const counts = await this.sweep();
    return { cached: counts?.[0] ?? 0, cachedBytes: counts?.[1] ?? 0 };
  }

  async evictExpired(): Promise<void> {
    await this.sweep();
  }

  private async sweep(): Promise<[number, number] | undefined> {
    // The signature argument is empty: the answers' base is then KEYS[1] itself.
    return this.sweepScript(...this.keys(''), '', this.now());
  }

  private keys(signature: string): string[] {
    return [
      `replay:answer:${signature}`,
      'replay:recency',
      'replay:expiry',
      'replay:sizes',
      'replay:bytes',
      'replay:counter',
    ];
  }
}
