import Anthropic from '@anthropic-ai/sdk';
import {
  ANSWER_BLOCKS,
  FIRST_CONTENT,
  answerWhenOpen,
  dedupHits,
  dedupStats,
  duplicatesAttached,
  gate,
  MODEL,
  messageBody,
  sdkClient,
  sendMessage,
  startDedupGateway,
  streamedBlocks,
  streamWithPauses,
} from '../support/dedup-fixtures';
import { eventually, withTimeout } from '../support/e2e-helpers';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { postJson, type RunningGateway, sseEvents } from '../support/gateway-harness';

describe('deduplication: replay cache, switching it off, and clients that retry', () => {
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

  async function start(deduplication: Record<string, unknown> = {}) {
    gateway = await startDedupGateway(fake, deduplication);
    return gateway;
  }

  const send = (running: RunningGateway, body: unknown) => postJson(`${running.url}/v1/messages`, body);

  const params = {
    model: MODEL,
    max_tokens: 256,
    messages: [{ role: 'user' as const, content: 'what is the weather in Paris?' }],
  };

  it('should replay a finished answer in both modes until its TTL passes, then call upstream again', async () => {
    const running = await start({ cache_ttl: 2 });
    fake.setDefault({ kind: 'message', content: ANSWER_BLOCKS, usage: { input_tokens: 42, output_tokens: 17 } });

    const original = await send(running, messageBody(true));
    const streamed = await send(running, messageBody(true));
    const json = await send(running, messageBody(false));

    expect(fake.requests).toHaveLength(1);
    expect(original.status).toBe(200);
    expect(original.headers['x-dedup']).toBeUndefined();

    expect(streamed.status).toBe(200);
    expect(streamed.headers['x-dedup']).toBe('cache');
    expect(streamed.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = sseEvents(streamed.text);
    expect(events[0]?.event).toBe('message_start');
    expect(events.at(-2)).toMatchObject({ event: 'message_delta', data: { delta: { stop_reason: 'tool_use' } } });
    expect(events.at(-1)?.event).toBe('message_stop');
    expect(streamedBlocks(streamed.text)).toEqual(ANSWER_BLOCKS);
    expect(streamedBlocks(streamed.text)).toEqual(streamedBlocks(original.text));

    expect(json.status).toBe(200);
    expect(json.headers['x-dedup']).toBe('cache');
    expect(json.body).toMatchObject({
      content: ANSWER_BLOCKS,
      stop_reason: 'tool_use',
      usage: { input_tokens: 42, output_tokens: 17 },
    });
    expect(await dedupHits(running, 'cache')).toBe(2);
    expect(await dedupStats(running)).toMatchObject({ inflight: 0, cached: 1 });

    await eventually(async () => (await dedupStats(running)).cached === 0, 'the cached answer expiring', 5000);
    const afterTtl = await send(running, messageBody(false));
    expect(afterTtl.status).toBe(200);
    expect(afterTtl.headers['x-dedup']).toBeUndefined();
    expect(fake.requests).toHaveLength(2);
    expect(await dedupHits(running, 'cache')).toBe(2);
  });

  it('should evict the least recently used answer beyond cache_size_limit', async () => {
    const running = await start({ cache_ttl: 60, cache_size_limit: 2 });
    const ask = async (question: string) => {
      const response = await send(running, messageBody(false, question));
      expect(response.status).toBe(200);
      return response.headers['x-dedup'];
    };

    for (const question of ['one', 'two', 'three']) expect(await ask(question)).toBeUndefined();
    expect(fake.requests).toHaveLength(3);
    expect(await dedupStats(running)).toMatchObject({ cached: 2 });

    // "one" was evicted by "three"; replaying "two" makes "three" the least recently used.
    expect(await ask('three')).toBe('cache');
    expect(await ask('two')).toBe('cache');
    expect(fake.requests).toHaveLength(3);
    expect(await ask('one')).toBeUndefined();
    expect(fake.requests).toHaveLength(4);
    expect(await ask('two')).toBe('cache');
    expect(await ask('three')).toBeUndefined();
    expect(fake.requests).toHaveLength(5);
    expect(await dedupHits(running, 'cache')).toBe(3);
  });

  it('should merge and replay nothing when deduplication is disabled', async () => {
    const running = await start({ enabled: false, cache_ttl: 60 });
    fake.setDefault({ kind: 'message', eventDelayMs: 30 });

    let firstDone = false;
    const first = send(running, messageBody(true)).finally(() => (firstDone = true));
    await fake.waitForRequests(1);
    const second = send(running, messageBody(true));
    await withTimeout(fake.waitForRequests(2), 5000, 'the second request reaching the upstream');
    expect(firstDone).toBe(false);
    const later = await send(running, messageBody(true));

    const responses = [...(await Promise.all([first, second])), later];
    expect(fake.requests).toHaveLength(3);
    for (const response of responses) {
      expect(response.status).toBe(200);
      expect(response.headers['x-dedup']).toBeUndefined();
      expect(sseEvents(response.text).at(-1)?.event).toBe('message_stop');
    }
    expect(await dedupHits(running, 'inflight')).toBe(0);
    expect(await dedupHits(running, 'cache')).toBe(0);
  });

  it('should let the SDK retry after its own timeout attach to the orphaned call, so the upstream sees one request', async () => {
    const running = await start();
    const { opened, open } = gate();
    // The upstream answers only once the retry has attached: the first attempt has certainly timed out by then.
    fake.enqueue({
      kind: 'custom',
      handle: (_req, res) => {
        void answerWhenOpen(res, opened, (r) => sendMessage(r, ANSWER_BLOCKS));
      },
    });
    const { client, close } = sdkClient(running, { timeout: 1000, maxRetries: 1 });

    try {
      const answer = client.messages.create(params);
      await duplicatesAttached(running, 1);
      open();
      const message = await withTimeout(answer, 5000, 'the SDK answer');

      expect(message.content).toEqual(ANSWER_BLOCKS);
      expect(message.stop_reason).toBe('tool_use');
      expect(fake.requests).toHaveLength(1);
      expect(fake.clientAborts).toBe(0);
    } finally {
      open();
      await close();
    }
  });

  it('should let an SDK stream retried after its timeout attach to the orphaned call and get the whole stream', async () => {
    const running = await start();
    const { opened, open } = gate();
    // Nothing but message_start and ping until the retry has attached: the gateway holds those back, so the first
    // attempt gets no response headers and times out.
    fake.enqueue({
      kind: 'custom',
      handle: (_req, res) => {
        void streamWithPauses(res, { [FIRST_CONTENT]: opened });
      },
    });
    const { client, close } = sdkClient(running, { timeout: 1000, maxRetries: 1 });

    try {
      const streamed = client.messages.stream(params).finalMessage();
      await duplicatesAttached(running, 1);
      open();
      const message = await withTimeout(streamed, 5000, 'the SDK stream');

      expect(message.content).toEqual([{ type: 'text', text: 'early words and the rest' }]);
      expect(message.stop_reason).toBe('end_turn');
      expect(fake.requests).toHaveLength(1);
      expect(fake.clientAborts).toBe(0);
    } finally {
      open();
      await close();
    }
  });

  it('should abort the upstream call once the orphan grace has passed with no client left', async () => {
    const running = await start({ orphan_grace: 0.5 });
    fake.enqueue({ kind: 'stall' });
    const { client, close } = sdkClient(running, { timeout: 500, maxRetries: 0 });

    try {
      await expect(client.messages.create(params)).rejects.toBeInstanceOf(Anthropic.APIConnectionTimeoutError);
      const clientGone = Date.now();
      expect(fake.clientAborts).toBe(0);

      await withTimeout(fake.waitForClientAbort(), 5000, 'the gateway aborting the orphaned upstream call');
      // Timers never fire early, so an abort before the grace would show here (a little slack for clock rounding).
      expect(Date.now() - clientGone).toBeGreaterThanOrEqual(450);
      expect(fake.requests).toHaveLength(1);
      await eventually(async () => (await dedupStats(running)).inflight === 0, 'the aborted call forgotten');
    } finally {
      await close();
    }
  });
});
