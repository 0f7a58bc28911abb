import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { ConnectionGuard } from './connection-guard';

describe('ConnectionGuard', () => {
  let server: Server;
  let guard: ConnectionGuard;
  let port: number;
  const accepted: Socket[] = [];
  const clients: Socket[] = [];

  beforeEach(async () => {
    server = createServer();
    guard = new ConnectionGuard(2);
    guard.attach(server);
    server.on('connection', (socket: Socket) => accepted.push(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  });

  afterEach(async () => {
    for (const socket of [...clients, ...accepted]) socket.destroy();
    clients.length = 0;
    accepted.length = 0;
    server.close();
    await once(server, 'close');
  });

  async function open(): Promise<Socket> {
    const before = accepted.length;
    const socket = connect(port, '127.0.0.1');
    clients.push(socket);
    await once(socket, 'connect');
    while (accepted.length === before) await new Promise((resolve) => setImmediate(resolve));
    return accepted.at(-1)!;
  }

  it('should refuse only the connections opened past the cap', async () => {
    const first = await open();
    const second = await open();
    const third = await open();
    expect([first, second, third].map((socket) => guard.refuses(socket))).toEqual([false, false, true]);
    expect(guard.openFrom('127.0.0.1')).toBe(3);
  });

  it('should count a closed connection out, so the address may open another', async () => {
    const first = await open();
    await open();
    clients[0]!.destroy();
    await once(first, 'close');
    expect(guard.openFrom('127.0.0.1')).toBe(1);
    expect(guard.refuses(await open())).toBe(false);
  });
});
