import { ConversionInputError } from './conversion-input.error';

const TOOL_CALLS: ReadonlySet<unknown> = new Set(['tool_use', 'server_tool_use']);

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * Checks the parts of an Anthropic request that a conversion walks: anything shaped otherwise is named here as the
 * client's error, so that a failure further in can only be the gateway's own bug.
 */
export function checkConvertibleShape(body: Record<string, unknown>): void {
  const { messages, system, tools, stop_sequences: stopSequences } = body;
  if (messages !== undefined && !Array.isArray(messages)) throw shapeError('messages', 'must be a list');
  (messages as unknown[] | undefined)?.forEach((message, index) => {
    const path = `messages[${index}]`;
    if (!isObject(message)) throw shapeError(path, 'must be an object with role and content');
    if (typeof message.role !== 'string') throw shapeError(`${path}.role`, 'must be a string');
    checkContent(message.content, `${path}.content`);
  });
  if (system !== undefined && system !== null && typeof system !== 'string') {
    checkBlocks(system, 'system');
  }
  if (tools !== undefined && tools !== null) {
    if (!Array.isArray(tools)) throw shapeError('tools', 'must be a list');
    tools.forEach((tool, index) => {
      if (!isObject(tool)) throw shapeError(`tools[${index}]`, 'must be an object');
      if (typeof tool.name !== 'string') throw shapeError(`tools[${index}].name`, 'must be a string');
    });
  }
  if (stopSequences !== undefined && stopSequences !== null) {
    if (!Array.isArray(stopSequences) || !stopSequences.every((stop) => typeof stop === 'string')) {
      throw shapeError('stop_sequences', 'must be a list of strings');
    }
  }
}

function checkContent(content: unknown, path: string): void {
  if (content === undefined || content === null || typeof content === 'string') return;
  checkBlocks(content, path);
  (content as Record<string, unknown>[]).forEach((block, index) => {
    if (block.type === 'tool_result') checkContent(block.content, `${path}[${index}].content`);
    if (TOOL_CALLS.has(block.type) && typeof block.name !== 'string') {
      throw shapeError(`${path}[${index}].name`, 'must be a string');
    }
  });
}

function checkBlocks(blocks: unknown, path: string): void {
  if (!Array.isArray(blocks)) throw shapeError(path, 'must be a string or a list of content blocks');
  blocks.forEach((block, index) => {
    if (!isObject(block)) throw shapeError(`${path}[${index}]`, 'must be a content block object');
  });
}

function shapeError(path: string, problem: string): ConversionInputError {
  return new ConversionInputError(`${path}: ${problem}`);
}
