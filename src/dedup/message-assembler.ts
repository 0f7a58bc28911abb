import { type SseEvent, SseEventScanner } from '../messages/sse';
import type { SseChunk } from '../providers/provider-adapter';
import { parseBoundedJson } from '../messages/json-scan';

type Block = Record<string, unknown>;
export type AssembledMessage = Record<string, unknown> & { content: Block[] };

/**
 * Rebuilds the message a stream describes, losslessly: text with citations, tool_use with its input, thinking with its
 * signature, server-tool blocks, stop reason and usage. Lets a streaming upstream call answer a non-streaming
 * duplicate with exactly what the client would have got from a non-streaming call.
 */
export class MessageAssembler {
  private message: AssembledMessage | undefined;
  private readonly partialJson = new Map<number, string>();
  private stopped = false;

  push(event: SseEvent): void {
    const data = parse(event.data);
    if (!data) return;
    switch (event.type) {
      case 'message_start':
        this.message = { ...(data.message as Record<string, unknown>), content: [] };
        break;
      case 'content_block_start':
        this.startBlock(data.index as number, data.content_block as Block);
        break;
      case 'content_block_delta':
        this.applyDelta(data.index as number, data.delta as Record<string, unknown>);
        break;
      case 'content_block_stop':
        this.stopBlock(data.index as number);
        break;
      case 'message_delta':
        this.applyMessageDelta(data);
        break;
      case 'message_stop':
        this.stopped = true;
        break;
      default:
        break;
    }
  }

  /** The whole message, once message_stop has been seen. */
  result(): AssembledMessage | undefined {
    return this.stopped ? this.message : undefined;
  }

  private startBlock(index: number, block: Block | undefined): void {
    if (!this.message || !block) return;
    this.message.content[index] = { ...block };
    if (block.type === 'tool_use' || block.type === 'server_tool_use' || block.type === 'mcp_tool_use') {
      this.partialJson.set(index, '');
    }
  }

  private applyDelta(index: number, delta: Record<string, unknown> | undefined): void {
    const block = this.message?.content[index];
    if (!block || !delta) return;
    switch (delta.type) {
      case 'text_delta':
        block.text = `${asString(block.text)}${asString(delta.text)}`;
        break;
      case 'thinking_delta':
        block.thinking = `${asString(block.thinking)}${asString(delta.thinking)}`;
        break;
      case 'signature_delta':
        block.signature = `${asString(block.signature)}${asString(delta.signature)}`;
        break;
      case 'input_json_delta':
        this.partialJson.set(index, `${this.partialJson.get(index) ?? ''}${asString(delta.partial_json)}`);
        break;
      case 'citations_delta':
        block.citations = [...(Array.isArray(block.citations) ? (block.citations as unknown[]) : []), delta.citation];
        break;
      default:
        break;
    }
  }

  private stopBlock(index: number): void {
    const block = this.message?.content[index];
    const json = this.partialJson.get(index);
    if (!block || json === undefined) return;
    this.partialJson.delete(index);
    if (json.trim() === '') return;
    try {
      block.input = parseBoundedJson(json);
    } catch {
      block.input = {};
    }
  }

  private applyMessageDelta(data: Record<string, unknown>): void {
    if (!this.message) return;
    Object.assign(this.message, data.delta as Record<string, unknown> | undefined);
    const usage = data.usage as Record<string, unknown> | undefined;
    if (usage) {
      const current = (this.message.usage as Record<string, unknown> | undefined) ?? {};
      const present = Object.fromEntries(
        Object.entries(usage).filter(([, value]) => value !== null && value !== undefined),
      );
      this.message.usage = { ...current, ...present };
    }
  }
}

function parse(data: string): Record<string, unknown> | undefined {
  try {
    const value = parseBoundedJson(data);
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function asString(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** Assembles a stream's message from its raw chunks as they come. */
export class StreamAssembly {
  private readonly scanner = new SseEventScanner();
  private readonly assembler = new MessageAssembler();

  push(chunk: SseChunk): void {
    for (const event of this.scanner.push(chunk)) this.assembler.push(event);
  }

  /** The whole message once the stream has ended with message_stop, else undefined. */
  finish(): AssembledMessage | undefined {
    for (const event of this.scanner.flush()) this.assembler.push(event);
    return this.assembler.result();
  }
}

/** The message a whole recorded stream describes, or undefined when it never reached message_stop. */
export function assembleMessage(chunks: readonly SseChunk[]): AssembledMessage | undefined {
  const assembly = new StreamAssembly();
  for (const chunk of chunks) assembly.push(chunk);
  return assembly.finish();
}
