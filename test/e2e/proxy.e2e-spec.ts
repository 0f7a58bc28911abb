import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import {
  anthropicProvider,
  postJson,
  type RunningGateway,
  startGateway,
  userMessage,
} from '../support/gateway-harness';

interface TunnelRequest {
  readonly target: string;
  readonly proxyAuthorization?: string;
}

/** A minimal HTTP CONNECT proxy on loopback that records every tunnel it was asked for. */
async function startConnectProxy(): Promise<{ url: string; tunnels: TunnelRequest[]; close(): Promise<void> }> {
  const tunnels: TunnelRequest[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    tunnels.push({ target: req.url ?? '', proxyAuthorization: req.headers['proxy-authorization'] });
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => sockets.delete(socket));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    tunnels,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('per-provider outbound proxy', () => {
  let fake: FakeUpstream;
  let proxy: Awaited<ReturnType<typeof startConnectProxy>>;
  let gateway: RunningGateway;

  beforeAll(async () => {
    [fake, proxy] = await Promise.all([startFakeUpstream(), startConnectProxy()]);
    const proxyUrl = new URL(proxy.url);
    proxyUrl.username = 'team';
    proxyUrl.password = 'proxy-pass-789';
    gateway = await startGateway({
      providers: [
        anthropicProvider('direct', fake.url),
        anthropicProvider('proxied', fake.url, { proxy: proxyUrl.toString() }),
      ],
      model_routes: {
        'via-proxy': [{ provider: 'proxied', model: 'passthrough', priority: 1 }],
        '*': [{ provider: 'direct', model: 'passthrough', priority: 1 }],
      },
    });
  });

  afterAll(async () => {
    await gateway.close();
    await Promise.all([fake.close(), proxy.close()]);
  });

  it('should reach a proxied provider through its proxy, with the proxy credentials', async () => {
    const response = await postJson(`${gateway.url}/v1/messages`, {
      model: 'via-proxy',
      max_tokens: 10,
      messages: userMessage(),
    });
    expect(response.status).toBe(200);
    expect(response.headers['x-provider-used']).toBe('proxied');
    expect(proxy.tunnels.map((t) => t.target)).toContain(new URL(fake.url).host);
    const credentials = Buffer.from('team:proxy-pass-789').toString('base64');
    expect(proxy.tunnels[0]?.proxyAuthorization).toBe(`Basic ${credentials}`);
  });

  it('should not send other providers through it', async () => {
    const before = proxy.tunnels.length;
    const response = await postJson(`${gateway.url}/v1/messages`, {
      model: 'claude-sonnet-4-5',
      max_tokens: 10,
      messages: userMessage(),
    });
    expect(response.status).toBe(200);
    expect(response.headers['x-provider-used']).toBe('direct');
    expect(proxy.tunnels).toHaveLength(before);
  });
});
