/**
 * The soak: closed-loop traffic for minutes against one gateway process, mixing streams and JSON on an API-key
 * provider, Claude-account traffic, identical requests that deduplication answers, and a client over its rate limit.
 * What the heap holds after full collections must not grow from the warm-up's end to the load's end (under 10%),
 * resident memory must stay flat after the warm-up (under 10% growth) and under 300 MB, and once the traffic
 * stops the process must hold no more descriptors or timers than it did at the warm-up's end. No key or token may
 * appear in its output, its log or a status endpoint.
 *
 * The resilience tier runs it for two minutes per backend; `npm run soak` for ten (SOAK_SECONDS to change either).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type FakeTokenEndpoint, startFakeTokenEndpoint } from '../support/fake-token-endpoint';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { anthropicProvider, getJson, postJson } from '../support/gateway-harness';
import type { GatewayProcess } from '../support/gateway-process';
import {
  credentialsFile,
  oauthProvider,
  oauthSettings,
  type TempTokenStore,
  tempTokenStore,
} from '../support/oauth-gateway';
import {
  claudeCodeMessageBody,
  closedLoop,
  isComplete,
  type LoadGateway,
  messageBody,
  readProcess,
  scrape,
  SLOW_CONTENT,
  startGatewayProcess,
} from './load-kit';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 120);
const WARMUP_SECONDS = Math.min(120, Math.round(SECONDS / 4));
const WORKERS = 8;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ADMIN_KEY = 'adm-soak-2b7e4f9c1a6d3085';
const ALICE_KEY = 'alice-soak-8d3f1b6e0c9a2475';
const BOB_KEY = 'bob-soak-4a9c2e7f1d5b8036';
const STATE_KEY = 'state-soak-6e1a9d4c7f2b5083';

// The gateway runs full collections on SIGUSR2 (a test-only preload), so the heap is read without its garbage.
const COLLECTING = `--expose-gc --require ${resolve(__dirname, 'collect-on-signal.js')}`;

jest.setTimeout((SECONDS + 120) * 1000);

/** What request n of the mix is: its model (and so its provider), its client and whether it streams. */
function requestShape(n: number, url: string) {
  const kind = n % 10;
  const stream = kind < 4 || kind === 8;
  if (kind === 6) {
    // Identical requests a few workers send close together: one call, the rest from it or from the replay cache.
    return {
      url,
      body: messageBody(`the same question ${Math.floor(n / 40)}`, false),
      stream: false,
      headers: alice(),
    };
  }
  if (kind === 7) return { url, body: messageBody(`bob ${randomUUID()}`, false), stream: false, headers: bob() };
  const text = `soak ${n} ${randomUUID()}`;
  // Claude-account traffic is Claude Code's own (accounts serve nothing else), on the route to the subscription.
  const body =
    kind >= 8 ? claudeCodeMessageBody(text, stream, { model: 'claude-opus-4-1' }) : messageBody(text, stream);
  return { url, body, stream, headers: alice() };
}
const alice = () => ({ 'x-api-key': ALICE_KEY });
const bob = () => ({ 'x-api-key': BOB_KEY });

/** Served, or (bob only) refused by his rate limit with the limit's own error. */
function accepted(status: number, body: string, stream: boolean): boolean {
  if (status === 429) return body.includes('"rate_limit_error"') && body.includes('bob');
  return isComplete(stream, status, body);
}

