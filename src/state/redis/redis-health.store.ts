import { randomUUID } from 'node:crypto';
import { type FailureOutcome, type HealthSettings, HealthStore, type ProviderHealthSnapshot } from '../health.store';
import { InMemoryHealthStore } from '../in-memory-health.store';
import type { StateBackend } from './state-backend';

interface SharedHealth {
  failureCount: number;
  cooldownUntil: number;
  lastError: string | null;
  lastFailureAt: number | null;
  lastSuccessAt: number | null;
}

/**
 * One failure, atomically, so that replicas failing the same provider at once count every failure: the reset
 * timeout, the count, the cooldown (threshold or retry-after, never shortened). KEYS[1] the provider's hash;
 * ARGV: now, error, threshold, cooldown ms, reset timeout ms, retry-after ms. Returns the new fields.
 */
const RECORD_FAILURE = `
local now = tonumber(ARGV[1])
local count = tonumber(redis.call('HGET', KEYS[1], 'failureCount') or '0')
local lastFailure = tonumber(redis.call('HGET', KEYS[1], 'lastFailureAt') or '-1')
local cooldown = tonumber(redis.call('HGET', KEYS[1], 'cooldownUntil') or '0')
local resetMs = tonumber(ARGV[5])
if resetMs > 0 and lastFailure >= 0 and now - lastFailure > resetMs then count = 0 end
count = count + 1
if count >= tonumber(ARGV[3]) then cooldown = math.max(cooldown, now + tonumber(ARGV[4])) end
local retry = tonumber(ARGV[6])
if retry > 0 then cooldown = math.max(cooldown, now + retry) end
redis.call('HSET', KEYS[1], 'failureCount', count, 'cooldownUntil', cooldown, 'lastError', ARGV[2], 'lastFailureAt', now)
return redis.call('HGETALL', KEYS[1])
`;

const SUCCESS_REWRITE_MS = 10_000;

const RECORD_SUCCESS = `
redis.call('HSET', KEYS[1], 'lastSuccessAt', ARGV[1])
if ARGV[2] == '1' then redis.call('HSET', KEYS[1], 'failureCount', 0, 'cooldownUntil', 0) end
return redis.call('HGETALL', KEYS[1])
`;

/**
 * Provider health shared by every replica through Redis. Reads come from a local mirror (routing asks on every
 * request; no round trip for it); every write runs as a script, so failures in a row are counted right under
 * concurrent writers, and is announced on a channel so the other replicas' mirrors follow within moments. While Redis
 * does not answer, this replica decides on its own view; when Redis answers again the shared view is read back.
 */
export class RedisHealthStore extends HealthStore {
  private readonly mirror: InMemoryHealthStore;
  private readonly shared = new Map<string, SharedHealth>();
  private readonly id = randomUUID();

  constructor(
    private readonly backend: StateBackend,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.mirror = new InMemoryHealthStore(now);
    backend.onMessage('health', (message) => {
      const { name, from } = JSON.parse(message) as { name: string; from: string };
      // Its own changes this replica adopted from the script's answer; a late echo could undo a later forget.
      if (from !== this.id) void this.pull(name);
    });
    backend.onReconnect(() => void this.pullAll());
  }

  async open(): Promise<void> {
    await this.pullAll();
  }

  isUsable(name: string): boolean {
    const shared = this.shared.get(name);
    return shared ? shared.cooldownUntil <= this.now() : this.mirror.isUsable(name);
  }

  snapshot(name: string): ProviderHealthSnapshot {
    const shared = this.shared.get(name);
    if (!shared) return this.mirror.snapshot(name);
    const cooling = shared.cooldownUntil > this.now();
    return {
      healthy: !cooling,
      failureCount: shared.failureCount,
      cooldownUntil: cooling ? shared.cooldownUntil : null,
      lastError: shared.lastError,
      lastFailureAt: shared.lastFailureAt,
      lastSuccessAt: shared.lastSuccessAt,
    };
  }

