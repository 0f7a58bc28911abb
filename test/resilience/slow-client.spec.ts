/**
 * Misbehaving clients over raw sockets, with short server limits: slow-loris in bulk, broken and oversized headers,
 * unknown routes, and one address holding more connections than it may. Every answer the server gives on its own
 * must be in Anthropic's error shape, and the protocol errors must be counted on GET /metrics.
 */
import { Client } from 'undici';
import { withTimeout } from '../support/e2e-helpers';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import {
  anthropicProvider,
  expectAnthropicError,
  getJson,
  postJson,
  type RunningGateway,
  startGateway,
} from '../support/gateway-harness';
import type { ServerLimits } from '../../src/server/server-limits';
import { isAnthropicError, metricInText, RawConnection, type RawResponse, requestHead } from './raw-http';

const SHORT_LIMITS: Partial<ServerLimits> = {
  headersTimeoutMs: 2000,
  requestTimeoutMs: 10_000,
  bodyGraceMs: 2000,
  deadlineCheckMs: 250,
};
const TRICKLERS = 200;
/** Header timeout, plus the deadline check, plus a loaded 2-core machine's slack. */
const CUT_BOUND_MS = 15_000;
const VALID = JSON.stringify({ model: 'claude-sonnet-x', max_tokens: 16, messages: [{ role: 'user', content: 'x' }] });

const config = (fake: FakeUpstream) => ({
  providers: [anthropicProvider('main', fake.url)],
  model_routes: { '*': [{ provider: 'main', model: 'passthrough', priority: 1 }] },
  settings: { deduplication: { enabled: false } },
});

async function protocolErrors(gateway: RunningGateway, reason: string): Promise<number> {
  const metrics = await getJson(`${gateway.url}/metrics`);
  expect(metrics.status).toBe(200);
  return metricInText(metrics.text, 'balancer_client_protocol_errors_total', { reason });
}

/** A normal request on a connection of its own (not one of the shared pool's), bounded in time. */
async function requestOnFreshConnection(url: string, ms: number): Promise<{ status: number; body: string }> {
  const client = new Client(url);
  try {
    const run = async () => {
      const response = await client.request({
        method: 'POST',
        path: '/v1/messages',
        headers: { 'content-type': 'application/json' },
        body: VALID,
      });
      return { status: response.statusCode, body: await response.body.text() };
    };
    return await withTimeout(run(), ms, 'a normal request on a fresh connection');
  } finally {
    await client.destroy();
  }
}

function shapeOf(response: RawResponse | undefined) {
  return {
    status: response?.status,
    connection: response?.headers.connection,
    anthropicShape: isAnthropicError(response?.json),
  };
}

