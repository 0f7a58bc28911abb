/**
 * Management endpoints called from another host. Without an admin key they answer loopback only: a caller on the
 * network gets 403 however it dresses the request (a forwarded-for header, a loopback Host), while the same gateway
 * serves it /v1/messages. With an admin key, a remote caller gets 401 until it sends the key.
 */
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { anthropicProvider, getJson, userMessage } from '../support/gateway-harness';
import { routeAll } from '../support/oauth-gateway';
import { type LoadGateway, startGatewayProcess } from './load-kit';
import { canMakeRemoteHosts, makeRemoteHost, type RemoteAnswer, type RemoteCall, type RemoteHost } from './remote-host';

const ADMIN_KEY = 'adm-remote-5c8e1f3a9b7d2046';
const JSON_HEADERS = { 'content-type': 'application/json' };

/** Every management route, with a body where it takes one. */
const MANAGEMENT: RemoteCall[] = [
  { path: '/providers' },
  { path: '/providers/route?model=claude-sonnet-4-5' },
  { method: 'POST', path: '/providers/reload' },
  { path: '/oauth/status' },
  { path: '/oauth/authorize' },
  { path: '/oauth/generate-url' },
  { method: 'POST', path: '/oauth/exchange-code', headers: JSON_HEADERS, body: '{"code":"x#y"}' },
  { method: 'POST', path: '/oauth/import', headers: JSON_HEADERS, body: '{"claudeAiOauth":{}}' },
  { method: 'POST', path: '/oauth/refresh/someone%40example.com' },
  { method: 'DELETE', path: '/oauth/tokens/someone%40example.com' },
  { method: 'DELETE', path: '/oauth/tokens' },
  { path: '/usage' },
  { path: '/dashboard' },
  { path: '/dashboard/summary' },
];

const withHeaders = (calls: RemoteCall[], headers: Record<string, string>) =>
  calls.map((call) => ({ ...call, headers: { ...call.headers, ...headers } }));

function expectRefused(calls: RemoteCall[], answers: RemoteAnswer[], status: number, type: string): void {
  expect(answers).toHaveLength(calls.length);
  answers.forEach((answer, i) => {
    const body = JSON.parse(answer.text) as { type?: string; error?: { type?: string; message?: string } };
    const path = calls[i]!.path;
    expect({ path, status: answer.status, type: body.error?.type }).toEqual({ path, status, type });
    expect(body.type).toBe('error');
    expect(answer.headers['x-request-id']).toEqual(expect.any(String));
    expect(answer.text).not.toContain(ADMIN_KEY);
  });
}

const describeWithHosts = canMakeRemoteHosts() ? describe : describe.skip;

describeWithHosts('management endpoints called from another host', () => {
  let upstream: FakeUpstream;
  let remote: RemoteHost;
  let gateway: LoadGateway | undefined;

  const start = async (settings: Record<string, unknown>) => {
    gateway = await startGatewayProcess({
      providers: [anthropicProvider('main', upstream.url)],
      model_routes: routeAll('main'),
      settings: { host: '0.0.0.0', ...settings },
    });
    return { gateway, port: Number(new URL(gateway.url).port) };
  };

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    remote = makeRemoteHost();
  });

  afterEach(async () => {
    await gateway?.stop();
    gateway = undefined;
  });

  afterAll(async () => {
    remote?.remove();
    await upstream?.close();
  });

  it('should refuse every management endpoint to a remote caller while no admin key is set, and serve it messages', async () => {
    const { gateway, port } = await start({});
    const message = {
      method: 'POST',
      path: '/v1/messages',
      headers: JSON_HEADERS,
      body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 8, messages: userMessage() }),
    };
    const calls = [
      ...MANAGEMENT,
      // Headers a proxy would set are not believed: the socket's address decides.
      ...withHeaders(MANAGEMENT, { 'x-forwarded-for': '127.0.0.1', 'x-real-ip': '127.0.0.1', host: '127.0.0.1' }),
    ];
    const [served, ...refused] = await remote.callAll(port, [message, ...calls]);
    expect(served!.status).toBe(200);
    expectRefused(calls, refused, 403, 'permission_error');
    expect(JSON.parse(refused[0]!.text).error.message).toMatch(/loopback/);

    // The same gateway from loopback: the refusal was the address, not the route.
    expect((await getJson(`${gateway.url}/providers`)).status).toBe(200);
    expect(upstream.requests).toHaveLength(1);
  });

  it('should ask a remote caller for the admin key once one is set, and serve it with the key', async () => {
    const { port } = await start({ admin_key: ADMIN_KEY });
    // The dashboard's page asks for the key itself, so it opens (it holds no data); everything else wants the key.
    const keyed = MANAGEMENT.filter((call) => call.path !== '/dashboard');
    const calls = [...keyed, ...withHeaders(keyed, { 'x-api-key': `${ADMIN_KEY}0` })];
    const [page, ...refused] = await remote.callAll(port, [{ path: '/dashboard' }, ...calls]);
    expect(page!.status).toBe(200);
    expect(page!.text).toContain('<title>');
    expectRefused(calls, refused, 401, 'authentication_error');

    const allowed = await remote.callAll(
      port,
      ['/providers', '/oauth/status', '/usage', '/dashboard/summary'].map((path) => ({
        path,
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      })),
    );
    expect(allowed.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
    for (const answer of allowed) expect(answer.text).not.toContain(ADMIN_KEY);
  });
});
