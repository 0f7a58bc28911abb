import { randomUUID } from 'node:crypto';
import type { StateBackend } from '../state/redis/state-backend';
import {
  type AccountState,
  type AccountStatePatch,
  AccountStateStore,
  EMPTY_ACCOUNT_STATE,
  InMemoryAccountStateStore,
  type Park,
} from './account-state.store';

const FAMILY = 'family:';

/**
 * Accounts' windows, parks and throttles shared by the replicas: a hash per account with a field per part of the
 * state (and per parked model family), so that two replicas updating different parts at once lose neither. Reads come
 * from a local mirror that a change notice refreshes; while Redis is away the mirror alone carries on.
 */
export class RedisAccountStateStore extends AccountStateStore {
  private readonly mirror = new InMemoryAccountStateStore();
  private readonly shared = new Map<string, AccountState>();
  private readonly id = randomUUID();

  constructor(private readonly backend: StateBackend) {
    super();
    backend.onMessage('account-state', (message) => {
      const { email, from } = JSON.parse(message) as { email: string; from: string };
      // Its own writes this replica already holds; a late echo could undo a later forget.
      if (from !== this.id) void this.pull(email);
    });
    backend.onReconnect(() => void this.pullAll());
  }

  async open(): Promise<void> {
    await this.pullAll();
  }

  snapshot(email: string): AccountState {
    return this.shared.get(email) ?? this.mirror.snapshot(email);
  }

  async update(email: string, patch: AccountStatePatch): Promise<void> {
    await this.mirror.update(email, patch);
    const { familyParks, ...fields } = patch;
    const entries: string[] = [];
    for (const [field, value] of Object.entries(fields)) entries.push(field, JSON.stringify(value ?? null));
    for (const [family, park] of Object.entries(familyParks ?? {}))
      entries.push(`${FAMILY}${family}`, JSON.stringify(park));
    if (entries.length === 0) return;
    const written = await this.backend.run(() => this.backend.redis.hset(this.key(email), ...entries));
    if (written === undefined) {
      this.shared.delete(email);
      return;
    }
    this.shared.set(email, mergeInto(this.snapshot(email), patch));
    this.announce(email);
  }

  async forget(email: string): Promise<void> {
    await this.mirror.forget(email);
    this.shared.delete(email);
    await this.backend.run(() => this.backend.redis.del(this.key(email)));
    this.announce(email);
  }

  private announce(email: string): void {
    void this.backend.publish('account-state', JSON.stringify({ email, from: this.id }));
  }

  private key(email: string): string {
    return `oauth:account-state:${email}`;
  }

  private async pull(email: string): Promise<void> {
    const fields = await this.backend.run(() => this.backend.redis.hgetall(this.key(email)));
    if (fields === undefined) return;
    if (Object.keys(fields).length === 0) {
      this.shared.delete(email);
      return;
    }
    const state: Record<string, unknown> = { ...EMPTY_ACCOUNT_STATE };
    const familyParks: Record<string, Park> = {};
    for (const [field, text] of Object.entries(fields)) {
      const value: unknown = JSON.parse(text);
      if (field.startsWith(FAMILY)) familyParks[field.slice(FAMILY.length)] = value as Park;
      else if (field in EMPTY_ACCOUNT_STATE) state[field] = value;
    }
    this.shared.set(email, { ...(state as unknown as AccountState), familyParks });
  }

  private async pullAll(): Promise<void> {
    const prefix = 'oauth:account-state:';
    const keys = await this.backend.scan(`${prefix}*`);
    await Promise.all(keys.map((key) => this.pull(key.slice(prefix.length))));
  }
}

function mergeInto(current: AccountState, patch: AccountStatePatch): AccountState {
  return {
    ...current,
    ...patch,
    familyParks: patch.familyParks ? { ...current.familyParks, ...patch.familyParks } : current.familyParks,
  };
}
