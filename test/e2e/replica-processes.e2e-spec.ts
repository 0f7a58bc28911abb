/**
 * Two real gateway processes (`node dist/main.js`) on one Redis, under a key prefix of this file's own: a leading
 * replica killed with SIGKILL mid-stream or before it answered, and one Claude account refreshed from both at once.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { type FakeTokenEndpoint, startFakeTokenEndpoint } from '../support/fake-token-endpoint';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { gate, messageBody, SECOND_DELTA, streamedBlocks, streamWithPauses } from '../support/dedup-fixtures';
import { eventually } from '../support/e2e-helpers';
import { anthropicProvider, getJson, postJson, sseEvents } from '../support/gateway-harness';
import { ensureBuilt, type GatewayProcess, spawnGateway } from '../support/gateway-process';
import {
  bearerOf,
  claudeCodeBody,
  credentialsFile,
  oauthProvider,
  oauthSettings,
  routeAll,
} from '../support/oauth-gateway';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const STATE_KEY = 'replica-processes-share-this-secret-0123456789';

describe('two gateway processes on one Redis', () => {
  let upstream: FakeUpstream;
  let tokens: FakeTokenEndpoint;
  let dir: string;
  const running: GatewayProcess[] = [];

  beforeAll(async () => {
    ensureBuilt();
    [upstream, tokens] = await Promise.all([startFakeUpstream(), startFakeTokenEndpoint()]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([upstream?.close(), tokens?.close()]);
  });

  beforeEach(() => {
    upstream.reset();
    tokens.reset();
    dir = mkdtempSync(join(tmpdir(), 'balancer-replicas-'));
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((gateway) => gateway.kill()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function replicas(config: Record<string, unknown>): Promise<[GatewayProcess, GatewayProcess]> {
    const path = join(dir, 'providers.yaml');
    writeFileSync(path, stringify(config));
    const env = { BALANCER_STATE_KEY: STATE_KEY };
    const started = await Promise.all([spawnGateway(path, dir, env), spawnGateway(path, dir, env)]);
    running.push(...started);
    return [started[0], started[1]];
  }

  const sharedState = () => ({
    backend: 'redis',
    redis_url: REDIS_URL,
    key_prefix: `balancer-e2e:${randomUUID()}:`,
  });

  const inflightHits = async (gateway: GatewayProcess) => {
    const text = (await getJson(`${gateway.url}/metrics`)).text;
    return Number(/^balancer_dedup_hits_total\{kind="inflight"\} (\d+)/m.exec(text)?.[1] ?? 0);
  };

  const dedupReplicas = () =>
    replicas({
      providers: [anthropicProvider('main', upstream.url)],
      model_routes: { '*': [{ provider: 'main', model: 'passthrough', priority: 1 }] },
      settings: { log_file_path: '', deduplication: { enabled: true }, state: sharedState() },
    });

  /**
   * Sends `body` to A, then `followerBody` (the same request, in either mode) twice to B, and resolves once both
   * requests on B read along with A's call.
   */
  async function followersOnB(
    a: GatewayProcess,
    b: GatewayProcess,
    body: ReturnType<typeof messageBody>,
    followerBody = body,
  ) {
    const leader = postJson(`${a.url}/v1/messages`, body).catch((error: unknown) => error);
    await upstream.waitForRequests(1);
    const followers = [postJson(`${b.url}/v1/messages`, followerBody), postJson(`${b.url}/v1/messages`, followerBody)];
    await eventually(async () => (await inflightHits(b)) === 2, 'both requests on B to follow A');
    return { leader, followers };
  }

  it('should give the followers on B an error when the leading A is killed mid-stream, and serve the retry', async () => {
    const [a, b] = await dedupReplicas();
    const hold = gate();
    upstream.setDefault({
      kind: 'custom',
      handle: (_req, res) => void streamWithPauses(res, { [SECOND_DELTA]: hold.opened }),
    });
    const body = messageBody(true, `killed mid-stream ${randomUUID()}`);
    const { leader, followers } = await followersOnB(a, b, body);

    await a.kill();
    const answers = await Promise.all(followers);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      const events = sseEvents(answer.text);
      expect(events.at(-1)).toMatchObject({ event: 'error', data: { error: { type: 'api_error' } } });
      expect(events.map((e) => e.event)).not.toContain('message_stop');
      expect(answer.text).toContain('early words');
    }
    await leader;
    expect(upstream.requests).toHaveLength(1);

    hold.open();
    upstream.setDefault({ kind: 'custom', handle: (_req, res) => void streamWithPauses(res, {}) });
    const retry = await postJson(`${b.url}/v1/messages`, body);
    expect(retry.status).toBe(200);
    expect(streamedBlocks(retry.text)).toEqual([{ type: 'text', text: 'early words and the rest' }]);
    expect(upstream.requests).toHaveLength(2);
  }, 30_000);

  it('should serve the followers on B with a call of their own when the leading A is killed before answering', async () => {
    const [a, b] = await dedupReplicas();
    // A's call gets no answer at all, not even a status line; the calls after it are answered whole.
    upstream.enqueue({ kind: 'custom', handle: () => undefined });
    upstream.setDefault({ kind: 'custom', handle: (_req, res) => void streamWithPauses(res, {}) });
    const body = messageBody(true, `killed before answering ${randomUUID()}`);
    const { leader, followers } = await followersOnB(a, b, body);

    await a.kill();
    const answers = await Promise.all(followers);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(sseEvents(answer.text).map((e) => e.event)).not.toContain('error');
      expect(streamedBlocks(answer.text)).toEqual([{ type: 'text', text: 'early words and the rest' }]);
    }
    await leader;
    // The two on B shared one call of their own.
    expect(upstream.requests).toHaveLength(2);
  }, 30_000);

  it('should let JSON followers on B of a stream A started take over when A is killed, and count each once', async () => {
    const [a, b] = await dedupReplicas();
    const hold = gate();
    upstream.enqueue({
      kind: 'custom',
      handle: (_req, res) => void streamWithPauses(res, { [SECOND_DELTA]: hold.opened }),
    });
    upstream.setDefault({ kind: 'message', content: [{ type: 'text', text: 'the whole answer' }] });
    const text = `killed mid-stream, read as JSON ${randomUUID()}`;
    const { leader, followers } = await followersOnB(a, b, messageBody(true, text), messageBody(false, text));

    await a.kill();
    const answers = await Promise.all(followers);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ type: 'message', content: [{ type: 'text', text: 'the whole answer' }] });
    }
    await leader;
    hold.open();
    // A's call, then one call of B's own that both followers there shared.
    expect(upstream.requests).toHaveLength(2);
    const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
    const usage = await getJson(`${b.url}/usage?from=${day(-1)}&to=${day(0)}`);
    const requests = (usage.body.rows as { requests: number }[]).reduce((sum, row) => sum + row.requests, 0);
    // A was killed before its call ended (it accounts at the end); on B each follower is one request.
    expect(requests).toBe(2);
  }, 30_000);

  it('should refresh an expiring account once when both processes need it at once, and store the rotated token', async () => {
    upstream.requireOAuth(tokens.upstreamCheck);
    const [a, b] = await replicas({
      providers: [oauthProvider('seats', upstream.url)],
      model_routes: routeAll('seats'),
      settings: {
        log_file_path: '',
        deduplication: { enabled: false },
        oauth: oauthSettings(tokens, '', { refresh_margin: 120 }),
        state: sharedState(),
      },
    });
    tokens.addAccount({ email: 'alice@example.com' });
    const issued = tokens.issueTokens('alice@example.com', { expiresIn: 60 });
    expect((await postJson(`${a.url}/oauth/import`, credentialsFile(issued))).status).toBe(200);

    tokens.delayMs = 300;
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        postJson(`${(i % 2 === 0 ? a : b).url}/v1/messages`, claudeCodeBody({ messages: userText(i) })),
      ),
    );
    tokens.delayMs = 0;
    for (const answer of answers) expect(answer.status).toBe(200);
    expect(tokens.refreshes('alice@example.com')).toBe(1);
    const used = new Set(upstream.requests.map((r) => bearerOf(r.headers)));
    expect(used.size).toBe(1);
    expect(used.has(issued.accessToken)).toBe(false);

    // The fake refuses a refresh token once rotated: a forced refresh succeeds only with the rotated one stored.
    const forced = await postJson(`${b.url}/oauth/refresh/alice@example.com`, {});
    expect(forced.status).toBe(200);
    expect(tokens.refreshes('alice@example.com')).toBe(2);
  }, 30_000);
});

function userText(i: number) {
  return [{ role: 'user', content: `question ${i}` }];
}
