import type Anthropic from '@anthropic-ai/sdk';
import { Agent, request } from 'undici';
import {
  AFTER_SECOND_DELTA,
  ANSWER_BLOCKS,
  answerWhenOpen,
  dedupHits,
  dedupStats,
  DEFAULT_EVENT_SEQUENCE,
  duplicatesAttached,
  gate,
  MODEL,
  messageBody,
  sdkClient,
  sendMessage,
  startDedupGateway,
  PAUSED_STREAM_SEQUENCE,
  SECOND_DELTA,
  streamWithPauses,
} from '../support/dedup-fixtures';
import { eventually, IncrementalResponse, openMessageStream, withTimeout } from '../support/e2e-helpers';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { type JsonResponse, postJson, type RunningGateway, sseEvents } from '../support/gateway-harness';

const ALICE_KEY = 'client-alice-dedup-key';
const BOB_KEY = 'client-bob-dedup-key';

describe('deduplication of identical requests in flight', () => {
  let fake: FakeUpstream;
  let gateway: RunningGateway | undefined;

  beforeAll(async () => {
    fake = await startFakeUpstream();
  });

  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    fake.reset();
  });

  afterAll(async () => {
    await fake.close();
  });

  async function start(deduplication: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
    gateway = await startDedupGateway(fake, deduplication, extra);
    return gateway;
  }

  const send = (running: RunningGateway, body: unknown, headers: Record<string, string> = {}) =>
    postJson(`${running.url}/v1/messages`, body, headers);

  it('should serve 20 identical concurrent streams from one upstream call and leave no entry behind', async () => {
    const running = await start();
    fake.setDefault({ kind: 'message', eventDelayMs: 60 });

    const responses = await withTimeout(
      Promise.all(Array.from({ length: 20 }, () => send(running, messageBody(true)))),
      10_000,
      '20 identical streams',
    );

    expect(fake.requests).toHaveLength(1);
    for (const response of responses) {
      expect(response.status).toBe(200);
      expect(response.text).toBe(responses[0]!.text);
    }
    const events = sseEvents(responses[0]!.text);
    expect(events.map((e) => e.event)).toEqual(DEFAULT_EVENT_SEQUENCE);
    const text = events.filter((e) => e.event === 'content_block_delta').map((e) => String(e.data.delta.text));
    expect(text.join('')).toBe('Hello from fake');
    expect(responses.filter((r) => r.headers['x-dedup'] === 'inflight')).toHaveLength(19);
    expect(responses.filter((r) => r.headers['x-dedup'] === undefined)).toHaveLength(1);
    expect(await dedupHits(running, 'inflight')).toBe(19);
    await eventually(
      async () => (await dedupStats(running)).inflight === 0,
      'the in-flight table empty after the burst',
    );
  });

  it('should answer a non-streaming duplicate of a streaming call with every block, the signature, the tool input and usage', async () => {
    const running = await start();
    fake.setDefault({
      kind: 'message',
      content: ANSWER_BLOCKS,
      usage: { input_tokens: 42, output_tokens: 17 },
      eventDelayMs: 30,
    });

    const original = send(running, messageBody(true));
    await fake.waitForRequests(1);
    const duplicate = await send(running, messageBody(false));
    const streamed = await original;

    expect(fake.requests).toHaveLength(1);
    expect(streamed.status).toBe(200);
    expect(sseEvents(streamed.text).at(-1)?.event).toBe('message_stop');
    expect(duplicate.status).toBe(200);
    expect(duplicate.headers['x-dedup']).toBe('inflight');
    expect(duplicate.headers['content-type']).toMatch(/^application\/json/);
    expect(duplicate.body).toEqual({
      id: expect.any(String),
      type: 'message',
      role: 'assistant',
      model: MODEL,
      content: ANSWER_BLOCKS,
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 42, output_tokens: 17 },
    });
  });

  it('should answer a streaming duplicate of a non-streaming call with a stream the SDK assembles into the same message', async () => {
    const running = await start();
    const { opened, open } = gate();
    fake.enqueue({
      kind: 'custom',
      handle: (_req, res) => {
        void answerWhenOpen(res, opened, (r) => sendMessage(r, ANSWER_BLOCKS));
      },
    });
    const { client, close } = sdkClient(running, { maxRetries: 0 });
    const params = {
      model: MODEL,
      max_tokens: 256,
      messages: [{ role: 'user' as const, content: 'what is the weather in Paris?' }],
      tools: [
        { name: 'get_weather', description: 'Weather', input_schema: { type: 'object' as const, properties: {} } },
      ],
    };

    try {
      const direct = client.messages.create(params);
      await fake.waitForRequests(1);
      const streamed = client.messages.stream(params).finalMessage();
      await duplicatesAttached(running, 1);
      open();
      const [message, assembled] = await Promise.all([direct, streamed]);

      expect(fake.requests).toHaveLength(1);
      expect(message.content).toEqual(ANSWER_BLOCKS);
      expect(message.stop_reason).toBe('tool_use');
      // The SDK's accumulator adds helper fields of its own; compare what was on the wire.
      const strip = (m: Anthropic.Message): unknown =>
        JSON.parse(JSON.stringify({ ...m, id: 'x', parsed_output: undefined }));
      expect(strip(assembled)).toEqual(strip(message));
    } finally {
      open();
      await close();
    }
  });

  it('should keep streaming to a waiting client when the first client aborts mid-stream, without aborting upstream', async () => {
    // No grace: were the upstream call tied to the first client, it would be cancelled the moment that client left.
    const running = await start({ orphan_grace: 0 });
    const firstPause = gate();
    const secondPause = gate();
    fake.enqueue({
      kind: 'custom',
      handle: (_req, res) => {
        void streamWithPauses(res, { [SECOND_DELTA]: firstPause.opened, [AFTER_SECOND_DELTA]: secondPause.opened });
      },
    });
    const abort = new AbortController();
    // Its own agent: after the abort undici opens a spare connection that would hold the gateway's close for a minute.
    const agent = new Agent();

    try {
      const response = await request(`${running.url}/v1/messages`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(messageBody(true)),
        signal: abort.signal,
      });
      const first = new IncrementalResponse(
        response.statusCode,
        response.headers,
        response.body as AsyncIterable<Buffer>,
      );
      await first.readUntil((text) => text.includes('early words'), 'the first delta reaching the first client');
      const second = await openMessageStream(running.url, messageBody(true));
      expect(second.headers['x-dedup']).toBe('inflight');
      // The upstream is paused: what the second client gets now was produced before it arrived.
      await second.readUntil((text) => text.includes('early words'), 'the events produced so far reaching the second');
      abort.abort();

      // And what the upstream produces next is pushed to it while the upstream is still paused before the end.
      firstPause.open();
      await second.readUntil((text) => text.includes(' and the rest'), 'a live event reaching the second client');
      expect(second.text).not.toContain('message_stop');
      secondPause.open();

      const text = await second.readToEnd();
      expect(second.status).toBe(200);
      expect(sseEvents(text).map((e) => e.event)).toEqual(PAUSED_STREAM_SEQUENCE);
      expect(first.text).not.toContain(' and the rest');
      expect(fake.requests).toHaveLength(1);
      expect(fake.clientAborts).toBe(0);
    } finally {
      firstPause.open();
      secondPause.open();
      await agent.destroy();
    }
  });

  /** Sends a streaming original, then a streaming and a non-streaming duplicate once it is upstream; opens the gate when both wait. */
  async function originalAndTwoWaiters(running: RunningGateway, open: () => void): Promise<JsonResponse[]> {
    const original = send(running, messageBody(true));
    await fake.waitForRequests(1);
    const waiters = [send(running, messageBody(true)), send(running, messageBody(false))];
    await duplicatesAttached(running, 2);
    open();
    return Promise.all([original, ...waiters]);
  }

  it.each([0, 60])(
    'should give every waiter the same upstream error and call upstream again for the next request (cache_ttl %s)',
    async (cacheTtl) => {
      const running = await start({ cache_ttl: cacheTtl });
      const { opened, open } = gate();
      fake.enqueue({
        kind: 'custom',
        handle: (_req, res) => {
          void answerWhenOpen(res, opened, (r) => {
            r.writeHead(529, { 'content-type': 'application/json' });
            r.end(JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }));
          });
        },
      });

      try {
        const responses = await originalAndTwoWaiters(running, open);

        expect(fake.requests).toHaveLength(1);
        expect(responses[0]!.status).toBeGreaterThanOrEqual(500);
        expect(responses[0]!.body).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
        for (const response of responses) {
          expect(response.status).toBe(responses[0]!.status);
          expect(response.text).toBe(responses[0]!.text);
        }

        const next = await send(running, messageBody(false));
        expect(next.status).toBe(200);
        expect(next.headers['x-dedup']).toBeUndefined();
        expect(next.body.content).toEqual([{ type: 'text', text: 'Hello from fake' }]);
        expect(fake.requests).toHaveLength(2);
        expect(await dedupHits(running, 'cache')).toBe(0);
      } finally {
        open();
      }
    },
  );

  it.each([0, 60])(
    'should end every waiter of a stream cut mid-answer with the error and call upstream again for the next request (cache_ttl %s)',
    async (cacheTtl) => {
      const running = await start({ cache_ttl: cacheTtl });
      const { opened, open } = gate();
      fake.enqueue({
        kind: 'custom',
        handle: (_req, res) => {
          void streamWithPauses(res, { [SECOND_DELTA]: opened }, { cutAt: SECOND_DELTA });
        },
      });

      try {
        const [original, streamingWaiter, jsonWaiter] = await originalAndTwoWaiters(running, open);

        expect(fake.requests).toHaveLength(1);
        for (const stream of [original!, streamingWaiter!]) {
          expect(stream.status).toBe(200);
          const events = sseEvents(stream.text);
          expect(events.find((e) => e.event === 'content_block_delta')?.data.delta.text).toBe('early words');
          expect(events.at(-1)?.event).toBe('error');
          expect(events.some((e) => e.event === 'message_stop')).toBe(false);
        }
        expect(streamingWaiter!.text).toBe(original!.text);
        expect(jsonWaiter!.status).toBeGreaterThanOrEqual(500);
        expect(jsonWaiter!.body).toMatchObject({ type: 'error', error: { type: expect.any(String) } });

        const next = await send(running, messageBody(true));
        expect(next.status).toBe(200);
        expect(next.headers['x-dedup']).toBeUndefined();
        expect(sseEvents(next.text).map((e) => e.event)).toEqual(DEFAULT_EVENT_SEQUENCE);
        expect(fake.requests).toHaveLength(2);
        expect(await dedupHits(running, 'cache')).toBe(0);
      } finally {
        open();
      }
    },
  );

  describe('with two clients', () => {
    const startWithClients = () =>
      start(
        {},
        {
          clients: [
            { name: 'alice', key: ALICE_KEY },
            { name: 'bob', key: BOB_KEY },
          ],
        },
      );

    /** Sends `a`, then `b` once `a` is upstream, while `a`'s stream is still running. */
    async function sendOverlapping(running: RunningGateway, a: [unknown, string], b: [unknown, string]) {
      fake.setDefault({ kind: 'message', eventDelayMs: 40 });
      let firstDone = false;
      const first = send(running, a[0], { 'x-api-key': a[1] }).finally(() => (firstDone = true));
      await fake.waitForRequests(1);
      const second = send(running, b[0], { 'x-api-key': b[1] });
      return { both: () => Promise.all([first, second]), firstRunning: () => !firstDone };
    }

    /** Both requests reached the upstream, the second while the first was still being answered. */
    async function expectTwoOverlappingUpstreamCalls(firstRunning: () => boolean): Promise<void> {
      await withTimeout(fake.waitForRequests(2), 5000, 'the second request reaching the upstream');
      expect(firstRunning()).toBe(true);
    }

    it('should merge identical requests from the same client', async () => {
      const running = await startWithClients();

      const pair = await sendOverlapping(running, [messageBody(true), ALICE_KEY], [messageBody(true), ALICE_KEY]);
      const [first, second] = await pair.both();

      expect(fake.requests).toHaveLength(1);
      expect(first.headers['x-dedup']).toBeUndefined();
      expect(second.headers['x-dedup']).toBe('inflight');
      expect(second.text).toBe(first.text);
    });

    it('should not merge identical requests from different clients', async () => {
      const running = await startWithClients();

      const pair = await sendOverlapping(running, [messageBody(true), ALICE_KEY], [messageBody(true), BOB_KEY]);
      await expectTwoOverlappingUpstreamCalls(pair.firstRunning);
      const responses = await pair.both();

      expect(fake.requests).toHaveLength(2);
      for (const response of responses) {
        expect(response.status).toBe(200);
        expect(response.headers['x-dedup']).toBeUndefined();
      }
      expect(await dedupHits(running, 'inflight')).toBe(0);
    });

    it.each([
      ['temperature', messageBody(true, undefined, { temperature: 0.2 })],
      ['message', messageBody(true, 'what is the weather in Rome?')],
      ['system prompt', messageBody(true, undefined, { system: 'Answer in French.' })],
      ['model', { ...messageBody(true), model: 'claude-haiku-4-5' }],
    ])('should not merge requests that differ in the %s', async (_field, variant) => {
      const running = await startWithClients();

      const pair = await sendOverlapping(running, [messageBody(true), ALICE_KEY], [variant, ALICE_KEY]);
      await expectTwoOverlappingUpstreamCalls(pair.firstRunning);
      const responses = await pair.both();

      expect(fake.requests).toHaveLength(2);
      for (const response of responses) expect(response.headers['x-dedup']).toBeUndefined();
      expect(await dedupHits(running, 'inflight')).toBe(0);
    });
  });
});
