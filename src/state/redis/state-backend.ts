import { Logger } from '@nestjs/common';
import Redis from 'ioredis';

/** A Redis command must not hold a request up: past this, the replica carries on with its own state. */
const COMMAND_TIMEOUT_MS = 250;

/**
 * The connection to Redis that shared stores use: keys under the configured prefix, commands that fail fast while
 * Redis is away (no offline queue, a short timeout), pub/sub for the stores' change notices, reconnection by itself.
 * Going away and coming back are each logged once and reported to `onStatus`.
 */
export class StateBackend {
  readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly logger = new Logger('State');
  private readonly handlers = new Map<string, ((message: string) => void)[]>();
  private readonly reconnectHandlers: (() => void)[] = [];
  private scripts = 0;
  private readonly closers: (() => Promise<void>)[] = [];
  /** Unknown until the first connection attempt, so that a Redis down at startup is logged too. */
  private up: boolean | undefined;

  constructor(
    url: string,
    private readonly prefix: string,
    private readonly onStatus: (up: boolean) => void = () => undefined,
  ) {
    const options = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      // Commands issued in the same tick (many requests at once) go out in one write.
      enableAutoPipelining: true,
      retryStrategy: (times: number) => Math.min(200 * times, 2_000),
    };
    this.redis = new Redis(url, { ...options, keyPrefix: prefix });
    // The subscriber queues its SUBSCRIBEs while disconnected, so that it resubscribes by itself after an outage.
    this.subscriber = new Redis(url, { lazyConnect: true, retryStrategy: options.retryStrategy });
    this.redis.on('ready', () => this.setUp(true));
    this.redis.on('end', () => this.setUp(false));
    this.redis.on('close', () => this.setUp(false));
    this.redis.on('error', () => this.setUp(false));
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (channel: string, message: string) => {
      for (const handler of this.handlers.get(channel) ?? []) handler(message);
    });
  }

  get isUp(): boolean {
    return this.up === true;
  }

  /** Connects both clients; a Redis that does not answer yet is not an error (the replica serves on local state). */
  async connect(): Promise<void> {
    await Promise.all([
      this.redis.connect().catch(() => this.setUp(false)),
      this.subscriber.connect().catch(() => undefined),
    ]);
  }

  /** Runs a command; undefined when Redis did not answer in time (the caller falls back to local state). */
  async run<T>(command: () => Promise<T>): Promise<T | undefined> {
    try {
      return await command();
    } catch {
      this.setUp(false);
      return undefined;
    }
  }

  /**
   * A Lua script run by its SHA (EVALSHA, loading it once when Redis does not know it), so that a script on the hot
   * path is not sent and hashed again with every call. Resolves undefined when Redis does not answer in time.
   * Without `numberOfKeys`, each call passes the number of keys first.
   */
  script<T>(lua: string, numberOfKeys?: number): (...args: (string | number | Buffer)[]) => Promise<T | undefined> {
    const name = `balancerScript${++this.scripts}`;
    this.redis.defineCommand(name, numberOfKeys === undefined ? { lua } : { numberOfKeys, lua });
    const command = (this.redis as unknown as Record<string, (...args: unknown[]) => Promise<T>>)[name]!.bind(
      this.redis,
    );
    return (...args) => this.run(() => command(...args));
  }

  /**
   * A connection of its own for blocking reads, which would hold up every other command on the shared one. Its
   * commands wait as long as they block (plus a margin), not the shared connection's short timeout.
   */
  blockingConnection(): Redis {
    const connection = this.redis.duplicate({ commandTimeout: undefined, blockingTimeout: 2_000 });
    connection.on('error', () => undefined);
    void connection.connect().catch(() => undefined);
    return connection;
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.run(() => this.redis.publish(this.channel(channel), message));
  }

  onMessage(channel: string, handler: (message: string) => void): void {
    const name = this.channel(channel);
    const existing = this.handlers.get(name);
    if (existing) existing.push(handler);
    else {
      this.handlers.set(name, [handler]);
      void this.subscriber.subscribe(name).catch(() => undefined);
    }
  }

  /** Called each time Redis answers again after being away, so stores can take the shared view again. */
  onReconnect(handler: () => void): void {
    this.reconnectHandlers.push(handler);
  }

  /** Every key under the prefix matching `pattern`, without the prefix. */
  async scan(pattern: string): Promise<string[]> {
    const keys: string[] = [];
    const done = await this.run(async () => {
      let cursor = '0';
      do {
        // SCAN's pattern is not prefixed by the client; the keys it returns carry the prefix.
        const [next, batch] = await this.redis.scan(cursor, 'MATCH', `${this.prefix}${pattern}`, 'COUNT', 500);
        cursor = next;
        keys.push(...batch.map((key) => key.slice(this.prefix.length)));
      } while (cursor !== '0');
      return true;
    });
    return done ? keys : [];
  }

  /** Runs before the connection closes at shutdown, so a store can write out what it held back. */
  beforeClose(handler: () => Promise<void>): void {
    this.closers.push(handler);
  }

  async close(): Promise<void> {
    await Promise.all(this.closers.splice(0).map((closer) => closer().catch(() => undefined)));
    this.redis.disconnect();
    this.subscriber.disconnect();
    await Promise.resolve();
  }

  private channel(name: string): string {
    return `${this.prefix}${name}`;
  }

  private setUp(up: boolean): void {
    if (up === this.up) return;
    this.up = up;
    this.onStatus(up);
    if (up) {
      this.logger.log('The shared state backend (Redis) answers: state is shared with the other replicas');
      for (const handler of this.reconnectHandlers) handler();
    } else {
      this.logger.warn('The shared state backend (Redis) does not answer: serving on this replica’s own state');
    }
  }
}
