import { formatSseEvent } from '../messages/sse';

type Block = Record<string, unknown>;

/**
 * The stream a message would have been sent as: message_start, each block with its deltas, message_delta,
 * message_stop. Lets a non-streaming upstream call answer a streaming duplicate without losing a block.
 */
export function messageToSse(message: Record<string, unknown>): string {
  const content = Array.isArray(message.content) ? (message.content as Block[]) : [];
  const usage = (message.usage as Record<string, unknown> | undefined) ?? {};
  const { output_tokens: outputTokens, ...inputUsage } = usage;
  let out = formatSseEvent('message_start', {
    type: 'message_start',
    message: {
      ...message,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { ...inputUsage, output_tokens: 1 },
    },
  });
  content.forEach((block, index) => {
    out += blockEvents(block, index);
  });
  out += formatSseEvent('message_delta', {
    type: 'message_delta',
    delta: { stop_reason: message.stop_reason ?? 'end_turn', stop_sequence: message.stop_sequence ?? null },
    usage: { ...inputUsage, output_tokens: typeof outputTokens === 'number' ? outputTokens : 0 },
  });
  return out + formatSseEvent('message_stop', { type: 'message_stop' });
}

function blockEvents(block: Block, index: number): string {
  const start = (contentBlock: Block) =>
    formatSseEvent('content_block_start', { type: 'content_block_start', index, content_block: contentBlock });
  const delta = (value: Block) =>
    formatSseEvent('content_block_delta', { type: 'content_block_delta', index, delta: value });
  const stop = formatSseEvent('content_block_stop', { type: 'content_block_stop', index });
  switch (block.type) {
    case 'text': {
      const { text, citations, ...rest } = block;
      const citationEvents = Array.isArray(citations)
        ? citations.map((citation) => delta({ type: 'citations_delta', citation })).join('')
        : '';
      return start({ ...rest, text: '' }) + citationEvents + delta({ type: 'text_delta', text: text ?? '' }) + stop;
    }
    case 'thinking': {
      const { thinking, signature, ...rest } = block;
      return (
        start({ ...rest, thinking: '', signature: '' }) +
        delta({ type: 'thinking_delta', thinking: thinking ?? '' }) +
        delta({ type: 'signature_delta', signature: signature ?? '' }) +
        stop
      );
    }
    case 'tool_use':
    case 'server_tool_use':
    case 'mcp_tool_use': {
      const { input, ...rest } = block;
      return (
        start({ ...rest, input: {} }) +
        delta({ type: 'input_json_delta', partial_json: JSON.stringify(input ?? {}) }) +
        stop
      );
    }
    default:
      return start(block) + stop;
  }
}
