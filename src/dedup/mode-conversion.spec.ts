import { SseEventScanner } from '../messages/sse';
import { MessageAssembler } from './message-assembler';
import { messageToSse } from './message-replay';

const message = {
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model: 'claude-x',
  content: [
    { type: 'thinking', thinking: 'Let me think.', signature: 'sig-abc' },
    { type: 'text', text: 'I will run it.' },
    { type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'echo hi', nested: { a: [1, 2] } } },
    { type: 'redacted_thinking', data: 'opaque' },
  ],
  stop_reason: 'tool_use',
  stop_sequence: null,
  usage: { input_tokens: 12, cache_read_input_tokens: 100, cache_creation_input_tokens: 0, output_tokens: 34 },
};

function assemble(sse: string) {
  const assembler = new MessageAssembler();
  for (const event of new SseEventScanner().push(sse)) assembler.push(event);
  return assembler.result();
}

describe('mode conversion', () => {
  it('should round-trip a message with thinking, tool_use and redacted thinking through a stream', () => {
    expect(assemble(messageToSse(message))).toEqual(message);
  });

  it('should assemble tool input split across deltas, signatures and usage from a real-shaped stream', () => {
    const sse = [
      'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}\n\n',
      'event: ping\ndata: {"type":"ping"}\n\n',
      'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"Read","input":{}}}\n\n',
      'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\\"pa"}}\n\n',
      'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"th\\":\\"/x\\"}"}}\n\n',
      'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
      'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":9}}\n\n',
      'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    ].join('');
    expect(assemble(sse)).toEqual({
      id: 'm',
      type: 'message',
      role: 'assistant',
      model: 'x',
      content: [{ type: 'tool_use', id: 't', name: 'Read', input: { path: '/x' } }],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 5, output_tokens: 9 },
    });
  });

  it('should give no message for a stream that never reached message_stop', () => {
    const sse = messageToSse(message);
    expect(assemble(sse.slice(0, sse.indexOf('event: message_stop')))).toBeUndefined();
  });
});
