/**
 * HTTP/1.1 over a bare TCP socket, for what no HTTP client will send: bytes trickled one at a time, broken header
 * bytes, oversized headers, connections that say nothing, connections kept open on purpose.
 */
import { connect, type Socket } from 'node:net';
import { withTimeout } from '../support/e2e-helpers';

export interface RawResponse {
  readonly status: number;
  /** Lower-cased names; repeated headers joined with ', '. */
  readonly headers: Record<string, string>;
  readonly body: string;
  /** The body parsed as JSON, or undefined. */
  readonly json: unknown;
}

export interface RawEnd {
  /** Everything the server sent before it closed the connection. */
  readonly received: Buffer;
  /** From connect to close. */
  readonly afterMs: number;
  /** The first response in what was received, when there is a whole one. */
  readonly response: RawResponse | undefined;
}

const HEADER_END = Buffer.from('\r\n\r\n');

/** The first whole response in `data` (content-length bodies, or a body that runs to the end when `closed`). */
export function parseResponse(data: Buffer, closed = true): { response: RawResponse; length: number } | undefined {
  const end = data.indexOf(HEADER_END);
  if (end === -1) return undefined;
  const lines = data.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1]);
  if (!Number.isInteger(status)) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const start = end + HEADER_END.length;
  const declared = headers['content-length'];
  let length: number;
  if (declared !== undefined) {
    length = start + Number(declared);
    if (data.length < length) return undefined;
  } else if (closed) {
    length = data.length;
  } else {
    return undefined;
  }
  const body = data.subarray(start, length).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return { response: { status, headers, body, json }, length };
}

/** One client connection; every timer it starts stops when the connection closes or `destroy` is called. */
export class RawConnection {
  readonly ended: Promise<RawEnd>;
  private received = Buffer.alloc(0);
  private readonly opened = Date.now();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly socket: Socket) {
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.wake();
    });
    this.ended = new Promise((resolve) => {
      socket.once('close', () => {
        this.closed = true;
        this.stopTimers();
        this.wake();
        resolve({
          received: this.received,
          afterMs: Date.now() - this.opened,
          response: parseResponse(this.received)?.response,
        });
      });
    });
  }

  /** Connects to the host and port of `url`. */
  static open(url: string): Promise<RawConnection> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  write(data: string | Buffer): void {
    if (!this.closed && this.socket.writable) this.socket.write(data);
  }

  /** Sends `data` one byte every `intervalMs` until it is all sent or the connection closes. */
  trickle(data: string | Buffer, intervalMs: number): void {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    let next = 0;
    const timer = setInterval(() => {
      if (this.closed || next >= bytes.length) {
        clearInterval(timer);
        this.timers.delete(timer);
        return;
      }
      this.write(bytes.subarray(next, next + 1));
      next += 1;
    }, intervalMs);
    this.timers.add(timer);
  }

  /** Resolves with the next whole response on this connection (it may stay open), failing after `ms`. */
  async nextResponse(ms: number, label: string): Promise<RawResponse> {
    const read = new Promise<RawResponse>((resolve, reject) => {
      const check = () => {
        const parsed = parseResponse(this.received, this.closed);
        if (parsed) {
          this.waiters.delete(check);
          this.received = this.received.subarray(parsed.length);
          resolve(parsed.response);
        } else if (this.closed) {
          this.waiters.delete(check);
          reject(new Error(`${label}: the connection closed without a whole response: ${this.received.toString()}`));
        }
      };
      this.waiters.add(check);
      check();
    });
    return withTimeout(read, ms, label);
  }

  /** Resolves when the server has closed the connection, failing after `ms`. */
  closedWithin(ms: number, label: string): Promise<RawEnd> {
    return withTimeout(this.ended, ms, label);
  }

  destroy(): Promise<RawEnd> {
    this.stopTimers();
    this.socket.destroy();
    return this.ended;
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private stopTimers(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers.clear();
  }
}

/** A request's head, for writing by hand. */
export function requestHead(method: string, path: string, headers: Record<string, string | number> = {}): string {
  const lines = Object.entries({ host: '127.0.0.1', ...headers }).map(([name, value]) => `${name}: ${value}`);
  return `${method} ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

/** The value of one Prometheus series in GET /metrics text, 0 when the series is not there yet. */
export function metricInText(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = /\{(.*)\}/.exec(line)?.[1] ?? '';
    const matches = Object.entries(labels).every(([key, value]) => labelText.includes(`${key}="${value}"`));
    if (matches) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

/** Anthropic's error types, the only values a gateway error's error.type may take. */
export const ANTHROPIC_ERROR_TYPES = [
  'invalid_request_error',
  'authentication_error',
  'billing_error',
  'permission_error',
  'not_found_error',
  'request_too_large',
  'rate_limit_error',
  'api_error',
  'timeout_error',
  'overloaded_error',
];

/** The body is Anthropic's error shape: {"type":"error","error":{"type":<known>,"message":<non-empty>}}. */
export function isAnthropicError(body: unknown, type?: string): boolean {
  if (typeof body !== 'object' || body === null) return false;
  const { type: outer, error } = body as { type?: unknown; error?: { type?: unknown; message?: unknown } };
  return (
    outer === 'error' &&
    typeof error === 'object' &&
    error !== null &&
    typeof error.type === 'string' &&
    ANTHROPIC_ERROR_TYPES.includes(error.type) &&
    (type === undefined || error.type === type) &&
    typeof error.message === 'string' &&
    error.message !== ''
  );
}
