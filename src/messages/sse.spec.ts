import { formatSseEvent, SseEventScanner } from './sse';

describe('SseEventScanner', () => {
  it('should find events split across chunks at any byte', () => {
    const text = 'event: message_start\ndata: {"type":"message_start"}\n\nevent: ping\ndata: {"type": "ping"}\n\n';
    const bytes = Buffer.from(text);
    for (let cut = 1; cut < bytes.length; cut += 7) {
      const scanner = new SseEventScanner();
      const events = [...scanner.push(bytes.subarray(0, cut)), ...scanner.push(bytes.subarray(cut))];
      expect(events.map((e) => e.type)).toEqual(['message_start', 'ping']);
    }
  });

  it('should keep multi-byte characters whole when a chunk splits them', () => {
    const bytes = Buffer.from('data: {"type":"content_block_delta","text":"没有"}\n\n');
    const scanner = new SseEventScanner();
    const events = [...scanner.push(bytes.subarray(0, 45)), ...scanner.push(bytes.subarray(45))];
    expect(events).toEqual([{ type: 'content_block_delta', data: '{"type":"content_block_delta","text":"没有"}' }]);
  });

  it('should accept CRLF line ends and take the type from data when there is no event line', () => {
    const scanner = new SseEventScanner();
    expect(scanner.push('data: {"type":"error","error":{}}\r\n\r\n')).toEqual([
      { type: 'error', data: '{"type":"error","error":{}}' },
    ]);
  });

  it('should return a trailing event without a blank line on flush', () => {
    const scanner = new SseEventScanner();
    expect(scanner.push('event: message_stop\ndata: {}')).toEqual([]);
    expect(scanner.flush()).toEqual([{ type: 'message_stop', data: '{}' }]);
  });

  it('should format an event the way Anthropic does', () => {
    expect(formatSseEvent('ping', { type: 'ping' })).toBe('event: ping\ndata: {"type":"ping"}\n\n');
  });
});
