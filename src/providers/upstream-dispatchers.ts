import { Agent, type Dispatcher, ProxyAgent, Socks5ProxyAgent } from 'undici';
import type { ProviderConfig, TimeoutSettings } from '../config/gateway-config';

interface Entry {
  readonly key: string;
  readonly dispatcher: Dispatcher;
}

const KEEP_ALIVE_MS = 30_000;

/**
 * One pooled keep-alive dispatcher per provider, created when a config is applied and closed gracefully when the
 * provider leaves the config (undici's close() lets in-flight requests finish). Unchanged providers keep their pool
 * across reloads, so a reload does not drop warm connections.
 */
export class UpstreamDispatchers {
  private entries = new Map<string, Entry>();
  /** Pools a reload replaced, still reachable by requests that started on the old config until they are closed. */
  private readonly retiring = new Map<string, Entry>();

  apply(providers: readonly ProviderConfig[], timeouts: TimeoutSettings): void {
    const next = new Map<string, Entry>();
    for (const provider of providers) {
      const key = `${provider.origin}|${provider.proxy ?? ''}|${timeouts.connectMs}`;
      const existing = this.entries.get(provider.name);
      next.set(
        provider.name,
        existing?.key === key ? existing : { key, dispatcher: createDispatcher(provider.proxy, timeouts.connectMs) },
      );
    }
    const kept = new Set(next.values());
    const retired = [...this.entries].filter(([, entry]) => !kept.has(entry));
    this.entries = next;
    // A request that started on the old config may still fail over to a retired provider: close its pool only once
    // no such request can still be waiting for headers or for the rest of a body.
    const lifetimeMs = timeouts.firstByteMs + timeouts.idleMs;
    for (const [name, entry] of retired) {
      this.retiring.set(name, entry);
      setTimeout(() => {
        if (this.retiring.get(name) === entry) this.retiring.delete(name);
        void entry.dispatcher.close().catch(() => undefined);
      }, lifetimeMs).unref();
    }
  }

  get(providerName: string): Dispatcher {
    const entry = this.entries.get(providerName) ?? this.retiring.get(providerName);
    if (!entry) throw new Error(`No dispatcher for provider ${providerName}`);
    return entry.dispatcher;
  }

  async closeAll(): Promise<void> {
    const all = [...this.entries.values(), ...this.retiring.values()];
    this.entries = new Map();
    this.retiring.clear();
    await Promise.all(all.map((entry) => entry.dispatcher.close().catch(() => undefined)));
  }
}

function createDispatcher(proxy: string | undefined, connectTimeoutMs: number): Dispatcher {
  const options = { connect: { timeout: connectTimeoutMs }, keepAliveTimeout: KEEP_ALIVE_MS };
  if (!proxy) return new Agent(options);
  if (/^socks5?:/i.test(proxy)) {
    return new Socks5ProxyAgent(proxy.replace(/^socks:/i, 'socks5:'), {
      keepAliveTimeout: KEEP_ALIVE_MS,
      connectTimeout: connectTimeoutMs,
    });
  }
  return new ProxyAgent({ uri: proxy, ...options });
}
