import { randomUUID } from 'node:crypto';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import {
  ANSWER_BLOCKS,
  answerWhenOpen,
  dedupHits,
  dedupStats,
  gate,
  messageBody,
  sendMessage,
  streamedBlocks,
  streamWithPauses,
} from '../support/dedup-fixtures';
import { eventually } from '../support/e2e-helpers';
import { anthropicProvider, postJson, type RunningGateway, startGateway } from '../support/gateway-harness';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Two replicas in this process sharing dedup through the real Redis, under a key prefix of this file's own. */
describe('deduplication shared by two replicas on Redis', () => {
  let upstream: FakeUpstream;
  let a: RunningGateway;
  let b: RunningGateway;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    const config = {
      providers: [anthropicProvider('main', upstream.url)],
      model_routes: { '*': [{ provider: 'main', model: 'passthrough', priority: 1 }] },
      settings: {
        deduplication: { enabled: true, cache_ttl: 60 },
        state: { backend: 'redis', redis_url: REDIS_URL, key_prefix: `balancer-e2e:${randomUUID()}:` },
      },
    };
    a = await startGateway(config);
    b = await startGateway(config);
  });

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await upstream.close();
  });

  beforeEach(() => upstream.reset());

  const inflightHits = async () => (await dedupHits(a, 'inflight')) + (await dedupHits(b, 'inflight'));

  it('should make one upstream call for 20 identical streaming requests spread over A and B', async () => {
    const release = gate();
    upstream.setDefault({ kind: 'custom', handle: (_req, res) => void streamWithPauses(res, { 0: release.opened }) });
    const before = await inflightHits();
    const body = messageBody(true, `twenty streams ${randomUUID()}`);
    const answers = Array.from({ length: 20 }, (_, i) => postJson(`${(i % 2 === 0 ? a : b).url}/v1/messages`, body));
    await eventually(async () => (await inflightHits()) - before === 19, '19 duplicates attached');
    release.open();
    const done = await Promise.all(answers);
    expect(upstream.requests).toHaveLength(1);
    for (const answer of done) {
      expect(answer.status).toBe(200);
      expect(answer.text).toBe(done[0]!.text);
    }
    expect(streamedBlocks(done[0]!.text)).toEqual([{ type: 'text', text: 'early words and the rest' }]);
  });

  it('should serve followers on the other replica in the mode each asked for, non-streaming leader included', async () => {
    const release = gate();
    upstream.setDefault({
      kind: 'custom',
      handle: (_req, res) => void answerWhenOpen(res, release.opened, (r) => sendMessage(r, ANSWER_BLOCKS)),
    });
    const before = await inflightHits();
    const text = `mixed modes ${randomUUID()}`;
    const leader = postJson(`${a.url}/v1/messages`, messageBody(false, text));
    await upstream.waitForRequests(1);
    const followers = Array.from({ length: 19 }, (_, i) =>
      postJson(`${(i % 2 === 0 ? b : a).url}/v1/messages`, messageBody(i % 3 === 0, text)),
    );
    await eventually(async () => (await inflightHits()) - before === 19, '19 duplicates attached');
    release.open();
    const [led, ...read] = await Promise.all([leader, ...followers]);
    expect(upstream.requests).toHaveLength(1);
    expect(led.status).toBe(200);
    for (const [i, answer] of read.entries()) {
      expect(answer.status).toBe(200);
      const blocks = i % 3 === 0 ? streamedBlocks(answer.text) : (answer.body as { content: unknown[] }).content;
      expect(blocks).toEqual(ANSWER_BLOCKS);
    }
  });

  it('should replay on B an answer A finished', async () => {
    const body = messageBody(false, `replayed ${randomUUID()}`);
    const first = await postJson(`${a.url}/v1/messages`, body);
    expect(first.status).toBe(200);
    await eventually(async () => (await dedupStats(b)).cached > 0, 'the answer to reach the shared cache');
    const again = await postJson(`${b.url}/v1/messages`, body);
    expect(again.status).toBe(200);
    expect(again.headers['x-dedup']).toBe('cache');
    expect(again.body).toEqual(first.body);
    expect(upstream.requests).toHaveLength(1);
  });
});