  async recordFailure(
    name: string,
    error: string,
    settings: HealthSettings,
    retryAfterMs?: number,
  ): Promise<FailureOutcome> {
    const wasCooling = !this.isUsable(name);
    const fields = await this.backend.run(() =>
      this.backend.redis.eval(
        RECORD_FAILURE,
        1,
        this.key(name),
        this.now(),
        error,
        settings.unhealthyThreshold,
        settings.failureCooldownSeconds * 1000,
        settings.unhealthyResetTimeoutSeconds * 1000,
        retryAfterMs ?? 0,
      ),
    );
    if (fields === undefined) {
      // Redis is away: this replica decides on its own view until it is back.
      this.shared.delete(name);
      return this.mirror.recordFailure(name, error, settings, retryAfterMs);
    }
    const state = this.adopt(name, fields as string[]);
    this.announce(name);
    const now = this.now();
    return { enteredCooldown: !wasCooling && state.cooldownUntil > now, cooldownUntil: state.cooldownUntil };
  }

  async recordSuccess(name: string, settings: HealthSettings): Promise<void> {
    const shared = this.shared.get(name);
    const now = this.now();
    // A healthy provider's successes change nothing the other replicas act on: write them only now and then.
    if (
      shared &&
      shared.failureCount === 0 &&
      shared.cooldownUntil === 0 &&
      shared.lastSuccessAt !== null &&
      now - shared.lastSuccessAt < SUCCESS_REWRITE_MS
    ) {
      return;
    }
    const fields = await this.backend.run(() =>
      this.backend.redis.eval(
        RECORD_SUCCESS,
        1,
        this.key(name),
        this.now(),
        settings.unhealthyResetOnSuccess ? '1' : '0',
      ),
    );
    if (fields === undefined) {
      this.shared.delete(name);
      return this.mirror.recordSuccess(name, settings);
    }
    this.adopt(name, fields as string[]);
    this.announce(name);
  }

  async expireCooldowns(): Promise<string[]> {
    const now = this.now();
    const recovered: string[] = [];
    for (const [name, state] of this.shared) {
      if (state.cooldownUntil === 0 || state.cooldownUntil > now) continue;
      recovered.push(name);
      state.cooldownUntil = 0;
      state.failureCount = 0;
      // Only a cooldown that is still the one that ran out is cleared: another replica may have started a new one.
      await this.backend.run(() =>
        this.backend.redis.eval(
          "if tonumber(redis.call('HGET', KEYS[1], 'cooldownUntil') or '0') <= tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 'cooldownUntil', 0, 'failureCount', 0) end return 1",
          1,
          this.key(name),
          now,
        ),
      );
    }
    return [...recovered, ...(await this.mirror.expireCooldowns())];
  }

  async retainOnly(names: ReadonlySet<string>): Promise<void> {
    for (const name of [...this.shared.keys()]) {
      if (names.has(name)) continue;
      this.shared.delete(name);
      await this.backend.run(() => this.backend.redis.del(this.key(name)));
    }
    await this.mirror.retainOnly(names);
  }

  private announce(name: string): void {
    void this.backend.publish('health', JSON.stringify({ name, from: this.id }));
  }

  private key(name: string): string {
    return `health:${name}`;
  }

  private adopt(name: string, fields: string[]): SharedHealth {
    const map = new Map<string, string>();
    for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
    const number = (field: string) => (map.has(field) ? Number(map.get(field)) : null);
    const state: SharedHealth = {
      failureCount: number('failureCount') ?? 0,
      cooldownUntil: number('cooldownUntil') ?? 0,
      lastError: map.get('lastError') ?? null,
      lastFailureAt: number('lastFailureAt'),
      lastSuccessAt: number('lastSuccessAt'),
    };
    this.shared.set(name, state);
    return state;
  }

  private async pull(name: string): Promise<void> {
    const fields = await this.backend.run(() => this.backend.redis.hgetall(this.key(name)));
    if (fields === undefined) return;
    if (Object.keys(fields).length === 0) this.shared.delete(name);
    else this.adopt(name, Object.entries(fields).flat());
  }

  private async pullAll(): Promise<void> {
    const keys = await this.backend.scan('health:*');
    await Promise.all(keys.map((key) => this.pull(key.slice('health:'.length))));
  }
}