const average = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(['memory', 'redis'] as const)(`a ${SECONDS} s soak on the %s backend`, (backend) => {
  let main: FakeUpstream;
  let subscription: FakeUpstream;
  let tokens: FakeTokenEndpoint;
  let store: TempTokenStore;
  let gateway: LoadGateway;
  const secrets = [ADMIN_KEY, ALICE_KEY, BOB_KEY, STATE_KEY, 'sk-provider-main-secret'];

  beforeAll(async () => {
    [main, subscription, tokens] = await Promise.all([
      startFakeUpstream(),
      startFakeUpstream(),
      startFakeTokenEndpoint(),
    ]);
    main.setDefault({ kind: 'message', content: SLOW_CONTENT, eventDelayMs: 5 });
    subscription.setDefault({ kind: 'message', content: SLOW_CONTENT, eventDelayMs: 5 });
    store = tempTokenStore();
    gateway = await startGatewayProcess(
      {
        providers: [anthropicProvider('main', main.url), oauthProvider('subscription', subscription.url)],
        model_routes: {
          'claude-opus*': [{ provider: 'subscription', model: 'passthrough', priority: 1 }],
          '*': [{ provider: 'main', model: 'passthrough', priority: 1 }],
        },
        clients: [
          { name: 'alice', key: ALICE_KEY },
          { name: 'bob', key: BOB_KEY, rpm: 30 },
        ],
        settings: {
          admin_key: ADMIN_KEY,
          deduplication: { enabled: true, cache_ttl: 5 },
          state: { backend, redis_url: REDIS_URL, key_prefix: `soak-${randomUUID()}:` },
          oauth: oauthSettings(tokens, store.path),
        },
      },
      // info: the access log is part of what must carry no secret.
      { BALANCER_STATE_KEY: STATE_KEY, LOG_LEVEL: 'info', NODE_OPTIONS: COLLECTING },
    );
    tokens.addAccount({ email: 'erin@example.com', plan: 'claude_max' });
    const issued = tokens.issueTokens('erin@example.com');
    secrets.push(issued.accessToken, issued.refreshToken);
    const imported = await postJson(`${gateway.url}/oauth/import`, credentialsFile(issued), { 'x-api-key': ADMIN_KEY });
    expect(imported.status).toBe(200);
  });

  afterAll(async () => {
    await gateway?.stop();
    await Promise.all([main?.close(), subscription?.close(), tokens?.close()]);
    store?.remove();
  });

  it('should keep memory flat and leak no descriptor or timer, failing no request', async () => {
    const pid = gateway.child.pid!;
    const start = readProcess(pid);
    const url = `${gateway.url}/v1/messages`;
    const rss: { at: number; mb: number }[] = [];
    const sampler = setInterval(() => rss.push({ at: Date.now(), mb: readProcess(pid).rssMb }), 1_000);
    const began = Date.now();
    const load = closedLoop({
      workers: WORKERS,
      seconds: SECONDS,
      next: (n) => requestShape(n, url),
      accept: accepted,
    });

    await sleep(WARMUP_SECONDS * 1000);
    const warm = { fds: readProcess(pid).fds, timers: await timersOf(gateway), heapMb: await liveHeapMb(gateway) };
    // The second reading is under the same load as the first, shortly before it stops.
    await sleep((SECONDS - WARMUP_SECONDS - 10) * 1000);
    const lateHeapMb = await liveHeapMb(gateway);
    const outcome = await load;
    clearInterval(sampler);

    // Settled: the streams are closed, keep-alive sockets to the fakes idle out or stay pooled.
    await sleep(6_000);
    const end = readProcess(pid);
    const endTimers = await timersOf(gateway);
    const rssAfter = rss.filter((s) => s.at - began >= WARMUP_SECONDS * 1000).map((s) => s.mb);
    const quarter = Math.max(1, Math.floor(rssAfter.length / 4));
    const early = average(rssAfter.slice(0, quarter));
    const late = average(rssAfter.slice(-quarter));
    const peak = Math.max(...rss.map((s) => s.mb));
    const dedupHits = await scrape(gateway.url, 'balancer_dedup_hits_total', { kind: 'inflight' });
    const replayHits = await scrape(gateway.url, 'balancer_dedup_hits_total', { kind: 'cache' });
    const limited = await scrape(gateway.url, 'balancer_client_limited_total', { client: 'bob', limit: 'rpm' });
    process.stdout.write(
      `soak ${backend} ${SECONDS} s: ${outcome.sent} requests, ${outcome.failed} failed, ${dedupHits} + ${replayHits} ` +
        `dedup hits, ${limited} rpm refusals; RSS start ${start.rssMb} MB, after warm-up ${early.toFixed(1)} MB, ` +
        `late ${late.toFixed(1)} MB, peak ${peak} MB, end ${end.rssMb} MB; heap after full collections ` +
        `${warm.heapMb.toFixed(1)} -> ${lateHeapMb.toFixed(1)} MB; fds ${warm.fds} -> ${end.fds}; timers ` +
        `${warm.timers} -> ${endTimers}\n`,
    );

    expect(outcome.samples).toEqual([]);
    expect(outcome.failed).toBe(0);
    expect(dedupHits + replayHits).toBeGreaterThan(0);
    expect(limited).toBeGreaterThan(0);
    expect(subscription.requests.length).toBeGreaterThan(0);
    // A leak shows as live objects piling up, and as resident memory creeping up after the warm-up.
    expect(lateHeapMb).toBeLessThan(warm.heapMb * 1.1);
    expect(late).toBeLessThan(early * 1.1);
    expect(peak).toBeLessThan(300);
    expect(end.fds).toBeLessThanOrEqual(warm.fds);
    expect(endTimers).toBeLessThanOrEqual(warm.timers);
  });

  it('should show no key or token in its output, its log, or any status endpoint', async () => {
    const log = readFileSync(join(gateway.dir, 'gateway.log'), 'utf8');
    expect(log.length).toBeGreaterThan(0);
    const admin = { 'x-api-key': ADMIN_KEY };
    const pages = await Promise.all(
      ['/providers', '/oauth/status', '/usage', '/dashboard', '/dashboard/summary', '/metrics'].map(async (path) => {
        const answer = await getJson(`${gateway.url}${path}`, admin);
        expect(answer.status).toBe(200);
        return answer.text;
      }),
    );
    // An error body too: a refused key is not echoed back.
    const refused = await postJson(`${gateway.url}/v1/messages`, messageBody('x', false), {
      'x-api-key': `${ALICE_KEY}x`,
    });
    expect(refused.status).toBe(401);
    for (const text of [gateway.output(), log, refused.text, ...pages]) {
      for (const secret of secrets) expect(text).not.toContain(secret);
    }
  });
});

/** What the gateway's heap holds right after full collections, MB. */
async function liveHeapMb(gateway: GatewayProcess): Promise<number> {
  const readings = () => [...gateway.output().matchAll(/^collected (\d+)$/gm)];
  const before = readings().length;
  gateway.child.kill('SIGUSR2');
  for (let i = 0; i < 100 && readings().length === before; i += 1) await sleep(50);
  const reading = readings()[before];
  if (!reading) throw new Error('the gateway did not report a collection');
  return Number(reading[1]) / 1e6;
}

async function timersOf(gateway: GatewayProcess): Promise<number> {
  const health = await getJson(`${gateway.url}/health/live`);
  expect(health.status).toBe(200);
  return scrape(gateway.url, 'nodejs_active_resources', { type: 'Timeout' });
}
