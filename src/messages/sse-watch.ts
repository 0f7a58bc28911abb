import type { SseChunk } from '../providers/provider-adapter';
import { parseSseBlock } from './sse';

/**
 * An event seen on the way past: its type always; its data and parsed payload only when the watcher was asked to
 * read that type. `malformed` says the event cannot be what it claims: decoded events whose data is not a JSON object
 * of their own type, other events whose data is missing or does not frame as a JSON object, or an event larger than
 * any real one.
 */
export interface WatchedEvent {
  readonly type: string;
  readonly data: string | undefined;
  readonly payload: Record<string, unknown> | undefined;
  readonly malformed: boolean;
}

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const BLANK_LINE = Buffer.from('\n\n');
const EVENT_PREFIX = Buffer.from('event:');
const DATA_PREFIX = Buffer.from('data:');
const TYPE_IN_DATA = /^data: ?\{\s*"type"\s*:\s*"([^"]+)"/;
/** No event of the Messages API comes near this; past it the upstream is sending something else. */
export const MAX_EVENT_BYTES = 8 * 1024 * 1024;

/**
 * Finds the SSE events in a stream the gateway relays untouched, reading as little as it can: event boundaries and
 * names are found in the bytes, only the events whose data the gateway needs (usage, errors, the end) are decoded,
 * and the others are only checked to frame as JSON. A 2 000-delta answer is relayed without decoding a single delta.
 * Partial events are kept as a list of chunks, so an event split into many small reads costs linear time.
 */
export class SseWatcher {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private afterCr = false;

  /** `every` decodes each event (the stream gate does, for the few it holds); a set decodes only those types. */
  constructor(private decoded: ReadonlySet<string> | 'every') {}

  /** From now on decode only these types: the pump reads only what it needs. */
  narrow(decoded: ReadonlySet<string>): void {
    this.decoded = decoded;
  }

  private decodes(type: string): boolean {
    return this.decoded === 'every' || this.decoded.has(type);
  }

  push(chunk: SseChunk): WatchedEvent[] {
    const raw =
      typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    const bytes = this.normalizeLineEnds(raw);
    if (bytes.length === 0) return [];
    const joinsBlankLine = this.pendingBytes > 0 && bytes[0] === LF && this.lastPendingByte() === LF;
    if (!joinsBlankLine && !bytes.includes(BLANK_LINE)) {
      this.pending.push(bytes);
      this.pendingBytes += bytes.length;
      return this.pendingBytes > MAX_EVENT_BYTES ? [this.oversized()] : [];
    }
    const data = this.pendingBytes > 0 ? Buffer.concat([...this.pending, bytes]) : bytes;
    const events: WatchedEvent[] = [];
    let start = 0;
    let boundary = data.indexOf(BLANK_LINE, start);
    while (boundary !== -1) {
      const event = this.read(data, start, boundary);
      if (event) events.push(event);
      start = boundary + 2;
      boundary = data.indexOf(BLANK_LINE, start);
    }
    const rest = start < data.length ? Buffer.from(data.subarray(start)) : undefined;
    this.pending = rest ? [rest] : [];
    this.pendingBytes = rest?.length ?? 0;
    if (this.pendingBytes > MAX_EVENT_BYTES) events.push(this.oversized());
    return events;
  }

  /** Whatever is left when the stream ends without a final blank line. */
  flush(): WatchedEvent[] {
    const rest = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    if (rest.toString('utf8').trim() === '') return [];
    const event = this.read(rest, 0, rest.length);
    return event ? [event] : [];
  }

  private read(data: Buffer, start: number, end: number): WatchedEvent | undefined {
    const type = quickType(data, start, end);
    if (type !== undefined && !this.decodes(type)) {
      return { type, data: undefined, payload: undefined, malformed: !framesAsJsonObject(data, start, end) };
    }
    const event = parseSseBlock(data.toString('utf8', start, end));
    if (!event) return undefined;
    if (!this.decodes(event.type)) {
      return {
        type: event.type,
        data: undefined,
        payload: undefined,
        malformed: !framesAsJsonObject(data, start, end),
      };
    }
    const payload = parseObject(event.data);
    const malformed = payload === undefined || (typeof payload.type === 'string' && payload.type !== event.type);
    return { type: event.type, data: event.data, payload, malformed };
  }

  private oversized(): WatchedEvent {
    this.pending = [];
    this.pendingBytes = 0;
    return { type: 'oversized', data: undefined, payload: undefined, malformed: true };
  }

  private lastPendingByte(): number | undefined {
    const last = this.pending.at(-1);
    return last?.[last.length - 1];
  }

  /** CRLF and lone CR become LF, byte by byte, so a CRLF split between two reads and multi-byte text both survive. */
  private normalizeLineEnds(bytes: Buffer): Buffer {
    let input = bytes;
    if (this.afterCr && input[0] === LF) input = input.subarray(1);
    this.afterCr = false;
    if (!input.includes(CR)) return input;
    const out = Buffer.allocUnsafe(input.length);
    let length = 0;
    for (let i = 0; i < input.length; i += 1) {
      const byte = input[i]!;
      if (byte !== CR) {
        out[length++] = byte;
        continue;
      }
      out[length++] = LF;
      if (input[i + 1] === LF) i += 1;
      else if (i === input.length - 1) this.afterCr = true;
    }
    return out.subarray(0, length);
  }
}

/** The event's name from its first line, without decoding the rest; undefined when only a full read can tell. */
function quickType(data: Buffer, start: number, end: number): string | undefined {
  const lineEnd = data.indexOf(LF, start);
  const firstLineEnd = lineEnd === -1 || lineEnd > end ? end : lineEnd;
  if (startsWith(data, start, EVENT_PREFIX)) {
    return data.toString('latin1', start + EVENT_PREFIX.length, firstLineEnd).trim();
  }
  const head = data.toString('latin1', start, Math.min(firstLineEnd, start + 96));
  return TYPE_IN_DATA.exec(head)?.[1];
}

/** The first data line opens a JSON object and the event's last byte closes one: cheap, and enough to catch HTML. */
function framesAsJsonObject(data: Buffer, start: number, end: number): boolean {
  let line = start;
  while (line < end && !startsWith(data, line, DATA_PREFIX)) {
    const next = data.indexOf(LF, line);
    if (next === -1 || next >= end) return false;
    line = next + 1;
  }
  if (line >= end) return false;
  let first = line + DATA_PREFIX.length;
  while (first < end && (data[first] === SPACE || data[first] === TAB)) first += 1;
  let last = end - 1;
  while (last > first && (data[last] === SPACE || data[last] === TAB || data[last] === LF)) last -= 1;
  return data[first] === OPEN_BRACE && data[last] === CLOSE_BRACE;
}

function startsWith(data: Buffer, at: number, prefix: Buffer): boolean {
  return data.compare(prefix, 0, prefix.length, at, at + prefix.length) === 0;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
