import { request } from 'undici';
import { getJson, type RunningGateway, sseEvents } from './gateway-harness';

/** Rejects with `label` when `promise` has not settled within `ms`, so a broken gateway fails a test instead of hanging it. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${label}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it returns true, at most `timeoutMs`; fails naming `label` otherwise. */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  label: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`Not true within ${timeoutMs} ms: ${label}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface ProviderRow {
  name: string;
  healthy: boolean;
  failure_count: number;
  cooldown_until: string | null;
  last_error: string | null;
}

/** One provider's row of GET /providers (admin from loopback, no admin key configured). */
export async function providerRow(gateway: RunningGateway, name: string): Promise<ProviderRow> {
  const response = await getJson(`${gateway.url}/providers`);
  expect(response.status).toBe(200);
  const row = (response.body.providers as ProviderRow[]).find((p) => p.name === name);
  if (!row) throw new Error(`GET /providers has no provider ${name}: ${response.text}`);
  return row;
}

/**
 * A streaming response read incrementally: the test decides when to read more, so it can observe what has reached
 * the client while the upstream is still producing.
 */
export class IncrementalResponse {
  text = '';
  private readonly chunks: AsyncIterator<Buffer>;
  private readonly decoder = new TextDecoder();
  private ended = false;

  constructor(
    readonly status: number,
    readonly headers: Record<string, string | string[] | undefined>,
    body: AsyncIterable<Buffer>,
  ) {
    this.chunks = body[Symbol.asyncIterator]();
  }

  /** Reads until `predicate` holds for the text received so far; fails if the stream ends first or after `ms`. */
  async readUntil(predicate: (text: string) => boolean, label: string, ms = 5000): Promise<void> {
    const read = async () => {
      while (!predicate(this.text)) {
        if (!(await this.readChunk())) throw new Error(`The stream ended before ${label}; got: ${this.text}`);
      }
    };
    await withTimeout(read(), ms, label);
  }

  /** Reads the rest of the stream. */
  async readToEnd(ms = 5000): Promise<string> {
    const read = async () => {
      while (await this.readChunk()) {
        // keep reading
      }
    };
    await withTimeout(read(), ms, 'the end of the stream');
    return this.text;
  }

  events() {
    return sseEvents(this.text);
  }

  private async readChunk(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.chunks.next();
    if (next.done) {
      this.ended = true;
      this.text += this.decoder.decode();
      return false;
    }
    this.text += this.decoder.decode(next.value, { stream: true });
    return true;
  }
}

/** POSTs a message request and returns as soon as the response headers are in, without reading the body. */
export async function openMessageStream(
  url: string,
  body: unknown,
  options: { headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<IncrementalResponse> {
  const response = await request(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    body: JSON.stringify(body),
    signal: options.signal,
  });
  return new IncrementalResponse(response.statusCode, response.headers, response.body as AsyncIterable<Buffer>);
}
