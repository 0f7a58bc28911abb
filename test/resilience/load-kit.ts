/**
 * What the load, lifecycle and soak tests share: a gateway process of its own (so its memory and descriptors are its
 * own to measure), slow streams held open in thousands, closed-loop traffic for a fixed time, and readings of the
 * process from /proc and from its /metrics.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { type FakeBlock } from '../support/fake-upstream';
import { ensureBuilt, type GatewayProcess, spawnGateway } from '../support/gateway-process';
import { claudeCodeBody } from '../support/oauth-gateway';
import { metricInText } from './raw-http';

/** Three text blocks: 18 SSE events, so a stream with a delta every 200 ms stays open about 3.6 s. */
export const SLOW_CONTENT: FakeBlock[] = [
  { type: 'text', text: 'The first part of a slow answer, ' },
  { type: 'text', text: 'the second part of it, ' },
  { type: 'text', text: 'and the end.' },
];
export const SLOW_TEXT = SLOW_CONTENT.map((block) => (block.type === 'text' ? block.text : '')).join('');

/** A gateway process of its own, started from `providers.yaml` in a temp directory that also holds its log and usage. */
export interface LoadGateway extends GatewayProcess {
  readonly dir: string;
  /** Rewrites its config file (its log and usage paths kept), for reloads. */
  writeConfig(document: Record<string, unknown>): void;
}

export async function startGatewayProcess(
  document: Record<string, unknown>,
  env: NodeJS.ProcessEnv = {},
): Promise<LoadGateway> {
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'balancer-load-'));
  const configPath = join(dir, 'providers.yaml');
  const writeConfig = (doc: Record<string, unknown>) => {
    const settings = (doc.settings ?? {}) as Record<string, unknown>;
    const files = { log_file_path: join(dir, 'gateway.log'), usage: { store: join(dir, 'usage.jsonl') } };
    writeFileSync(configPath, stringify({ ...doc, settings: { ...files, ...settings } }));
  };
  writeConfig(document);
  const gateway = await spawnGateway(configPath, dir, { LOG_LEVEL: 'warn', ...env });
  return Object.assign(gateway, { dir, writeConfig });
}

export interface ProcessReading {
  /** Resident set, MB. */
  readonly rssMb: number;
  readonly fds: number;
}

export function readProcess(pid: number): ProcessReading {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return {
    rssMb: Math.round(kb('VmRSS') / 102.4) / 10,
    fds: readdirSync(`/proc/${pid}/fd`).length,
  };
}

/** Samples a process's resident set every `everyMs` until stopped; the highest sample and the last. */
export function watchMemory(pid: number, everyMs = 100) {
  let peak = 0;
  let last = 0;
  const sample = () => {
    try {
      last = readProcess(pid).rssMb;
      peak = Math.max(peak, last);
    } catch {
      // the process is gone; the readings so far stand
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return { peakMb: peak, lastMb: last };
    },
  };
}

/** A value of one series of the gateway's /metrics (0 when the series is absent). */
export async function scrape(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricInText(await (await request(`${url}/metrics`)).body.text(), name, labels);
}

export interface StreamOutcome {
  readonly complete: number;
  readonly failed: number;
  readonly samples: string[];
}

export const messageBody = (text: string, stream: boolean, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    model: 'claude-sonnet-4-5',
    max_tokens: 64,
    stream,
    messages: [{ role: 'user', content: text }],
    ...extra,
  });

/** The same request as Claude Code sends it (subscription accounts serve nothing else). */
export const claudeCodeMessageBody = (text: string, stream: boolean, extra: Record<string, unknown> = {}) =>
  JSON.stringify(claudeCodeBody({ stream, max_tokens: 64, messages: [{ role: 'user', content: text }], ...extra }));

/** True when a whole answer came back: a stream that reached message_stop with all its text, or a JSON message. */
export function isComplete(stream: boolean, status: number, body: string, expectedText?: string): boolean {
  if (status !== 200) return false;
  if (!stream) {
    try {
      return (JSON.parse(body) as { type?: string }).type === 'message';
    } catch {
      return false;
    }
  }
  if (!body.includes('event: message_stop') || body.includes('event: error')) return false;
  if (expectedText === undefined) return true;
  const text = body
    .split('\n')
    .filter((line) => line.startsWith('data: ') && line.includes('"text_delta"'))
    .map((line) => (JSON.parse(line.slice(6)) as { delta: { text: string } }).delta.text)
    .join('');
  return text === expectedText;
}

/** A client that holds as many connections to one origin as there are requests (Claude Code opens one per turn). */
export function manyConnections(count: number): Agent {
  return new Agent({ connections: count, pipelining: 1, headersTimeout: 120_000, bodyTimeout: 120_000 });
}

interface RequestShape {
  readonly url: string;
  readonly body: string;
  readonly stream: boolean;
  readonly headers?: Record<string, string>;
}

type Judge = (status: number, body: string, stream: boolean) => boolean;

/** Counts of what was sent and what was not served, with the first few failures as examples. */
class Tally {
  sent = 0;
  failed = 0;
  readonly samples: string[] = [];

  fail(sample: string): void {
    this.failed += 1;
    if (this.samples.length < 5) this.samples.push(sample);
  }
}

/** Sends one request, reads its whole answer, and counts it as failed unless `accept` says it was served. */
async function sendOne(agent: Agent, shape: RequestShape, accept: Judge, tally: Tally): Promise<void> {
  tally.sent += 1;
  try {
    const response = await request(shape.url, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', ...shape.headers },
      body: shape.body,
    });
    const body = await response.body.text();
    if (!accept(response.statusCode, body, shape.stream)) tally.fail(`${response.statusCode}: ${body.slice(0, 300)}`);
  } catch (error) {
    tally.fail((error as Error).message);
  }
}

/** Sends `count` streaming requests at once, each unique (so none is deduplicated), and reads every one to its end. */
export async function holdStreams(
  urls: readonly string[],
  count: number,
  expectedText: string,
): Promise<StreamOutcome> {
  const agent = manyConnections(count);
  const tally = new Tally();
  const accept: Judge = (status, body) => isComplete(true, status, body, expectedText);
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      sendOne(
        agent,
        {
          url: `${urls[i % urls.length]}/v1/messages`,
          body: messageBody(`stream ${i} ${Math.random()}`, true),
          stream: true,
        },
        accept,
        tally,
      ),
    ),
  );
  await agent.close();
  return { complete: tally.sent - tally.failed, failed: tally.failed, samples: tally.samples };
}

export interface LoopOutcome {
  readonly sent: number;
  readonly failed: number;
  readonly samples: string[];
}

/**
 * Closed-loop traffic: `workers` loops, each sending its next request when the last one ended, until `seconds` pass
 * or `done()` says so. `next(n)` gives request n's url, body and headers; `accept` decides what counts as served.
 */
export async function closedLoop(options: {
  workers: number;
  seconds: number;
  next: (n: number) => RequestShape;
  accept?: Judge;
  done?: () => boolean;
}): Promise<LoopOutcome> {
  const agent = manyConnections(options.workers);
  const deadline = Date.now() + options.seconds * 1000;
  const accept = options.accept ?? ((status, body, stream) => isComplete(stream, status, body));
  const tally = new Tally();
  await Promise.all(
    Array.from({ length: options.workers }, async () => {
      while (Date.now() < deadline && !options.done?.()) await sendOne(agent, options.next(tally.sent), accept, tally);
    }),
  );
  await agent.close();
  return { sent: tally.sent, failed: tally.failed, samples: tally.samples };
}
