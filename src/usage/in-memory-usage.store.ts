import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Logger } from '@nestjs/common';
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

/** Additions are written to the journal this often (and on close), not one write per request. */
const FLUSH_EVERY_MS = 1_000;

/**
 * Usage in this process, and with a path, kept across restarts in an append-only journal of JSON lines: each line an
 * addition, replayed at start. A line that does not parse (a write cut by a crash, a hand edit) is skipped and
 * reported, never fatal. At start the journal is rewritten compacted (one line per day, client and model, old days
 * dropped), through a temporary file renamed over it, so a crash during the rewrite loses nothing.
 */
export class InMemoryUsageStore extends UsageStore {
  private readonly days = new Map<string, Map<string, UsageEntry & { counts: UsageCounts }>>();
  private pending: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private readonly logger = new Logger('Usage');

  constructor(
    private readonly journal: string,
    private readonly oldestKept: () => string,
  ) {
    super();
  }

  async open(): Promise<void> {
    if (!this.journal) return;
    let text: string;
    try {
      text = await readFile(this.journal, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const skipped: number[] = [];
    text.split('\n').forEach((line, index) => {
      if (line.trim() === '') return;
      const entry = parseLine(line);
      if (entry) this.merge(entry);
      else skipped.push(index + 1);
    });
    if (skipped.length > 0) {
      this.logger.warn(
        `${this.journal}: skipped ${skipped.length} line(s) that are not usage records (line ${skipped.slice(0, 10).join(', ')}${skipped.length > 10 ? ', …' : ''})`,
      );
    }
    await this.prune(this.oldestKept());
    await this.compact();
  }

  add(entry: UsageEntry): Promise<void> {
    this.merge(entry);
    if (this.journal) {
      this.pending.push(formatLine(entry));
      this.timer ??= setTimeout(() => void this.flush(), FLUSH_EVERY_MS);
      this.timer.unref();
    }
    return Promise.resolve();
  }

  rows(query: UsageQuery): Promise<UsageEntry[]> {
    const rows: UsageEntry[] = [];
    for (const [day, entries] of this.days) {
      if (day < query.from || day > query.to) continue;
      for (const entry of entries.values()) {
        if (query.client === undefined || entry.client === query.client)
          rows.push({ ...entry, counts: { ...entry.counts } });
      }
    }
    return Promise.resolve(rows.sort(byDayClientModel));
  }

  dayTotals(client: string, day: string): Promise<DayTotals> {
    let tokens = 0;
    let costUsd = 0;
    for (const entry of this.days.get(day)?.values() ?? []) {
      if (entry.client !== client) continue;
      tokens += tokensOf(entry.counts);
      costUsd += billed(entry.counts);
    }
    return Promise.resolve({ tokens, costUsd });
  }

  prune(oldestKept: string): Promise<void> {
    for (const day of [...this.days.keys()]) if (day < oldestKept) this.days.delete(day);
    return Promise.resolve();
  }

  async close(): Promise<void> {
    await this.flush();
  }

  /** After the drain: the last requests' usage reaches the journal before the process exits. */
  onApplicationShutdown(): Promise<void> {
    return this.close();
  }

  private merge(entry: UsageEntry): void {
    let day = this.days.get(entry.day);
    if (!day) {
      day = new Map();
      this.days.set(entry.day, day);
    }
    const key = `${entry.client}\n${entry.model}`;
    const existing = day.get(key);
    if (existing) addCounts(existing.counts, entry.counts);
    else day.set(key, { day: entry.day, client: entry.client, model: entry.model, counts: { ...entry.counts } });
  }

  private flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.writing = this.writing.then(async () => {
      if (this.pending.length === 0) return;
      const lines = this.pending;
      this.pending = [];
      try {
        await mkdir(dirname(this.journal), { recursive: true });
        await appendFile(this.journal, lines.join(''), { mode: 0o600 });
      } catch (error) {
        // Kept for the next flush: a full disk or a missing mount must not lose the day's accounting.
        this.pending = [...lines, ...this.pending];
        this.logger.error(`Could not write usage to ${this.journal}: ${(error as Error).message}`);
      }
    });
    return this.writing;
  }

  private async compact(): Promise<void> {
    const lines: string[] = [];
    for (const entries of this.days.values()) for (const entry of entries.values()) lines.push(formatLine(entry));
    const temporary = `${this.journal}.${process.pid}.tmp`;
    await mkdir(dirname(this.journal), { recursive: true });
    await writeFile(temporary, lines.join(''), { mode: 0o600 });
    await rename(temporary, this.journal);
  }
}

function formatLine(entry: UsageEntry): string {
  return `${JSON.stringify({ day: entry.day, client: entry.client, model: entry.model, ...entry.counts })}\n`;
}

function parseLine(line: string): UsageEntry | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  const { day, client, model } = record;
  if (typeof day !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  if (typeof client !== 'string' || typeof model !== 'string') return undefined;
  const counts = emptyCounts();
  for (const field of COUNT_FIELDS) {
    const number = record[field] ?? 0;
    if (typeof number !== 'number' || !Number.isFinite(number) || number < 0) return undefined;
    counts[field] = number;
  }
  return { day, client, model, counts };
}

export function byDayClientModel(a: UsageEntry, b: UsageEntry): number {
  return a.day.localeCompare(b.day) || a.client.localeCompare(b.client) || a.model.localeCompare(b.model);
}
