import { type AnthropicUsage } from './anthropic.types';
import { isRecord, tryParseJson } from './json';
import { anthropicErrorForUpstreamStatus, streamErrorTypeForStatus } from '../common/error-table';
import {
  estimateTokensFromChars,
  newMessageId,
  nonZeroEstimate,
  toAnthropicUsage,
  toStopReason,
  type ResponseContext,
} from './openai-to-anthropic.response';
import {
  type OpenAiChatChunk,
  type OpenAiChunkDelta,
  type OpenAiToolCallDelta,
  type OpenAiUsage,
} from './openai.types';
import { sanitizeToolUseId } from './tool-names';

type BlockKind = 'text' | 'thinking' | 'tool_use';

interface ToolCall {
  /** The upstream id, kept to tell a new call on a reused index from a continuation. */
  rawId: string | undefined;
  id: string;
  /** The upstream (OpenAI-side) name; mapped back when the block starts. */
  name: string;
  args: string;
  /** Set once the block has started; a call is started by its first argument fragment. */
  blockIndex: number | undefined;
  closed: boolean;
  /** Length of `args` when the block closed; anything beyond arrived late. */
  streamedLength: number;
}

interface OpenBlock {
  index: number;
  kind: BlockKind;
  call?: ToolCall;
}

type StreamState = 'streaming' | 'finished' | 'failed';

const INCOMPLETE_STREAM_MESSAGE = 'The upstream stream ended before the response was complete.';
const NOT_A_CHUNK_MESSAGE = 'The upstream sent a stream line that is not a JSON chunk:';

