/** What one client spent on one model on one UTC day, added up. Token buckets are disjoint, as Anthropic reports them. */
export interface UsageCounts {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheCreationTokens: number;
  /** USD of the priced calls. */
  costUsd: number;
  /** Of costUsd, what calls served by subscription accounts would have cost on the API. */
  subscriptionCostUsd: number;
  /** Calls whose model has no price: their tokens are counted, their cost is not known. */
  unpricedCalls: number;
}

/** One addition: a request (with or without an upstream call) and what its call used. */
export interface UsageEntry {
  /** YYYY-MM-DD, UTC. */
  readonly day: string;
  readonly client: string;
  readonly model: string;
  readonly counts: Readonly<UsageCounts>;
}

export interface UsageQuery {
  readonly from: string;
  readonly to: string;
  /** Only this client's rows. */
  readonly client?: string;
}

/** A client's spending on one day, for its daily budgets: all tokens, and the USD billed per token. */
export interface DayTotals {
  readonly tokens: number;
  readonly costUsd: number;
}

/**
 * Usage per client per UTC day per model. Additions are increments (never read-modify-write), so that replicas sharing
 * a backend never lose each other's.
 */
export abstract class UsageStore {
  abstract open(): Promise<void>;
  abstract add(entry: UsageEntry): Promise<void>;
  /** Stored rows from `from` to `to` (inclusive), ordered by day, client, model. */
  abstract rows(query: UsageQuery): Promise<UsageEntry[]>;
  abstract dayTotals(client: string, day: string): Promise<DayTotals>;
  /** Forgets days before `oldestKept` (YYYY-MM-DD). */
  abstract prune(oldestKept: string): Promise<void>;
  /** Writes out anything held back, before the process exits. */
  abstract close(): Promise<void>;
}

export function emptyCounts(): UsageCounts {
  return {
    requests: 0,
    inputTokens: 0,
    outputTokens: 0,
    cacheReadTokens: 0,
    cacheCreationTokens: 0,
    costUsd: 0,
    subscriptionCostUsd: 0,
    unpricedCalls: 0,
  };
}

export function addCounts(target: UsageCounts, more: Readonly<UsageCounts>): void {
  target.requests += more.requests;
  target.inputTokens += more.inputTokens;
  target.outputTokens += more.outputTokens;
  target.cacheReadTokens += more.cacheReadTokens;
  target.cacheCreationTokens += more.cacheCreationTokens;
  target.costUsd += more.costUsd;
  target.subscriptionCostUsd += more.subscriptionCostUsd;
  target.unpricedCalls += more.unpricedCalls;
}

export function tokensOf(counts: Readonly<UsageCounts>): number {
  return counts.inputTokens + counts.outputTokens + counts.cacheReadTokens + counts.cacheCreationTokens;
}

/** What a client's daily cost budget counts: priced API calls (subscription traffic is not billed per token). */
export function billed(counts: Readonly<UsageCounts>): number {
  return counts.costUsd - counts.subscriptionCostUsd;
}

/** YYYY-MM-DD of a moment, in UTC. */
export function utcDay(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

export const COUNT_FIELDS: readonly (keyof UsageCounts)[] = [
  'requests',
  'inputTokens',
  'outputTokens',
  'cacheReadTokens',
  'cacheCreationTokens',
  'costUsd',
  'subscriptionCostUsd',
  'unpricedCalls',
];