describe('misbehaving clients, with short server limits', () => {
  let fake: FakeUpstream;
  let gateway: RunningGateway;
  const open = new Set<RawConnection>();

  async function connection(): Promise<RawConnection> {
    const raw = await RawConnection.open(gateway.url);
    open.add(raw);
    return raw;
  }

  beforeAll(async () => {
    fake = await startFakeUpstream();
    gateway = await startGateway(config(fake), {}, { serverLimits: SHORT_LIMITS });
  });

  afterEach(async () => {
    await Promise.all([...open].map((raw) => raw.destroy()));
    open.clear();
    fake.reset();
  });

  afterAll(async () => {
    await gateway.close();
    await fake.close();
  });

  it('should cut 200 trickling connections within the bound while a fresh connection is still served at once', async () => {
    const timeoutsBefore = await protocolErrors(gateway, 'timeout');
    const tricklers: RawConnection[] = [];
    for (let batch = 0; batch < TRICKLERS / 50; batch++) {
      tricklers.push(...(await Promise.all(Array.from({ length: 50 }, () => connection()))));
    }
    const head = requestHead('POST', '/v1/messages', { 'content-type': 'application/json', 'content-length': 10 });
    for (const raw of tricklers) raw.trickle(head, 500);

    const normal = await requestOnFreshConnection(gateway.url, 5000);
    expect(normal.status).toBe(200);
    expect(JSON.parse(normal.body)).toMatchObject({ type: 'message' });

    const ends = await Promise.all(
      tricklers.map((raw, i) => raw.closedWithin(CUT_BOUND_MS, `trickling connection ${i}`)),
    );
    const expected = { status: 408, connection: 'close', anthropicShape: true };
    expect(ends.map((end) => shapeOf(end.response))).toEqual(ends.map(() => expected));
    expect(fake.requests).toHaveLength(1);
    expect(await protocolErrors(gateway, 'timeout')).toBeGreaterThanOrEqual(timeoutsBefore + TRICKLERS);
  });

  it('should answer bad header bytes with a 400 in Anthropic shape and count it', async () => {
    const before = await protocolErrors(gateway, 'bad_request');
    const raw = await connection();
    raw.write('GET /health/live HTTP/1.1\r\nho\x01st: x\r\n\r\n');

    const end = await raw.closedWithin(5000, 'a request with a control byte in a header name');

    expect(shapeOf(end.response)).toEqual({ status: 400, connection: 'close', anthropicShape: true });
    expect(end.response?.json).toMatchObject({ error: { type: 'invalid_request_error' } });
    expect(await protocolErrors(gateway, 'bad_request')).toBe(before + 1);
  });

  it('should answer 100 KB of request headers with a 431 in Anthropic shape and count it', async () => {
    const before = await protocolErrors(gateway, 'header_overflow');
    const raw = await connection();
    raw.write(requestHead('GET', '/health/live', { 'x-large': 'a'.repeat(100 * 1024) }));

    const end = await raw.closedWithin(5000, 'a request with 100 KB of headers');

    expect(shapeOf(end.response)).toEqual({ status: 431, connection: 'close', anthropicShape: true });
    expect(await protocolErrors(gateway, 'header_overflow')).toBe(before + 1);
  });

  it('should answer unknown routes with a 404 not_found_error', async () => {
    expectAnthropicError(await getJson(`${gateway.url}/v1/nothing-here`), 404, 'not_found_error');
    expectAnthropicError(await postJson(`${gateway.url}/v2/messages`, VALID), 404, 'not_found_error');
    const raw = await connection();
    raw.write(requestHead('DELETE', '/v1/messages'));
    const response = await raw.nextResponse(5000, 'DELETE /v1/messages');
    expect(response.status).toBe(404);
    expect(isAnthropicError(response.json, 'not_found_error')).toBe(true);
    expect(fake.requests).toHaveLength(0);
  });
});

describe('the per-address connection cap', () => {
  const CAP = 5;
  let fake: FakeUpstream;
  let gateway: RunningGateway;
  const open = new Set<RawConnection>();

  async function keptAlive(): Promise<RawConnection> {
    const raw = await RawConnection.open(gateway.url);
    open.add(raw);
    raw.write(requestHead('GET', '/health/live'));
    const response = await raw.nextResponse(5000, 'GET /health/live on a kept-alive connection');
    expect(response.status).toBe(200);
    return raw;
  }

  beforeAll(async () => {
    fake = await startFakeUpstream();
    gateway = await startGateway(
      config(fake),
      {},
      { serverLimits: { ...SHORT_LIMITS, maxConnectionsPerAddress: CAP, keepAliveTimeoutMs: 60_000 } },
    );
  });

  afterAll(async () => {
    await Promise.all([...open].map((raw) => raw.destroy()));
    await gateway.close();
    await fake.close();
  });

  it('should refuse a connection past the cap with a 429 and serve new ones once the others closed', async () => {
    const held = [];
    for (let i = 0; i < CAP; i++) held.push(await keptAlive());

    const extra = await RawConnection.open(gateway.url);
    open.add(extra);
    extra.write(
      requestHead('POST', '/v1/messages', {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(VALID),
      }) + VALID,
    );
    const refused = await extra.nextResponse(5000, 'a request on the connection past the cap');
    expect(shapeOf(refused)).toEqual({ status: 429, connection: 'close', anthropicShape: true });
    expect(isAnthropicError(refused.json, 'rate_limit_error')).toBe(true);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    await extra.closedWithin(5000, 'the refused connection being closed');
    expect(fake.requests).toHaveLength(0);
    expect(held.every((raw) => !raw.isClosed)).toBe(true);

    await Promise.all(held.map((raw) => raw.destroy()));

    // The server learns of the closes asynchronously: a few fresh tries, each on a new connection.
    let status = 0;
    for (let attempt = 0; attempt < 20 && status !== 200; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await requestOnFreshConnection(gateway.url, 5000)).status;
    }
    expect(status).toBe(200);
  });
});