export function sse(type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * Turns an OpenAI Chat Completions SSE stream into Anthropic Messages SSE: text, reasoning as thinking, tool calls as tool_use blocks, usage and the stop reason. Feed it upstream text as
 * it arrives; every call returns the Anthropic events to write right away. Pure: no I/O, no timers.
 */
export class OpenAiStreamTranslator {
  private readonly messageId = newMessageId();
  private buffer = '';
  private eventName = '';
  private state: StreamState = 'streaming';
  private nextIndex = 0;
  private open: OpenBlock | undefined;
  /** Whitespace seen before any text block opened: a whitespace-only text block would be rejected when echoed. */
  private pendingWhitespace = '';
  private readonly calls: ToolCall[] = [];
  private readonly callsByKey = new Map<string, ToolCall>();
  private finishReason: string | undefined;
  private reportedUsage: OpenAiUsage | undefined;
  private outputChars = 0;

  constructor(private readonly context: ResponseContext) {}

  get failed(): boolean {
    return this.state === 'failed';
  }

  get usage(): AnthropicUsage {
    return toAnthropicUsage(
      this.reportedUsage,
      this.context.estimatedInputTokens,
      estimateTokensFromChars(this.outputChars),
    );
  }

  start(): string {
    return sse('message_start', {
      type: 'message_start',
      message: {
        id: this.messageId,
        type: 'message',
        role: 'assistant',
        model: this.context.requestedModel,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: {
          input_tokens: nonZeroEstimate(this.context.estimatedInputTokens),
          output_tokens: 0,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 0,
        },
      },
    });
  }

  push(text: string): string {
    if (this.state !== 'streaming') return '';
    if (!text.includes('\n')) {
      this.buffer += text;
      return '';
    }
    const lines = (this.buffer + text).split('\n');
    this.buffer = lines.pop() ?? '';
    let out = '';
    for (const line of lines) {
      out += this.handleLine(line);
      if (this.state !== 'streaming') break;
    }
    return out;
  }

  end(): string {
    if (this.state !== 'streaming') return '';
    const rest = this.buffer;
    this.buffer = '';
    const out = rest.length > 0 ? this.handleLine(rest) : '';
    if (this.state !== 'streaming') return out;
    if (this.finishReason !== undefined) return out + this.finish();
    return out + this.failWith('api_error', INCOMPLETE_STREAM_MESSAGE);
  }

  fail(message: string, status?: number): string {
    if (this.state !== 'streaming') return '';
    return this.failWith(streamErrorTypeForStatus(status), message);
  }

  // ---- lines and chunks ------------------------------------------------------------------------------------

  private handleLine(rawLine: string): string {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (line.length === 0) {
      this.eventName = '';
      return '';
    }
    if (line.startsWith('event:')) {
      this.eventName = line.slice(6).trim();
      return '';
    }
    if (!line.startsWith('data:')) return ''; // `:` comments, id:, retry:
    const payload = line.slice(5).trim();
    if (payload === '[DONE]') return this.finish();
    if (payload === '') return '';
    const chunk = tryParseJson(payload);
    // A data line that is not a JSON object is not a chunk: whatever sent it is not speaking the protocol.
    if (!isRecord(chunk)) return this.failWith('api_error', `${NOT_A_CHUNK_MESSAGE} ${payload.slice(0, 80)}`);
    if (this.eventName === 'error') return this.failWithUpstreamError(chunk.error ?? chunk);
    return this.handleChunk(chunk);
  }

  private handleChunk(chunk: OpenAiChatChunk): string {
    if (chunk.error != null) return this.failWithUpstreamError(chunk.error);
    if (chunk.usage != null) this.reportedUsage = chunk.usage;
    const choice = chunk.choices?.find((c) => (c.index ?? 0) === 0);
    if (choice === undefined) return '';
    // Some servers put the last content and the finish_reason in one chunk: the content comes first.
    const out = choice.delta != null ? this.handleDelta(choice.delta) : '';
    if (this.finishReason === undefined && typeof choice.finish_reason === 'string' && choice.finish_reason !== '') {
      this.finishReason = choice.finish_reason;
    }
    return out;
  }

  private handleDelta(delta: OpenAiChunkDelta): string {
    let out = '';
    const reasoning = [delta.reasoning_content, delta.reasoning].find(isNonEmptyString);
    if (reasoning !== undefined) out += this.appendThinking(reasoning);
    for (const text of [delta.content, delta.refusal]) {
      if (isNonEmptyString(text)) out += this.appendText(text);
    }
    for (const [position, toolDelta] of (delta.tool_calls ?? []).entries()) {
      out += this.handleToolDelta(toolDelta, position);
    }
    return out;
  }

  // ---- text and thinking -----------------------------------------------------------------------------------

  private appendThinking(thinking: string): string {
    this.outputChars += thinking.length;
    const start = this.open?.kind === 'thinking' ? '' : this.openBlock('thinking');
    return start + this.blockDelta({ type: 'thinking_delta', thinking });
  }

  private appendText(text: string): string {
    this.outputChars += text.length;
    if (this.open?.kind === 'text') return this.blockDelta({ type: 'text_delta', text });
    if (text.trim().length === 0) {
      this.pendingWhitespace += text;
      return '';
    }
    const leading = this.pendingWhitespace;
    return this.openBlock('text') + this.blockDelta({ type: 'text_delta', text: leading + text });
  }

  // ---- tool calls ------------------------------------------------------------------------------------------

  private handleToolDelta(delta: OpenAiToolCallDelta, position: number): string {
    const rawId = isNonEmptyString(delta.id) ? delta.id : undefined;
    const name = isNonEmptyString(delta.function?.name) ? delta.function.name : undefined;
    const args = typeof delta.function?.arguments === 'string' ? delta.function.arguments : '';
    const key = toolKey(delta, rawId, position);
    let call = this.callsByKey.get(key);
    if (call !== undefined && isReplayOfWholeCall(call, rawId, name, args)) return '';
    if (call === undefined && rawId === undefined && name === undefined) call = this.calls.at(-1);
    if (call === undefined || (rawId !== undefined && call.rawId !== undefined && rawId !== call.rawId)) {
      call = this.newCall(rawId, name);
      this.callsByKey.set(key, call);
    } else if (name !== undefined && call.name === '') {
      call.name = name;
    }
    return args.length > 0 ? this.appendArguments(call, args) : '';
  }

  private newCall(rawId: string | undefined, name: string | undefined): ToolCall {
    const call: ToolCall = {
      rawId,
      id: sanitizeToolUseId(rawId),
      name: name ?? '',
      args: '',
      blockIndex: undefined,
      closed: false,
      streamedLength: 0,
    };
    this.calls.push(call);
    return call;
  }

  private appendArguments(call: ToolCall, args: string): string {
    call.args += args;
    this.outputChars += args.length;
    // Fragments for a call whose block already closed (interleaving) are re-emitted as a whole block at the end.
    if (call.closed) return '';
    const start = call.blockIndex === undefined ? this.openBlock('tool_use', call) : '';
    return start + this.blockDelta({ type: 'input_json_delta', partial_json: args });
  }

  // ---- blocks ----------------------------------------------------------------------------------------------

  private openBlock(kind: BlockKind, call?: ToolCall): string {
    const out = this.closeOpenBlock();
    const index = this.nextIndex++;
    this.open = { index, kind, call };
    this.pendingWhitespace = '';
    if (call !== undefined) call.blockIndex = index;
    return (
      out +
      sse('content_block_start', { type: 'content_block_start', index, content_block: this.blockStart(kind, call) })
    );
  }

  private blockStart(kind: BlockKind, call: ToolCall | undefined, id = call?.id): Record<string, unknown> {
    switch (kind) {
      case 'text':
        return { type: 'text', text: '' };
      case 'thinking':
        return { type: 'thinking', thinking: '', signature: '' };
      case 'tool_use':
        return { type: 'tool_use', id, name: this.context.toolNames.toAnthropic(call?.name ?? ''), input: {} };
    }
  }

  private blockDelta(delta: Record<string, unknown>): string {
    const index = this.open?.index ?? this.nextIndex - 1;
    return sse('content_block_delta', { type: 'content_block_delta', index, delta });
  }

  private closeOpenBlock(): string {
    const open = this.open;
    if (open === undefined) return '';
    this.open = undefined;
    if (open.call !== undefined) {
      open.call.closed = true;
      open.call.streamedLength = open.call.args.length;
    }
    return sse('content_block_stop', { type: 'content_block_stop', index: open.index });
  }

  /** A tool block sent in one go: calls that never got arguments (`{}`), and calls completed after they closed. */
  private wholeToolBlock(call: ToolCall, id: string, json: string): string {
    const index = this.nextIndex++;
    return (
      sse('content_block_start', {
        type: 'content_block_start',
        index,
        content_block: this.blockStart('tool_use', call, id),
      }) +
      sse('content_block_delta', {
        type: 'content_block_delta',
        index,
        delta: { type: 'input_json_delta', partial_json: json },
      }) +
      sse('content_block_stop', { type: 'content_block_stop', index })
    );
  }

  // ---- end of stream ---------------------------------------------------------------------------------------

  private finish(): string {
    let out = this.closeOpenBlock();
    for (const call of this.calls) {
      if (call.blockIndex === undefined) {
        out += this.wholeToolBlock(call, call.id, call.args.length > 0 ? call.args : '{}');
      } else if (call.args.length > call.streamedLength) {
        // The id must differ from the truncated block already sent, or the client would hold two calls with one id.
        out += this.wholeToolBlock(call, `${call.id}_full`, call.args);
      }
    }
    this.state = 'finished';
    const stopReason = toStopReason(this.finishReason, this.calls.length > 0);
    return (
      out +
      sse('message_delta', {
        type: 'message_delta',
        delta: { stop_reason: stopReason, stop_sequence: null },
        usage: this.usage,
      }) +
      sse('message_stop', { type: 'message_stop' })
    );
  }

  private failWithUpstreamError(error: unknown): string {
    const details = isRecord(error) ? error : {};
    const status = Number(details.code ?? details.status);
    const type = Number.isInteger(status) && status >= 400 ? anthropicErrorForUpstreamStatus(status).type : 'api_error';
    const message =
      typeof details.message === 'string' ? details.message : typeof error === 'string' ? error : JSON.stringify(error);
    return this.failWith(type, message);
  }

  private failWith(type: string, message: string): string {
    this.state = 'failed';
    return sse('error', { type: 'error', error: { type, message } });
  }
}

/** OpenAI keys parallel calls by `index`; servers that omit it are keyed by id, then by position in the delta. */
function toolKey(delta: OpenAiToolCallDelta, rawId: string | undefined, position: number): string {
  if (typeof delta.index === 'number') return `index:${delta.index}`;
  if (rawId !== undefined) return `id:${rawId}`;
  return `position:${position}`;
}

/** A router that repeats its last chunk resends whole calls; appending those would corrupt the arguments. */
function isReplayOfWholeCall(
  call: ToolCall,
  rawId: string | undefined,
  name: string | undefined,
  args: string,
): boolean {
  return rawId !== undefined && rawId === call.rawId && name !== undefined && args.length > 0 && args === call.args;
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}
