import { randomUUID } from 'node:crypto';
import type { StateBackend } from '../state/redis/state-backend';
import { InMemoryLimitStore, LimitStore, type RateDecision } from './limit.store';

const SERVER_NOW = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`;

/** KEYS[1] the client's window (zset of request ids by time). ARGV: limit, window ms, request id. Server time. */
const HIT = `${SERVER_NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tonumber(oldest[2]) + tonumber(ARGV[2]) - now
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return -1
`;

/** KEYS[1] the client's slots (zset of slot ids by expiry). ARGV: max, ttl ms, slot id. Returns 1 if taken. */
const ACQUIRE = `${SERVER_NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/** KEYS[1] the client's slots. ARGV: ttl ms, then the slot ids still held. */
const RENEW = `${SERVER_NOW}
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`;

/**
 * Limits shared by every replica: each check-and-count is one script on Redis's clock, so two replicas enforce one
 * rpm and one concurrency cap. While Redis does not answer, this replica enforces the limits on its own counts
 * (a limit then holds per replica) rather than refusing or waving everything through.
 */
export class RedisLimitStore extends LimitStore {
  private readonly local = new InMemoryLimitStore();
  private readonly scripts;

  constructor(backend: StateBackend) {
    super();
    this.scripts = {
      hit: backend.script<number>(HIT, 1),
      acquire: backend.script<number>(ACQUIRE, 1),
      renew: backend.script<number>(RENEW, 1),
      release: (client: string, slot: string) => backend.run(() => backend.redis.zrem(slotsKey(client), slot)),
    };
  }

  async hit(client: string, limit: number, windowMs: number): Promise<RateDecision> {
    const wait = await this.scripts.hit(`limit:rpm:${client}`, limit, windowMs, randomUUID());
    if (wait === undefined) return this.local.hit(client, limit, windowMs);
    return wait < 0 ? { allowed: true } : { allowed: false, retryAfterMs: wait };
  }

  async acquire(client: string, slot: string, max: number, ttlMs: number): Promise<boolean> {
    const taken = await this.scripts.acquire(slotsKey(client), max, ttlMs, slot);
    if (taken === undefined) return this.local.acquire(client, slot, max, ttlMs);
    return taken === 1;
  }

  async release(client: string, slot: string): Promise<void> {
    await Promise.all([this.scripts.release(client, slot), this.local.release(client, slot)]);
  }

  async renew(client: string, slots: readonly string[], ttlMs: number): Promise<void> {
    if (slots.length === 0) return;
    await Promise.all([this.scripts.renew(slotsKey(client), ttlMs, ...slots), this.local.renew(client, slots, ttlMs)]);
  }
}

function slotsKey(client: string): string {
  return `limit:slots:${client}`;
}
