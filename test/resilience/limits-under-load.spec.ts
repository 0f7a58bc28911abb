/**
 * Client limits and usage when many requests race through two replicas sharing Redis: a concurrency limit is never
 * exceeded at the provider and every slot comes back (also from clients that hang up), a per-minute limit lets
 * exactly its number through, and usage counts every served request once with its tokens.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { request } from 'undici';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { anthropicProvider, getJson, postJson, type RunningGateway, startGateway } from '../support/gateway-harness';
import { eventually } from '../support/e2e-helpers';
import { routeAll } from '../support/oauth-gateway';
import { closedLoop, messageBody } from './load-kit';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CAROL_KEY = 'carol-limits-3e9a7c1f5b2d8064';
const DAVE_KEY = 'dave-limits-8b2f6d0a4c9e1357';
const MAX_CONCURRENCY = 3;
const RPM = 40;
const ANSWER_MS = 100;
const USAGE = { input_tokens: 10, output_tokens: 5 };

/** A provider that answers after ANSWER_MS and keeps the most requests it has had open at once. */
function countingProvider(upstream: FakeUpstream) {
  const seen = { open: 0, mostOpen: 0 };
  const answer = (res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: `msg_${randomUUID()}`,
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-4-5',
        content: [{ type: 'text', text: 'ok' }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: USAGE,
      }),
    );
  };
  upstream.setDefault({
    kind: 'custom',
    handle: (_req, res) => {
      seen.open += 1;
      seen.mostOpen = Math.max(seen.mostOpen, seen.open);
      res.once('close', () => (seen.open -= 1));
      setTimeout(() => answer(res), ANSWER_MS);
    },
  });
  return seen;
}

const limitRefusal = (limit: string) => (status: number, body: string) =>
  status === 200 || (status === 429 && body.includes('"rate_limit_error"') && body.includes(limit));

describe('client limits and usage under concurrent load through two replicas', () => {
  let upstream: FakeUpstream;
  let replicas: RunningGateway[];
  let seen: ReturnType<typeof countingProvider>;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    seen = countingProvider(upstream);
    const config = {
      providers: [anthropicProvider('main', upstream.url)],
      model_routes: routeAll('main'),
      clients: [
        { name: 'carol', key: CAROL_KEY, max_concurrency: MAX_CONCURRENCY },
        { name: 'dave', key: DAVE_KEY, rpm: RPM },
      ],
      settings: {
        deduplication: { enabled: false },
        state: { backend: 'redis', redis_url: REDIS_URL, key_prefix: `limits-${randomUUID()}:` },
      },
    };
    replicas = [await startGateway(config), await startGateway(config)];
  });

  afterAll(async () => {
    await Promise.all(replicas.map((g) => g.close()));
    await upstream?.close();
  });

  const urlOf = (n: number) => `${replicas[n % 2]!.url}/v1/messages`;
  /** Answers each client got with a 200, over the whole file: what its usage must show. */
  const served = { carol: 0, dave: 0 };
  const loop = (client: keyof typeof served, key: string, workers: number, seconds: number, limit: string) =>
    closedLoop({
      workers,
      seconds,
      next: (n) => ({
        url: urlOf(n),
        body: messageBody(`${client} ${n}`, false),
        stream: false,
        headers: { 'x-api-key': key },
      }),
      accept: (status, body) => {
        if (status === 200) served[client] += 1;
        return limitRefusal(limit)(status, body);
      },
    });

  it('should never let a client past max_concurrency at the provider, and give every slot back', async () => {
    const outcome = await loop('carol', CAROL_KEY, 12, 3, 'max_concurrency');
    const carolServed = served.carol;
    process.stdout.write(
      `max_concurrency ${MAX_CONCURRENCY}: ${outcome.sent} sent over two replicas, ${carolServed} served, ` +
        `at most ${seen.mostOpen} open at the provider\n`,
    );
    expect(outcome.samples).toEqual([]);
    expect(seen.mostOpen).toBe(MAX_CONCURRENCY);
    expect(carolServed).toBeGreaterThan(0);
    expect(carolServed).toBeLessThan(outcome.sent);

    // Clients that hang up while their request waits on the provider: their slots come back too.
    const hangUps = Array.from({ length: MAX_CONCURRENCY }, (_, i) =>
      request(urlOf(i), {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': CAROL_KEY },
        body: messageBody(`carol hangs up ${i}`, false),
        signal: AbortSignal.timeout(ANSWER_MS / 2),
      }).then(
        (answer) => answer.body.text(),
        (error: Error) => error.name,
      ),
    );
    await Promise.all(hangUps);
    await eventually(() => seen.open === 0, 'the provider calls of the hung-up clients to end');

    const all = async (count: number) =>
      Promise.all(
        Array.from({ length: count }, (_, i) =>
          postJson(
            urlOf(i),
            { model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: `again ${i}` }] },
            {
              'x-api-key': CAROL_KEY,
            },
          ).then((answer) => {
            if (answer.status === 200) served.carol += 1;
            return answer.status;
          }),
        ),
      );
    await eventually(async () => (await all(MAX_CONCURRENCY)).every((status) => status === 200), 'every slot back');
    expect((await all(MAX_CONCURRENCY + 1)).sort()).toEqual([200, 200, 200, 429]);
  });

  it('should let exactly rpm requests through across both replicas, however many race for them', async () => {
    const before = upstream.requests.length;
    const outcome = await loop('dave', DAVE_KEY, 16, 2, 'requests per minute');
    const daveServed = served.dave;
    process.stdout.write(`rpm ${RPM}: ${outcome.sent} sent over two replicas, ${daveServed} served\n`);
    expect(outcome.samples).toEqual([]);
    expect(daveServed).toBe(RPM);
    expect(upstream.requests.length - before).toBe(RPM);
    expect(outcome.sent).toBeGreaterThan(RPM * 2);
  });

  it('should account every served request once, with its tokens, whichever replica served it', async () => {
    const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
    const totals = async () => {
      const answer = await getJson(`${replicas[0]!.url}/usage?from=${day(-1)}&to=${day(0)}`);
      const rows = answer.body.rows as {
        client: string;
        requests: number;
        input_tokens: number;
        output_tokens: number;
      }[];
      const sum = (client: string) =>
        rows
          .filter((row) => row.client === client)
          .reduce(
            (acc, row) => ({
              requests: acc.requests + row.requests,
              tokens: acc.tokens + row.input_tokens + row.output_tokens,
            }),
            {
              requests: 0,
              tokens: 0,
            },
          );
      return { carol: sum('carol'), dave: sum('dave') };
    };
    const perAnswer = USAGE.input_tokens + USAGE.output_tokens;
    // Each replica writes its share once a second. The hung-up requests count as requests with no tokens.
    const expected = {
      carol: { requests: served.carol + MAX_CONCURRENCY, tokens: served.carol * perAnswer },
      dave: { requests: served.dave, tokens: served.dave * perAnswer },
    };
    let seenTotals: Awaited<ReturnType<typeof totals>> | undefined;
    await eventually(async () => {
      seenTotals = await totals();
      return seenTotals.carol.requests + seenTotals.dave.requests >= expected.carol.requests + expected.dave.requests;
    }, 'both replicas to write their usage').catch(() => undefined);
    expect(seenTotals).toEqual(expected);
  });
});
