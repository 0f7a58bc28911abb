import type { StateBackend } from '../state/redis/state-backend';
import { byDayClientModel } from './in-memory-usage.store';
import {
  addCounts,
  billed,
  COUNT_FIELDS,
  type DayTotals,
  emptyCounts,
  tokensOf,
  type UsageCounts,
  type UsageEntry,
  type UsageQuery,
  UsageStore,
} from './usage.store';

/** Additions are merged here and written this often: one command a second, not one per request. */
const FLUSH_EVERY_MS = 1_000;
/** A client's shared day totals are read at most this often (budget checks add this replica's unwritten usage). */
const TOTALS_FRESH_MS = 1_000;

/**
 * KEYS: [1] the row's hash, [2] the day's index (set of "client\tmodel"), [3] the client's day totals. ARGV: ttl
 * seconds, index member, tokens, billed USD, then field, increment pairs. Everything is an increment.
 */
const ADD = `
for i = 5, #ARGV, 2 do redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('HINCRBY', KEYS[3], 'tokens', ARGV[3])
redis.call('HINCRBYFLOAT', KEYS[3], 'billed', ARGV[4])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[1]) end
return 1
`;

/**
 * Usage shared by every replica in Redis: a hash per day, client and model whose fields only ever grow by
 * increments, and an index of each day's rows. Keys expire after the retention. This replica's additions are merged
 * locally and written once a second (and on shutdown); while Redis does not answer they are kept and written later.
 */
export class RedisUsageStore extends UsageStore {
  private pending = new Map<string, UsageEntry & { counts: UsageCounts }>();
  private timer: NodeJS.Timeout | undefined;
  private readonly totals = new Map<string, { readonly at: number; readonly totals: DayTotals }>();
  private readonly addScript;

  constructor(
    private readonly backend: StateBackend,
    private readonly retentionDays: () => number,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.addScript = backend.script<number>(ADD, 3);
    backend.beforeClose(() => this.close());
  }

  open(): Promise<void> {
    return Promise.resolve();
  }

  add(entry: UsageEntry): Promise<void> {
    const key = `${entry.day}\n${entry.client}\n${entry.model}`;
    const existing = this.pending.get(key);
    if (existing) addCounts(existing.counts, entry.counts);
    else this.pending.set(key, { ...entry, counts: { ...entry.counts } });
    this.timer ??= setTimeout(() => void this.flush(), FLUSH_EVERY_MS);
    this.timer.unref();
    return Promise.resolve();
  }

  async rows(query: UsageQuery): Promise<UsageEntry[]> {
    await this.flush();
    const rows: UsageEntry[] = [];
    for (const day of daysBetween(query.from, query.to)) {
      const members = await this.backend.run(() => this.backend.redis.smembers(`usage-index:${day}`));
      for (const member of members ?? []) {
        const [client = '', model = ''] = member.split('\t');
        if (query.client !== undefined && client !== query.client) continue;
        const fields = await this.backend.run(() => this.backend.redis.hgetall(rowKey(day, client, model)));
        if (!fields) continue;
        const counts = emptyCounts();
        for (const field of COUNT_FIELDS) counts[field] = Number(fields[field] ?? 0);
        rows.push({ day, client, model, counts });
      }
    }
    return rows.sort(byDayClientModel);
  }

  async dayTotals(client: string, day: string): Promise<DayTotals> {
    const key = `${day}\n${client}`;
    let cached = this.totals.get(key);
    if (!cached || this.now() - cached.at >= TOTALS_FRESH_MS) {
      const fields = await this.backend.run(() => this.backend.redis.hgetall(totalsKey(day, client)));
      const shared = fields
        ? { tokens: Number(fields.tokens ?? 0), costUsd: Number(fields.billed ?? 0) }
        : cached?.totals;
      cached = { at: this.now(), totals: shared ?? { tokens: 0, costUsd: 0 } };
      this.totals.set(key, cached);
    }
    let { tokens, costUsd } = cached.totals;
    for (const entry of this.pending.values()) {
      if (entry.day !== day || entry.client !== client) continue;
      tokens += tokensOf(entry.counts);
      costUsd += billed(entry.counts);
    }
    return { tokens, costUsd };
  }

  prune(): Promise<void> {
    // Every key carries the retention as its TTL.
    return Promise.resolve();
  }

  async close(): Promise<void> {
    await this.flush();
  }

  private async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const ttlSeconds = (this.retentionDays() + 1) * 86_400;
    const unwritten: (UsageEntry & { counts: UsageCounts })[] = [];
    await Promise.all(
      [...batch.values()].map(async (entry) => {
        const increments = COUNT_FIELDS.filter((field) => entry.counts[field] !== 0).flatMap((field) => [
          field,
          entry.counts[field],
        ]);
        const done = await this.addScript(
          rowKey(entry.day, entry.client, entry.model),
          `usage-index:${entry.day}`,
          totalsKey(entry.day, entry.client),
          ttlSeconds,
          `${entry.client}\t${entry.model}`,
          tokensOf(entry.counts),
          billed(entry.counts),
          ...increments,
        );
        if (done === undefined) unwritten.push(entry);
      }),
    );
    // Redis did not answer: kept for the next flush (merged with what came meanwhile), nothing lost.
    for (const entry of unwritten) void this.add(entry);
    for (const entry of batch.values()) this.totals.delete(`${entry.day}\n${entry.client}`);
  }
}

function rowKey(day: string, client: string, model: string): string {
  return `usage:${day}:${client}:${model}`;
}

function totalsKey(day: string, client: string): string {
  return `usage-totals:${day}:${client}`;
}

export function daysBetween(from: string, to: string): string[] {
  const days: string[] = [];
  for (let at = Date.parse(`${from}T00:00:00Z`); at <= Date.parse(`${to}T00:00:00Z`); at += 86_400_000) {
    days.push(new Date(at).toISOString().slice(0, 10));
  }
  return days;
}
