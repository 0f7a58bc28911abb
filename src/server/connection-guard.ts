import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Counts the open connections of each client address, so that one address cannot take every socket the process has.
 * A connection past the cap is marked when it opens; its requests are refused (with a proper answer) by the request
 * hook, and it is closed after that answer.
 */
export class ConnectionGuard {
  private readonly open = new Map<string, number>();
  private readonly overCap = new WeakSet<Socket>();

  constructor(private readonly maxPerAddress: number) {}

  attach(server: Server): void {
    server.on('connection', (socket: Socket) => this.track(socket));
  }

  /** True when the socket opened while its address already held the maximum. */
  refuses(socket: Socket): boolean {
    return this.overCap.has(socket);
  }

  get limit(): number {
    return this.maxPerAddress;
  }

  openFrom(address: string): number {
    return this.open.get(address) ?? 0;
  }

  private track(socket: Socket): void {
    const address = socket.remoteAddress ?? 'unknown';
    const count = this.openFrom(address) + 1;
    this.open.set(address, count);
    if (count > this.maxPerAddress) this.overCap.add(socket);
    socket.once('close', () => {
      const left = this.openFrom(address) - 1;
      if (left > 0) this.open.set(address, left);
      else this.open.delete(address);
    });
  }
}
