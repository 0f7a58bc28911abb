import type { ServerResponse } from 'node:http';
import Anthropic from '@anthropic-ai/sdk';
import { Agent, fetch } from 'undici';
import { DedupStore } from '../../src/dedup/dedup.store';
import type { FakeBlock, FakeUpstream } from './fake-upstream';
import { eventually } from './e2e-helpers';
import { anthropicProvider, metricValue, type RunningGateway, sseEvents, startGateway } from './gateway-harness';

export const MODEL = 'claude-sonnet-4-6';

/** An answer with every kind of block that must survive a change of mode: thinking with its signature, text, tool_use. */
export const ANSWER_BLOCKS: FakeBlock[] = [
  {
    type: 'thinking',
    thinking: 'The user wants the weather, so I should call the tool.',
    signature: 'EqQBCkYIBRgCKkDsig',
  },
  { type: 'text', text: 'Let me look that up for you.' },
  { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris', units: 'celsius' } },
];

/** The events of the fake's default answer ("Hello from fake"), in order. */
export const DEFAULT_EVENT_SEQUENCE = [
  'message_start',
  'ping',
  'content_block_start',
  'content_block_delta',
  'content_block_delta',
  'content_block_delta',
  'content_block_stop',
  'message_delta',
  'message_stop',
];

/** A gateway with one provider, the fake, for every model. */
export function startDedupGateway(
  fake: FakeUpstream,
  deduplication: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
): Promise<RunningGateway> {
  return startGateway({
    providers: [anthropicProvider('main', fake.url)],
    model_routes: { '*': [{ provider: 'main', model: 'passthrough', priority: 1 }] },
    settings: { deduplication },
    ...extra,
  });
}

export const messageBody = (
  stream: boolean,
  text = 'what is the weather in Paris?',
  extra: Record<string, unknown> = {},
) => ({
  model: MODEL,
  max_tokens: 256,
  stream,
  messages: [{ role: 'user', content: text }],
  ...extra,
});

export const dedupHits = (gateway: RunningGateway, kind: 'inflight' | 'cache') =>
  metricValue(gateway, 'balancer_dedup_hits_total', { kind });

/** Resolves once `count` duplicates in total have attached to a call in flight. */
export function duplicatesAttached(gateway: RunningGateway, count: number): Promise<void> {
  return eventually(async () => (await dedupHits(gateway, 'inflight')) === count, `${count} duplicate(s) attached`);
}

export async function dedupStats(gateway: RunningGateway) {
  return gateway.app.get(DedupStore).stats();
}

/** A promise and the function that resolves it. */
export function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** A non-streaming Anthropic message with the given blocks, as the upstream sends it. */
export function sendMessage(
  res: ServerResponse,
  content: FakeBlock[],
  usage = { input_tokens: 42, output_tokens: 17 },
): void {
  const body = JSON.stringify({
    id: 'msg_held',
    type: 'message',
    role: 'assistant',
    model: MODEL,
    content,
    stop_reason: content.some((block) => block.type === 'tool_use') ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage,
  });
  res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_held' });
  res.end(body);
}

/** Runs `answer` on the upstream response once `opened` resolves, unless the gateway has gone away meanwhile. */
export async function answerWhenOpen(
  res: ServerResponse,
  opened: Promise<void>,
  answer: (res: ServerResponse) => void,
): Promise<void> {
  await opened;
  if (!res.destroyed) answer(res);
}

export function sseFrame(type: string, data: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
}

const PAUSED_STREAM_FRAMES = [
  sseFrame('message_start', {
    message: {
      id: 'msg_paused',
      type: 'message',
      role: 'assistant',
      model: MODEL,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 9, output_tokens: 1 },
    },
  }),
  sseFrame('ping', {}),
  sseFrame('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
  sseFrame('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'early words' } }),
  sseFrame('content_block_delta', { index: 0, delta: { type: 'text_delta', text: ' and the rest' } }),
  sseFrame('content_block_stop', { index: 0 }),
  sseFrame('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 6 } }),
  sseFrame('message_stop', {}),
];

/** The events of {@link streamWithPauses}, in order; its text is "early words and the rest". */
export const PAUSED_STREAM_SEQUENCE = PAUSED_STREAM_FRAMES.map((frame) => /^event: (.*)$/m.exec(frame)![1]!);

/** Frame indexes in the paused stream: its first content event (the block start), the second text delta, the one after. */
export const FIRST_CONTENT = 2;
export const SECOND_DELTA = 4;
export const AFTER_SECOND_DELTA = 5;

/**
 * An upstream stream whose frames wait, where `pauses` says, until the test lets them go on; with `cutAt` the
 * connection drops instead of sending that frame.
 */
export async function streamWithPauses(
  res: ServerResponse,
  pauses: Readonly<Record<number, Promise<void>>>,
  options: { cutAt?: number } = {},
): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'request-id': 'req_paused' });
  for (const [index, frame] of PAUSED_STREAM_FRAMES.entries()) {
    await pauses[index];
    if (res.destroyed) return;
    if (index === options.cutAt) {
      res.destroy();
      return;
    }
    res.write(frame);
  }
  res.end();
}

/** The content blocks a stream carries, rebuilt here independently of the gateway's own assembler. */
export function streamedBlocks(text: string): Record<string, unknown>[] {
  const blocks: Record<string, unknown>[] = [];
  const json = new Map<number, string>();
  const append = (block: Record<string, unknown>, field: string, value: unknown) => {
    const current = block[field];
    block[field] = `${typeof current === 'string' ? current : ''}${String(value)}`;
  };
  for (const { event, data } of sseEvents(text)) {
    if (event === 'content_block_start') blocks[data.index] = { ...data.content_block };
    if (event !== 'content_block_delta') continue;
    const block = blocks[data.index]!;
    const delta = data.delta;
    if (delta.type === 'text_delta') append(block, 'text', delta.text);
    else if (delta.type === 'thinking_delta') append(block, 'thinking', delta.thinking);
    else if (delta.type === 'signature_delta') append(block, 'signature', delta.signature);
    else if (delta.type === 'input_json_delta')
      json.set(data.index, `${json.get(data.index) ?? ''}${delta.partial_json}`);
  }
  for (const [index, partial] of json) blocks[index]!.input = JSON.parse(partial);
  return blocks;
}

/**
 * The official SDK on a connection pool of its own, destroyed by `close`: after a request times out undici opens a
 * spare connection that sends nothing, and a server only closes it when the client does (seconds later).
 */
export function sdkClient(
  gateway: RunningGateway,
  options: { timeout?: number; maxRetries: number },
): { client: Anthropic; close: () => Promise<void> } {
  const agent = new Agent();
  const viaAgent = (input: string | URL, init?: object) => fetch(input, { ...init, dispatcher: agent });
  const client = new Anthropic({
    baseURL: gateway.url,
    apiKey: 'client-key',
    ...options,
    fetch: viaAgent as unknown as typeof globalThis.fetch,
  });
  return { client, close: () => agent.destroy() };
}
