import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { request } from 'undici';
import { ActiveConfig } from '../../src/config/active-config';
import { buildConfig } from '../../src/config/config-loader';
import { ConfigSource } from '../../src/config/config-source';
import { streamedAnswer } from '../../src/dedup/dedup.store.contract';
import { assembleMessage } from '../../src/dedup/message-assembler';
import { AccessLogger } from '../../src/logging/access-log';
import type { CallEnd, CallHead } from '../../src/messages/call-answer';
import { ReplySink } from '../../src/messages/reply-sink';
import { LiveTraffic } from '../../src/metrics/live-traffic';
import { MetricsService } from '../../src/metrics/metrics.service';
import { RequestFinisher } from '../../src/request/request-finisher';
import { registerRequestLifecycle, requestIdFor } from '../../src/request/request-lifecycle';

interface ScriptedCall {
  readonly head: CallHead;
  readonly chunks: string[];
  readonly end: CallEnd;
  /** Wait for this before ending (to let the client leave first). */
  readonly before?: Promise<void>;
}

const STREAM: CallHead = { kind: 'stream', status: 200, headers: { 'x-provider-used': 'p1' } };

/** The reply side of the gateway on a bare Fastify server (no Nest): a sink fed a scripted call, and the finisher. */
describe('delivering a call to a client, and ending the request once', () => {
  let app: FastifyInstance;
  let url: string;
  let metrics: MetricsService;
  const lines: Record<string, unknown>[] = [];
  const finished: string[] = [];
  let script: ScriptedCall;

  beforeAll(async () => {
    const config = buildConfig(
      {
        providers: [{ name: 'p1', type: 'anthropic', base_url: 'http://127.0.0.1:9', auth_value: 'sk-delivery-p1' }],
        model_routes: {},
      },
      'delivery.yaml',
      {},
    );
    const active = new ActiveConfig(new ConfigSource('delivery.yaml', config, {}, {}));
    metrics = new MetricsService();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
          lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const finisher = new RequestFinisher(metrics, new AccessLogger(pino({ level: 'info' }, sink)), new LiveTraffic());
    app = Fastify({ genReqId: requestIdFor, forceCloseConnections: true });
    registerRequestLifecycle(app, active, finisher);
    app.post<{ Querystring: { stream?: string } }>('/v1/messages', async (req, reply) => {
      const context = req.gateway;
      context.modelLabel = 'm';
      context.onFinish(() => finished.push(context.id));
      finisher.track(context);
      const chunks = [...script.chunks];
      const reader = new ReplySink(context, reply, {
        stream: req.query.stream === '1',
        assembled: () => assembleMessage(chunks),
      });
      reader.start(script.head);
      for (const chunk of script.chunks) reader.write(chunk);
      await script.before;
      reader.end(script.end);
      return reply;
    });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(() => app.close());

  beforeEach(() => {
    lines.length = 0;
    finished.length = 0;
    metrics.requests.reset();
  });

  const post = async (stream: boolean) => {
    const response = await request(`${url}/v1/messages${stream ? '?stream=1' : ''}`, { method: 'POST' });
    return { status: response.statusCode, headers: response.headers, text: await response.body.text() };
  };
  const counted = async () =>
    (await metrics.requests.get()).values.map((v) => [v.labels.provider, v.labels.status, v.value]);

  it('should give a client that asked for JSON the message a streaming call assembled, nothing lost', async () => {
    script = { head: STREAM, chunks: streamedAnswer('whole answer'), end: { failed: false } };
    const response = await post(false);
    expect(response.status).toBe(200);
    expect(response.headers['x-provider-used']).toBe('p1');
    expect(JSON.parse(response.text)).toMatchObject({
      content: [{ type: 'text', text: 'whole answer' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 3, output_tokens: 2 },
    });
    expect(await counted()).toEqual([['p1', '200', 1]]);
  });

  it('should stream a streaming call to a streaming client byte for byte', async () => {
    script = { head: STREAM, chunks: streamedAnswer('as sent'), end: { failed: false } };
    const response = await post(true);
    expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(response.headers['x-request-id']).toMatch(/^req_/);
    expect(response.text).toBe(streamedAnswer('as sent').join(''));
  });

  it('should turn a broken stream into an error in the shape each client asked for', async () => {
    const [start] = streamedAnswer('cut');
    const error = { type: 'overloaded_error', message: 'Provider p1 failed mid-stream: reset' };
    script = { head: STREAM, chunks: [start!], end: { failed: true, error } };
    const json = await post(false);
    expect(json.status).toBe(529);
    expect(JSON.parse(json.text)).toMatchObject({ type: 'error', error });
    const streamed = await post(true);
    expect(streamed.status).toBe(200);
    expect(await counted()).toEqual(
      expect.arrayContaining([
        ['p1', '529', 1],
        ['p1', 'stream_error', 1],
      ]),
    );
    expect(lines.filter((line) => String(line.url).startsWith('/v1/messages'))).toHaveLength(2);
  });

  it('should end a request whose client left mid-stream exactly once: counted, logged and its hooks run', async () => {
    let leave!: () => void;
    const left = new Promise<void>((resolve) => (leave = resolve));
    script = { head: STREAM, chunks: [streamedAnswer('x')[0]!], end: { failed: false }, before: left };
    const aborter = new AbortController();
    const response = await request(`${url}/v1/messages?stream=1`, { method: 'POST', signal: aborter.signal });
    for await (const chunk of response.body) {
      expect(String(chunk)).toContain('message_start');
      break;
    }
    aborter.abort();
    await new Promise((resolve) => setTimeout(resolve, 50));
    leave();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await counted()).toEqual([['p1', 'client_closed', 1]]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ url: '/v1/messages?stream=1', provider: 'p1', aborted: true });
    expect(finished).toHaveLength(1);
    expect((await metrics.inflight.get()).values[0]?.value).toBe(0);
  });
});
