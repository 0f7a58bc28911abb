/**
 * Providers and the token endpoint failing while traffic flows: 16 closed-loop workers mixing streams and JSON, the
 * first provider turning faulty a second in and healthy again two seconds later. While the second provider can
 * serve, no client request may fail, and every move to it is counted. Sent and failed counts are printed for the
 * closing notes.
 */
import { randomUUID } from 'node:crypto';
import { type FakeTokenEndpoint, startFakeTokenEndpoint } from '../support/fake-token-endpoint';
import { type FakeBehaviour, type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { anthropicProvider, getJson, metricValue, type RunningGateway, startGateway } from '../support/gateway-harness';
import {
  importAccount,
  oauthProvider,
  oauthSettings,
  type TempTokenStore,
  tempTokenStore,
  routeAll,
} from '../support/oauth-gateway';
import { claudeCodeMessageBody, closedLoop, isComplete, messageBody } from './load-kit';

const WORKERS = 16;
const SECONDS = 4;

/** Faults the gateway can still hide from the client: each fails before any content has been sent. */
const FAULTS: [string, FakeBehaviour][] = [
  ['5xx answers', { kind: 'status', status: 503, errorType: 'overloaded_error', message: 'overloaded' }],
  ['connection resets', { kind: 'reset' }],
  ['stalls past the first-byte timeout', { kind: 'stall' }],
  ['200 answers whose stream is an error', { kind: 'sse-error', afterEvents: 1, errorType: 'overloaded_error' }],
  ['streams cut before any content', { kind: 'cut', afterEvents: 2 }],
];

/** Traffic for `seconds`: odd requests stream, even ones are JSON, every body unique (and Claude Code's, if asked). */
function traffic(gateway: RunningGateway, seconds: number, asClaudeCode = false) {
  return closedLoop({
    workers: WORKERS,
    seconds,
    next: (n) => {
      const stream = n % 2 === 1;
      return {
        url: `${gateway.url}/v1/messages`,
        body: (asClaudeCode ? claudeCodeMessageBody : messageBody)(`under load ${n} ${randomUUID()}`, stream),
        stream,
      };
    },
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a provider failing under load, with a healthy second provider', () => {
  let first: FakeUpstream;
  let second: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    [first, second] = await Promise.all([startFakeUpstream(), startFakeUpstream()]);
    gateway = await startGateway({
      providers: [anthropicProvider('first', first.url), anthropicProvider('second', second.url)],
      model_routes: routeAll('first', 'second'),
      // A short cooldown and no stickiness, so the faulty provider is tried again and again while it fails.
      settings: {
        timeouts: { connect: 2, first_byte: 1, idle: 2 },
        failure_cooldown: 0.5,
        sticky_provider_duration: 0,
        deduplication: { enabled: false },
      },
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await Promise.all([first?.close(), second?.close()]);
  });

  it.each(FAULTS)('should fail no client request while the first provider has %s', async (name, fault) => {
    first.setDefault({ kind: 'message' });
    const failoversBefore = await metricValue(gateway, 'balancer_failovers_total', { from: 'first', to: 'second' });
    const running = traffic(gateway, SECONDS);
    await sleep(1_000);
    first.setDefault(fault);
    await sleep(2_000);
    first.setDefault({ kind: 'message' });
    const outcome = await running;

    const failovers =
      (await metricValue(gateway, 'balancer_failovers_total', { from: 'first', to: 'second' })) - failoversBefore;
    process.stdout.write(`${name}: ${outcome.sent} requests sent, ${outcome.failed} failed, ${failovers} failovers\n`);
    expect(outcome.samples).toEqual([]);
    expect(outcome.failed).toBe(0);
    expect(outcome.sent).toBeGreaterThan(WORKERS);
    expect(failovers).toBeGreaterThan(0);
  });

  it('should end a stream cut after its content began with an error event the client can read, and count it', async () => {
    first.setDefault({ kind: 'cut', afterEvents: 4 });
    const outcome = await closedLoop({
      workers: 4,
      seconds: 1,
      next: (n) => ({
        url: `${gateway.url}/v1/messages`,
        body: messageBody(`cut ${n} ${randomUUID()}`, true),
        stream: true,
      }),
      // Whole answers once the provider cools down; before that the client must learn the stream broke: an SSE error
      // event, never a silent end or a hang.
      accept: (status, body) =>
        isComplete(true, status, body) ||
        (status === 200 && body.includes('event: error') && !body.includes('event: message_stop')),
    });
    first.setDefault({ kind: 'message' });
    expect(outcome.samples).toEqual([]);
    expect(outcome.failed).toBe(0);
    // The broken streams are counted as what the client got.
    expect(
      await metricValue(gateway, 'balancer_requests_total', { provider: 'first', status: 'stream_error' }),
    ).toBeGreaterThan(0);
  });
});

describe('the token endpoint down while Claude accounts serve', () => {
  let subscription: FakeUpstream;
  let spare: FakeUpstream;
  let tokens: FakeTokenEndpoint;
  let store: TempTokenStore;
  let gateway: RunningGateway;
  const ADMIN = { 'x-api-key': 'adm-token-endpoint-down-5c8e1a7f3b' };

  beforeAll(async () => {
    [subscription, spare, tokens] = await Promise.all([
      startFakeUpstream(),
      startFakeUpstream(),
      startFakeTokenEndpoint(),
    ]);
    store = tempTokenStore();
    gateway = await startGateway({
      providers: [oauthProvider('subscription', subscription.url), anthropicProvider('spare', spare.url)],
      model_routes: routeAll('subscription', 'spare'),
      // Refreshes are due from the start (the margin is longer than the token's life), so every request meets a
      // token endpoint that is down.
      settings: {
        admin_key: ADMIN['x-api-key'],
        deduplication: { enabled: false },
        oauth: oauthSettings(tokens, store.path, { refresh_margin: 600 }),
      },
    });
    tokens.addAccount({ email: 'dana@example.com', plan: 'claude_max' });
    tokens.expiresIn = 14;
    await importAccount(gateway.url, tokens, 'dana@example.com', ADMIN);
  });

  afterAll(async () => {
    await gateway?.close();
    await Promise.all([subscription?.close(), spare?.close()]);
    store?.remove();
  });

  it('should fail no request while the tokens are valid, then say why the account rests once they expire', async () => {
    await tokens.close();
    const whileValid = await traffic(gateway, 2, true);
    const servedBySubscription = subscription.requests.length;
    process.stdout.write(
      `token endpoint down, tokens valid: ${whileValid.sent} requests sent, ${whileValid.failed} failed, ` +
        `${servedBySubscription} served by the account\n`,
    );
    expect(whileValid.samples).toEqual([]);
    expect(whileValid.failed).toBe(0);
    expect(servedBySubscription).toBe(whileValid.sent);

    // Past the token's end (less the gateway's slack), the account cannot serve and the spare provider does.
    await sleep(5_000);
    const afterExpiry = await traffic(gateway, 1, true);
    expect(afterExpiry.failed).toBe(0);
    expect(subscription.requests.length).toBe(servedBySubscription);
    const status = await getJson(`${gateway.url}/oauth/status`, ADMIN);
    const [account] = status.body.accounts as Record<string, string | boolean | null>[];
    // The operator sees that it rests and why: the token ran out, the refresh could not reach the token endpoint, and
    // when it is tried again.
    expect(account).toMatchObject({
      email: 'dana@example.com',
      state: 'parked',
      refresh_retry_at: expect.any(String),
    });
    expect(account!.parked_until).toBe(account!.refresh_retry_at);
    expect(account!.state_reason).toMatch(/access token has run out/);
    expect(account!.last_error).toMatch(/token endpoint could not be reached/);
    const route = await getJson(`${gateway.url}/providers/route?model=claude-sonnet-4-5`, ADMIN);
    const reason = JSON.stringify(route.body.candidates);
    expect(reason).toMatch(/token (expired|endpoint)/);
  });
});
