import { Controller, Get, Headers, Query, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { assertAdmin } from '../auth/admin.guard';
import { presentedKey } from '../auth/presented-key';
import { GatewayError } from '../common/gateway-error';
import { ActiveConfig } from '../config/active-config';
import { UsageStore, utcDay, type UsageEntry } from './usage.store';

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const MAX_DAYS = 366;

interface UsageRow {
  date: string;
  client: string;
  model?: string;
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
  /** null when none of the row's calls had a price. */
  cost_usd: number | null;
  /** Of cost_usd, what subscription-account traffic would have cost on the API. */
  subscription_cost_usd: number;
  /** Calls whose model has no price (their tokens are counted, their cost is not). */
  unpriced_calls: number;
}

const CSV_COLUMNS: (keyof UsageRow)[] = [
  'date',
  'client',
  'model',
  'requests',
  'input_tokens',
  'output_tokens',
  'cache_read_input_tokens',
  'cache_creation_input_tokens',
  'cost_usd',
  'subscription_cost_usd',
  'unpriced_calls',
];

/**
 * GET /usage: per client per UTC day, or per model too. The admin (the admin key, or loopback without one) sees every
 * client; a client key sees only its own rows. JSON, or CSV with `Accept: text/csv`.
 */
@Controller('usage')
export class UsageController {
  constructor(
    private readonly store: UsageStore,
    private readonly active: ActiveConfig,
  ) {}

  @Get()
  async usage(
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Query('from') from: unknown,
    @Query('to') to: unknown,
    @Query('group_by') groupBy: unknown,
    @Headers('accept') accept: string | undefined,
  ) {
    const client = this.scopeOf(request);
    const today = utcDay(Date.now());
    const range = { from: dayParameter('from', from, today), to: dayParameter('to', to, today) };
    if (range.from > range.to) {
      throw new GatewayError(400, 'invalid_request_error', `from (${range.from}) is after to (${range.to}).`);
    }
    if (daysApart(range.from, range.to) >= MAX_DAYS) {
      throw new GatewayError(400, 'invalid_request_error', `Ask for at most ${MAX_DAYS} days at once.`);
    }
    if (groupBy !== undefined && groupBy !== 'model') {
      throw new GatewayError(
        400,
        'invalid_request_error',
        'group_by must be "model" (or left out for rows per client).',
      );
    }
    const entries = await this.store.rows({ ...range, client });
    const rows = groupBy === 'model' ? entries.map((entry) => toRow(entry, true)) : perClient(entries);
    if (/text\/csv/i.test(accept ?? '')) {
      void reply.type('text/csv; charset=utf-8');
      return toCsv(rows, groupBy === 'model');
    }
    return { ...range, rows };
  }

  /** undefined for the admin (every client), else the client whose key was presented. */
  private scopeOf(request: FastifyRequest): string | undefined {
    const key = presentedKey(request.headers);
    const client = key ? request.gateway.runtime.clientKeys.find(key) : undefined;
    if (client) return client.name;
    try {
      assertAdmin(request, this.active.runtime.config.settings.adminKey);
      return undefined;
    } catch (error) {
      if (error instanceof GatewayError && this.active.runtime.config.clients.length > 0 && key) {
        throw new GatewayError(401, 'authentication_error', 'Send the admin key, or a client key for its own usage.');
      }
      throw error;
    }
  }
}

function dayParameter(name: string, value: unknown, today: string): string {
  if (value === undefined || value === '') return today;
  if (typeof value !== 'string' || !DAY.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`))) {
    throw new GatewayError(400, 'invalid_request_error', `${name} must be a date as YYYY-MM-DD (UTC).`);
  }
  if (new Date(`${value}T00:00:00Z`).toISOString().slice(0, 10) !== value) {
    throw new GatewayError(400, 'invalid_request_error', `${name} (${value}) is not a calendar date.`);
  }
  return value;
}

function daysApart(from: string, to: string): number {
  return (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000;
}

function toRow(entry: UsageEntry, withModel: boolean): UsageRow {
  const { counts } = entry;
  const allUnpriced = counts.unpricedCalls > 0 && counts.costUsd === 0;
  return {
    date: entry.day,
    client: entry.client,
    ...(withModel ? { model: entry.model } : {}),
    requests: counts.requests,
    input_tokens: counts.inputTokens,
    output_tokens: counts.outputTokens,
    cache_read_input_tokens: counts.cacheReadTokens,
    cache_creation_input_tokens: counts.cacheCreationTokens,
    cost_usd: allUnpriced ? null : roundUsd(counts.costUsd),
    subscription_cost_usd: roundUsd(counts.subscriptionCostUsd),
    unpriced_calls: counts.unpricedCalls,
  };
}

function perClient(entries: readonly UsageEntry[]): UsageRow[] {
  const rows = new Map<string, UsageRow>();
  for (const entry of entries) {
    const row = toRow(entry, false);
    const key = `${row.date}\n${row.client}`;
    const existing = rows.get(key);
    if (!existing) {
      rows.set(key, row);
      continue;
    }
    existing.requests += row.requests;
    existing.input_tokens += row.input_tokens;
    existing.output_tokens += row.output_tokens;
    existing.cache_read_input_tokens += row.cache_read_input_tokens;
    existing.cache_creation_input_tokens += row.cache_creation_input_tokens;
    existing.cost_usd =
      existing.cost_usd === null && row.cost_usd === null
        ? null
        : roundUsd((existing.cost_usd ?? 0) + (row.cost_usd ?? 0));
    existing.subscription_cost_usd = roundUsd(existing.subscription_cost_usd + row.subscription_cost_usd);
    existing.unpriced_calls += row.unpriced_calls;
  }
  return [...rows.values()];
}

function roundUsd(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

function toCsv(rows: readonly UsageRow[], withModel: boolean): string {
  const columns = CSV_COLUMNS.filter((column) => withModel || column !== 'model');
  const lines = [columns.join(',')];
  for (const row of rows) lines.push(columns.map((column) => csvCell(row[column])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** Quoted when needed; a leading = + - @ is defused, so a spreadsheet never runs a client or model name as a formula. */
function csvCell(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
