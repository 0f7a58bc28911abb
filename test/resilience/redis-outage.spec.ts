import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { eventually } from '../support/e2e-helpers';
import { closedLoop, isComplete, messageBody } from './load-kit';
import {
  anthropicProvider,
  getJson,
  postJson,
  type RunningGateway,
  startGateway,
  userMessage,
} from '../support/gateway-harness';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** A redis-server of this test's own, on its own port, that the test stops and starts again. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await eventually(() => output.includes('Ready to accept connections'), 'redis-server to start', 10_000);
  return child;
}

async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

describe('Redis going away under load and coming back', () => {
  let upstream: FakeUpstream;
  let spare: FakeUpstream;
  let redis: ChildProcess;
  let port: number;
  let a: RunningGateway;
  let b: RunningGateway;

  beforeAll(async () => {
    [upstream, spare] = await Promise.all([startFakeUpstream(), startFakeUpstream()]);
    port = await freePort();
    redis = await startRedis(port);
    const config = {
      providers: [anthropicProvider('first', upstream.url), anthropicProvider('second', spare.url)],
      model_routes: {
        '*': [
          { provider: 'first', model: 'passthrough', priority: 1 },
          { provider: 'second', model: 'passthrough', priority: 2 },
        ],
      },
      settings: {
        sticky_provider_duration: 0,
        // Dedup on, with a replay cache: every request also claims its signature in Redis and looks up the cache.
        deduplication: { enabled: true, cache_ttl: 30 },
        state: { backend: 'redis', redis_url: `redis://127.0.0.1:${port}`, key_prefix: 'outage:' },
      },
    };
    a = await startGateway(config);
    b = await startGateway(config);
  });

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await Promise.all([upstream.close(), spare.close()]);
    await stopRedis(redis);
  });

  const backendUp = async (gateway: RunningGateway) =>
    /^balancer_state_backend_up 1$/m.test((await getJson(`${gateway.url}/metrics`)).text);

  it('should fail no request while Redis is killed and restarted, and share state again afterwards', async () => {
    let answered = 0;
    let loading = true;
    // 16 workers over both replicas, streams and JSON, some of them identical (dedup claims and replays in Redis).
    const load = closedLoop({
      workers: 16,
      seconds: 60,
      done: () => !loading,
      next: (n) => {
        const stream = n % 3 === 0;
        const text = n % 5 === 0 ? `the same ${Math.floor(n / 50)}` : `request ${n}`;
        return { url: `${(n % 2 === 0 ? a : b).url}/v1/messages`, body: messageBody(text, stream), stream };
      },
      accept: (status, body, stream) => {
        const whole = isComplete(stream, status, body);
        if (whole) answered += 1;
        return whole;
      },
    });

    await eventually(() => answered >= 50, 'some load before the outage', 20_000);
    await stopRedis(redis);
    await eventually(
      async () => !(await backendUp(a)) && !(await backendUp(b)),
      'both replicas to see Redis gone',
      10_000,
    );
    const during = await getJson(`${a.url}/health`);
    expect(during.status).toBe(200);
    expect(during.body.details.state.status).toBe('down');
    const answeredBeforeDown = answered;
    const downSince = Date.now();
    await eventually(
      () => answered >= answeredBeforeDown + 300 && Date.now() - downSince >= 2_000,
      'two seconds of load without Redis',
      20_000,
    );
    const answeredWhileDown = answered - answeredBeforeDown;

    redis = await startRedis(port);
    await eventually(async () => (await backendUp(a)) && (await backendUp(b)), 'both replicas to reconnect', 15_000);
    const after = await getJson(`${b.url}/health`);
    expect(after.body.details.state.status).toBe('up');
    loading = false;
    const outcome = await load;
    process.stdout.write(
      `redis killed and restarted: ${outcome.sent} requests over two replicas, ${outcome.failed} failed, ` +
        `${answeredWhileDown} of them answered while Redis was down\n`,
    );
    expect(outcome.samples).toEqual([]);
    expect(outcome.failed).toBe(0);

    // Shared again: a cooldown through A holds on B.
    upstream.enqueue({ kind: 'status', status: 500, message: 'x' }, { kind: 'status', status: 500, message: 'x' });
    await postJson(`${a.url}/v1/messages`, { model: 'm', max_tokens: 5, messages: userMessage('after 1') });
    await postJson(`${a.url}/v1/messages`, { model: 'm', max_tokens: 5, messages: userMessage('after 2') });
    await eventually(() => !b.providers.health.isUsable('first'), 'the cooldown to reach B after the outage', 5_000);
  });
});
