import type { SseChunk } from '../providers/provider-adapter';
import { parseSseBlock, type SseEvent } from './sse';

/** An event seen on the way past: its type always, its data only when the watcher was asked to read that type. */
export interface WatchedEvent {
  readonly type: string;
  readonly data: string | undefined;
}

const LF = 0x0a;
const CR = 0x0d;
const BLANK_LINE = Buffer.from('\n\n');
const EVENT_PREFIX = Buffer.from('event:');
const TYPE_IN_DATA = /^data: ?\{\s*"type"\s*:\s*"([^"]+)"/;

/**
 * Finds the SSE events in a stream the gateway relays untouched, reading as little as it can: event boundaries and
 * names are found in the bytes, and only the events whose data the gateway needs (usage, errors, the end) are decoded.
 * A 2 000-delta answer is relayed without decoding a single delta.
 */
export class SseWatcher {
  private tail: Buffer | undefined;

  constructor(private readonly decoded: ReadonlySet<string>) {}

  push(chunk: SseChunk): WatchedEvent[] {
    let bytes =
      typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    if (bytes.includes(CR)) bytes = Buffer.from(bytes.toString('utf8').replace(/\r\n?/g, '\n'));
    const data = this.tail ? Buffer.concat([this.tail, bytes]) : bytes;
    const events: WatchedEvent[] = [];
    let start = 0;
    let boundary = data.indexOf(BLANK_LINE, start);
    while (boundary !== -1) {
      const event = this.read(data, start, boundary);
      if (event) events.push(event);
      start = boundary + 2;
      boundary = data.indexOf(BLANK_LINE, start);
    }
    this.tail = start < data.length ? Buffer.from(data.subarray(start)) : undefined;
    return events;
  }

  /** Whatever is left when the stream ends without a final blank line. */
  flush(): WatchedEvent[] {
    const rest = this.tail;
    this.tail = undefined;
    if (!rest || rest.toString('utf8').trim() === '') return [];
    const event = this.read(rest, 0, rest.length);
    return event ? [event] : [];
  }

  private read(data: Buffer, start: number, end: number): WatchedEvent | undefined {
    const type = quickType(data, start, end);
    if (type !== undefined && !this.decoded.has(type)) return { type, data: undefined };
    const event: SseEvent | undefined = parseSseBlock(data.toString('utf8', start, end));
    if (!event) return undefined;
    return { type: event.type, data: this.decoded.has(event.type) ? event.data : undefined };
  }
}

/** The event's name from its first line, without decoding the rest; undefined when only a full read can tell. */
function quickType(data: Buffer, start: number, end: number): string | undefined {
  const lineEnd = data.indexOf(LF, start);
  const firstLineEnd = lineEnd === -1 || lineEnd > end ? end : lineEnd;
  if (data.compare(EVENT_PREFIX, 0, EVENT_PREFIX.length, start, start + EVENT_PREFIX.length) === 0) {
    return data.toString('latin1', start + EVENT_PREFIX.length, firstLineEnd).trim();
  }
  const head = data.toString('latin1', start, Math.min(firstLineEnd, start + 96));
  return TYPE_IN_DATA.exec(head)?.[1];
}
