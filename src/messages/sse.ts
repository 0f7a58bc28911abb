export interface SseEvent {
  /** The `event:` name, or the `type` inside the data when a relay sends bare `data:` lines. */
  readonly type: string;
  readonly data: string;
}

const TYPE_IN_DATA = /^\s*\{\s*"type"\s*:\s*"([^"]+)"/;

/**
 * Finds complete SSE events in a byte stream so the gateway can watch usage and errors while the bytes themselves
 * are forwarded untouched. Handles events and multi-byte characters split across chunks, and CRLF line ends.
 */
export class SseEventScanner {
  private readonly decoder = new TextDecoder();
  private tail = '';

  push(chunk: Uint8Array | string): SseEvent[] {
    const text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    this.tail += text.includes('\r') ? text.replace(/\r\n?/g, '\n') : text;
    const events: SseEvent[] = [];
    let boundary = this.tail.indexOf('\n\n');
    while (boundary !== -1) {
      const block = this.tail.slice(0, boundary);
      this.tail = this.tail.slice(boundary + 2);
      const event = parseSseBlock(block);
      if (event) events.push(event);
      boundary = this.tail.indexOf('\n\n');
    }
    return events;
  }

  /** Whatever is left when the stream ends without a final blank line. */
  flush(): SseEvent[] {
    const rest = this.tail + this.decoder.decode();
    this.tail = '';
    const event = rest.trim() ? parseSseBlock(rest) : undefined;
    return event ? [event] : [];
  }
}

/** One event's lines (without the blank line that ends it). */
export function parseSseBlock(block: string): SseEvent | undefined {
  let name: string | undefined;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) name = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(line.charCodeAt(5) === 32 ? 6 : 5));
  }
  if (name === undefined && data.length === 0) return undefined;
  const joined = data.join('\n');
  return { type: name ?? TYPE_IN_DATA.exec(joined)?.[1] ?? 'message', data: joined };
}

export function formatSseEvent(type: string, payload: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(payload)}\n\n`;
}
