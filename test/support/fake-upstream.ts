/**
 * A fake model provider for end-to-end tests: a real HTTP server on 127.0.0.1 (random port) that speaks the
 * Anthropic Messages API (`…/v1/messages`, `…/v1/messages/count_tokens`) and OpenAI Chat Completions
 * (`…/chat/completions`). Tests script its answers with behaviours (see {@link FakeBehaviour}). With
 * `requireOAuth` it refuses Anthropic requests whose subscription credentials Anthropic would refuse.
 *
 * Anthropic stream event sequence (the numbering 'cut' / 'sse-error' / 'stall-stream' count over):
 *   1 message_start, 2 ping, then per block:
 *     text:     content_block_start, text_delta × (1–3, fewer for very short text, none for ""), content_block_stop
 *     thinking: content_block_start, thinking_delta, signature_delta, content_block_stop
 *     tool_use: content_block_start (input {}), input_json_delta × 2, content_block_stop
 *   then message_delta, message_stop.
 * The default answer ("Hello from fake") is therefore 9 events: start, ping, block start, 3 text deltas, block stop,
 * message_delta, message_stop.
 *
 * OpenAI stream chunk sequence (used for 'cut' / 'sse-error' / 'stall-stream' on a chat/completions path):
 *   {role}, reasoning_content × (0–2), content × (0–2), per tool call (header + up to 2 argument fragments),
 *   finish chunk, usage chunk (only with stream_options.include_usage), [DONE].
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import { listenOnLoopback } from './loopback';

export type FakeBlock =
  | { type: 'text'; text: string }
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

export interface FakeUsage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
}

export type FakeBehaviour =
  // A normal Anthropic answer. Streams SSE when the request body has stream:true, else JSON. eventDelayMs waits between SSE events.
  | {
      kind: 'message';
      content?: FakeBlock[];
      stopReason?: string;
      usage?: FakeUsage;
      eventDelayMs?: number;
      headers?: Record<string, string>;
      model?: string;
    }
  // An HTTP error: status with an Anthropic-shaped error body (or `body` verbatim when given), extra headers (e.g. retry-after).
  | {
      kind: 'status';
      status: number;
      errorType?: string;
      message?: string;
      body?: string;
      headers?: Record<string, string>;
    }
  // Destroy the socket before sending any headers (connection reset).
  | { kind: 'reset' }
  // Send nothing for ms milliseconds (default forever, until the client gives up), then a normal message.
  | { kind: 'stall'; ms?: number }
  // Streaming only: 200 + SSE, send the first `afterEvents` events of a normal message, then destroy the socket.
  | { kind: 'cut'; afterEvents: number; content?: FakeBlock[] }
  // Streaming only: 200 + SSE, send `afterEvents` events (0 = none) of a normal message, then `event: error` with that error, then end (no message_stop).
  | { kind: 'sse-error'; afterEvents?: number; errorType?: string; message?: string }
  // Streaming only: a 200 SSE stream that sends its first `afterEvents` events, then stays silent (for idle-timeout tests).
  | { kind: 'stall-stream'; afterEvents: number }
  // OpenAI Chat Completions answers for POST .../chat/completions: stream chunks when stream:true (with a usage chunk when stream_options.include_usage), else a chat.completion JSON.
  | {
      kind: 'openai';
      content?: string;
      reasoning?: string;
      toolCalls?: { id: string; name: string; arguments: string }[];
      finishReason?: string;
      usage?: { prompt_tokens: number; completion_tokens: number; cached_tokens?: number };
      eventDelayMs?: number;
    }
  // Verbatim OpenAI stream: each string is sent as one `data: <string>\n\n` line (include '[DONE]' yourself), eventDelayMs between.
  | { kind: 'openai-raw-stream'; chunks: string[]; eventDelayMs?: number }
  // Call a function to answer (escape hatch for special tests).
  | { kind: 'custom'; handle: (req: IncomingMessage, res: ServerResponse, body: unknown) => void };

export interface RecordedRequest {
  method: string;
  /** Includes the query string. */
  path: string;
  /** As received (authorization and x-api-key included). */
  headers: IncomingHttpHeaders;
  /** The comma-separated `anthropic-beta` flags, trimmed, in order ([] without the header). */
  betas: string[];
  /** Parsed JSON, or undefined. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  rawBody: string;
}

/**
 * What a subscription (OAuth) access token is to Anthropic. 'organization_disabled' is a valid token whose
 * organization was disabled.
 */
export type OAuthTokenState = 'valid' | 'expired' | 'revoked' | 'unknown' | 'organization_disabled';
export type OAuthTokenCheck = (accessToken: string) => OAuthTokenState;

/** The beta flag Anthropic requires with an OAuth bearer token. */
export const OAUTH_BETA = 'oauth-2025-04-20';

export interface FakeUpstream {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** Every POST, in arrival order. */
  readonly requests: RecordedRequest[];
  /** How many responses were cut short because the client (the gateway) went away before the response finished. */
  readonly clientAborts: number;
  /** Default behaviour for requests with nothing queued (initially a 'message' with text "Hello from fake"). */
  setDefault(behaviour: FakeBehaviour): void;
  /** Queue behaviours used one per request, before falling back to the default. */
  enqueue(...behaviours: FakeBehaviour[]): void;
  /** Resolves when `count` requests in total have arrived (for abort tests). */
  waitForRequests(count: number): Promise<void>;
  /** Resolves once a client abort has been observed (see clientAborts); with `count`, once that many have been. */
  waitForClientAbort(count?: number): Promise<void>;
  /**
   * With a check, every POST …/v1/messages and …/v1/messages/count_tokens must carry subscription credentials the
   * way Anthropic wants them (`Authorization: Bearer <token>`, no x-api-key, `anthropic-beta` containing
   * {@link OAUTH_BETA}) and a token the check calls 'valid'; otherwise it is answered with Anthropic's error (and
   * still recorded) without using a queued behaviour. `undefined` turns checking off.
   */
  requireOAuth(check: OAuthTokenCheck | undefined): void;
  /** Clears queue, recorded requests, counters, the OAuth check; default back to initial. */
  reset(): void;
  /** Closes the server and destroys all open sockets. */
  close(): Promise<void>;
}

const DEFAULT_TEXT = 'Hello from fake';
const INITIAL_DEFAULT: FakeBehaviour = { kind: 'message', content: [{ type: 'text', text: DEFAULT_TEXT }] };
const DEFAULT_USAGE: FakeUsage = { input_tokens: 10, output_tokens: 5 };
/** How long 'cut' waits for the already-written events to reach the client before destroying the socket. */
const CUT_FLUSH_MS = 20;

type Route = 'messages' | 'count_tokens' | 'openai' | 'unknown';
type OpenAiBehaviour = Extract<FakeBehaviour, { kind: 'openai' }>;
type JsonObject = Record<string, unknown>;

interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** 1-based number of the POST (for msg_fake_<n> / req_fake_<n>); 0 for other methods. */
  seq: number;
  /** reset() generation the request arrived in; aborts of older requests are not counted. */
  readonly generation: number;
  /** The response emitted 'close'. */
  closed: boolean;
  /** We destroyed the socket on purpose (reset/cut), so its close is not a client abort. */
  selfDestroyed: boolean;
  /** Wakes up pending waits (and clears their timers). */
  readonly cancellers: Set<() => void>;
}

interface SseEvent {
  event: string;
  data: JsonObject;
}

interface Waiter {
  ready: () => boolean;
  resolve: () => void;
}

function isRecord(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function routeOf(path: string): Route {
  let pathname = path.split('?')[0] ?? '';
  while (pathname.length > 1 && pathname.endsWith('/')) pathname = pathname.slice(0, -1);
  if (pathname.endsWith('/v1/messages/count_tokens')) return 'count_tokens';
  if (pathname.endsWith('/v1/messages')) return 'messages';
  if (pathname.endsWith('/chat/completions')) return 'openai';
  return 'unknown';
}

function betasOf(headers: IncomingHttpHeaders): string[] {
  const raw = headers['anthropic-beta'];
  const joined = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  return joined
    .split(',')
    .map((flag) => flag.trim())
    .filter((flag) => flag !== '');
}

interface OAuthRefusal {
  status: number;
  type: string;
  message: string;
}

/** Anthropic's answer to a request that does not carry a usable subscription credential; undefined when it does. */
function oauthRefusal(headers: IncomingHttpHeaders, check: OAuthTokenCheck): OAuthRefusal | undefined {
  const unauthenticated = (message: string): OAuthRefusal => ({ status: 401, type: 'authentication_error', message });
  if (headers['x-api-key'] !== undefined) return unauthenticated('invalid x-api-key');
  const match = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '');
  const token = match?.[1];
  if (token === undefined) return unauthenticated('x-api-key header is required');
  if (!betasOf(headers).includes(OAUTH_BETA))
    return unauthenticated('OAuth authentication is currently not supported.');
  const state = check(token);
  switch (state) {
    case 'valid':
      return undefined;
    case 'expired':
      return unauthenticated('OAuth token has expired. Please obtain a new token or refresh your existing token.');
    case 'revoked':
      return {
        status: 403,
        type: 'permission_error',
        message: 'OAuth token has been revoked. Please obtain a new token.',
      };
    case 'unknown':
      return unauthenticated('Invalid bearer token');
    case 'organization_disabled':
      return { status: 400, type: 'invalid_request_error', message: 'This organization has been disabled.' };
  }
}

/** Splits a string into at most `parts` non-empty pieces without breaking surrogate pairs. */
function splitText(text: string, parts: number): string[] {
  const chars = Array.from(text);
  const n = Math.min(parts, chars.length);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(chars.slice(Math.ceil((i * chars.length) / n), Math.ceil(((i + 1) * chars.length) / n)).join(''));
  }
  return out;
}

function defaultErrorType(status: number): string {
  switch (status) {
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 504:
      return 'timeout_error';
    case 529:
      return 'overloaded_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

function sseFrame(e: SseEvent): string {
  return `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
}

function dataFrame(payload: string): string {
  return `data: ${payload}\n\n`;
}

function usageFields(usage: FakeUsage): JsonObject {
  const out: JsonObject = {};
  if (usage.cache_creation_input_tokens !== undefined) {
    out.cache_creation_input_tokens = usage.cache_creation_input_tokens;
  }
  if (usage.cache_read_input_tokens !== undefined) out.cache_read_input_tokens = usage.cache_read_input_tokens;
  return out;
}

function defaultStopReason(content: FakeBlock[]): string {
  return content.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn';
}

interface AnthropicAnswer {
  id: string;
  model: string;
  content: FakeBlock[];
  stopReason: string;
  usage: FakeUsage;
}

function anthropicEvents(a: AnthropicAnswer): SseEvent[] {
  const events: SseEvent[] = [
    {
      event: 'message_start',
      data: {
        type: 'message_start',
        message: {
          id: a.id,
          type: 'message',
          role: 'assistant',
          model: a.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: a.usage.input_tokens, output_tokens: 1, ...usageFields(a.usage) },
        },
      },
    },
    { event: 'ping', data: { type: 'ping' } },
  ];
  const delta = (index: number, d: JsonObject): SseEvent => ({
    event: 'content_block_delta',
    data: { type: 'content_block_delta', index, delta: d },
  });
  a.content.forEach((block, index) => {
    const start = (contentBlock: JsonObject): void => {
      events.push({
        event: 'content_block_start',
        data: { type: 'content_block_start', index, content_block: contentBlock },
      });
    };
    switch (block.type) {
      case 'text':
        start({ type: 'text', text: '' });
        for (const part of splitText(block.text, 3)) events.push(delta(index, { type: 'text_delta', text: part }));
        break;
      case 'thinking':
        start({ type: 'thinking', thinking: '', signature: '' });
        events.push(delta(index, { type: 'thinking_delta', thinking: block.thinking }));
        events.push(delta(index, { type: 'signature_delta', signature: block.signature }));
        break;
      case 'tool_use': {
        start({ type: 'tool_use', id: block.id, name: block.name, input: {} });
        const json = JSON.stringify(block.input);
        const half = Math.ceil(json.length / 2);
        events.push(delta(index, { type: 'input_json_delta', partial_json: json.slice(0, half) }));
        events.push(delta(index, { type: 'input_json_delta', partial_json: json.slice(half) }));
        break;
      }
    }
    events.push({ event: 'content_block_stop', data: { type: 'content_block_stop', index } });
  });
  events.push({
    event: 'message_delta',
    data: {
      type: 'message_delta',
      delta: { stop_reason: a.stopReason, stop_sequence: null },
      usage: { output_tokens: a.usage.output_tokens },
    },
  });
  events.push({ event: 'message_stop', data: { type: 'message_stop' } });
  return events;
}

function anthropicMessage(a: AnthropicAnswer): JsonObject {
  return {
    id: a.id,
    type: 'message',
    role: 'assistant',
    model: a.model,
    content: a.content,
    stop_reason: a.stopReason,
    stop_sequence: null,
    usage: { input_tokens: a.usage.input_tokens, output_tokens: a.usage.output_tokens, ...usageFields(a.usage) },
  };
}

/** Converts an Anthropic-style behaviour into the equivalent OpenAI one (for 'message' on a chat/completions path). */
function toOpenAi(
  content: FakeBlock[],
  stopReason?: string,
  usage?: FakeUsage,
  eventDelayMs?: number,
): OpenAiBehaviour {
  const texts: string[] = [];
  const reasoning: string[] = [];
  const toolCalls: { id: string; name: string; arguments: string }[] = [];
  for (const block of content) {
    if (block.type === 'text') texts.push(block.text);
    else if (block.type === 'thinking') reasoning.push(block.thinking);
    else toolCalls.push({ id: block.id, name: block.name, arguments: JSON.stringify(block.input) });
  }
  const finishByStop: Record<string, string> = { end_turn: 'stop', tool_use: 'tool_calls', max_tokens: 'length' };
  return {
    kind: 'openai',
    content: texts.length > 0 ? texts.join('') : toolCalls.length > 0 || reasoning.length > 0 ? undefined : '',
    reasoning: reasoning.length > 0 ? reasoning.join('') : undefined,
    toolCalls: toolCalls.length > 0 ? toolCalls : undefined,
    finishReason: stopReason === undefined ? undefined : (finishByStop[stopReason] ?? 'stop'),
    usage:
      usage === undefined
        ? undefined
        : {
            prompt_tokens:
              usage.input_tokens + (usage.cache_read_input_tokens ?? 0) + (usage.cache_creation_input_tokens ?? 0),
            completion_tokens: usage.output_tokens,
            cached_tokens: usage.cache_read_input_tokens,
          },
    eventDelayMs,
  };
}

interface OpenAiAnswer {
  model: string;
  content?: string;
  reasoning?: string;
  toolCalls: { id: string; name: string; arguments: string }[];
  finishReason: string;
  usage: JsonObject;
}

function openAiAnswer(b: OpenAiBehaviour, model: string): OpenAiAnswer {
  const nothing = b.content === undefined && b.reasoning === undefined && b.toolCalls === undefined;
  const toolCalls = b.toolCalls ?? [];
  const usage = b.usage ?? { prompt_tokens: 10, completion_tokens: 5 };
  return {
    model,
    content: nothing ? DEFAULT_TEXT : b.content,
    reasoning: b.reasoning,
    toolCalls,
    finishReason: b.finishReason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop'),
    usage: {
      prompt_tokens: usage.prompt_tokens,
      completion_tokens: usage.completion_tokens,
      total_tokens: usage.prompt_tokens + usage.completion_tokens,
      prompt_tokens_details: { cached_tokens: usage.cached_tokens ?? 0 },
    },
  };
}

/** The `data:` payloads of an OpenAI stream, ending with '[DONE]'. */
function openAiChunks(a: OpenAiAnswer, includeUsage: boolean): string[] {
  const created = Math.floor(Date.now() / 1000);
  const base = { id: 'chatcmpl-fake', object: 'chat.completion.chunk', created, model: a.model };
  const chunk = (delta: JsonObject, finishReason: string | null = null): string =>
    JSON.stringify({ ...base, choices: [{ index: 0, delta, finish_reason: finishReason }] });
  const out: string[] = [chunk({ role: 'assistant' })];
  for (const part of splitText(a.reasoning ?? '', 2)) out.push(chunk({ reasoning_content: part }));
  for (const part of splitText(a.content ?? '', 2)) out.push(chunk({ content: part }));
  a.toolCalls.forEach((call, index) => {
    out.push(
      chunk({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] }),
    );
    const half = Math.ceil(call.arguments.length / 2);
    for (const fragment of [call.arguments.slice(0, half), call.arguments.slice(half)]) {
      if (fragment !== '') out.push(chunk({ tool_calls: [{ index, function: { arguments: fragment } }] }));
    }
  });
  out.push(chunk({}, a.finishReason));
  if (includeUsage) out.push(JSON.stringify({ ...base, choices: [], usage: a.usage }));
  out.push('[DONE]');
  return out;
}

function openAiCompletion(a: OpenAiAnswer): JsonObject {
  const message: JsonObject = { role: 'assistant', content: a.content ?? null };
  if (a.reasoning !== undefined) message.reasoning_content = a.reasoning;
  if (a.toolCalls.length > 0) {
    message.tool_calls = a.toolCalls.map((c) => ({
      id: c.id,
      type: 'function',
      function: { name: c.name, arguments: c.arguments },
    }));
  }
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: a.model,
    choices: [{ index: 0, message, finish_reason: a.finishReason }],
    usage: a.usage,
  };
}

class FakeUpstreamServer implements FakeUpstream {
  private readonly sockets = new Set<Socket>();
  private readonly contexts = new Set<RequestContext>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private requestWaiters: Waiter[] = [];
  private abortWaiters: Waiter[] = [];
  private queue: FakeBehaviour[] = [];
  private defaultBehaviour: FakeBehaviour = INITIAL_DEFAULT;
  private oauthCheck?: OAuthTokenCheck;
  private recorded: RecordedRequest[] = [];
  private aborts = 0;
  private seq = 0;
  private generation = 0;
  private closing = false;
  private closed?: Promise<void>;
  url = '';

  constructor(private readonly server: Server) {
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
    });
    server.on('clientError', (_err: Error, socket: Socket) => socket.destroy());
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res));
  }

  get requests(): RecordedRequest[] {
    return this.recorded;
  }

  get clientAborts(): number {
    return this.aborts;
  }

  async listen(): Promise<void> {
    this.url = await listenOnLoopback(this.server);
  }

  setDefault(behaviour: FakeBehaviour): void {
    this.defaultBehaviour = behaviour;
  }

  enqueue(...behaviours: FakeBehaviour[]): void {
    this.queue.push(...behaviours);
  }

  waitForRequests(count: number): Promise<void> {
    return this.addWaiter('requests', () => this.recorded.length >= count);
  }

  waitForClientAbort(count = 1): Promise<void> {
    return this.addWaiter('aborts', () => this.aborts >= count);
  }

  requireOAuth(check: OAuthTokenCheck | undefined): void {
    this.oauthCheck = check;
  }

  reset(): void {
    this.oauthCheck = undefined;
    this.queue = [];
    this.recorded = [];
    this.aborts = 0;
    this.seq = 0;
    this.generation++;
    this.defaultBehaviour = INITIAL_DEFAULT;
  }

  close(): Promise<void> {
    this.closed ??= this.doClose();
    return this.closed;
  }

  private async doClose(): Promise<void> {
    this.closing = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const ctx of this.contexts) this.cancelWaits(ctx);
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await done;
  }

  private addWaiter(kind: 'requests' | 'aborts', ready: () => boolean): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const waiter = { ready, resolve };
      if (kind === 'requests') this.requestWaiters.push(waiter);
      else this.abortWaiters.push(waiter);
    });
  }

  private static settle(waiters: Waiter[]): Waiter[] {
    const pending: Waiter[] = [];
    for (const w of waiters) {
      if (w.ready()) w.resolve();
      else pending.push(w);
    }
    return pending;
  }

  // ---- request handling -------------------------------------------------------------------------------------------

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    const ctx: RequestContext = {
      req,
      res,
      seq: 0,
      generation: this.generation,
      closed: false,
      selfDestroyed: false,
      cancellers: new Set(),
    };
    this.contexts.add(ctx);
    res.on('close', () => this.onResponseClose(ctx));
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        this.dispatch(ctx, Buffer.concat(chunks).toString('utf8'));
      } catch (err) {
        this.fail(ctx, err);
      }
    });
  }

  private onResponseClose(ctx: RequestContext): void {
    ctx.closed = true;
    this.contexts.delete(ctx);
    this.cancelWaits(ctx);
    if (ctx.res.writableFinished || ctx.selfDestroyed || this.closing || ctx.generation !== this.generation) return;
    this.aborts++;
    this.abortWaiters = FakeUpstreamServer.settle(this.abortWaiters);
  }

  private cancelWaits(ctx: RequestContext): void {
    for (const cancel of [...ctx.cancellers]) cancel();
  }

  /** Waits `ms` (forever when undefined); returns early when the response closes or the server shuts down. */
  private wait(ctx: RequestContext, ms?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      if (ctx.closed || this.closing) {
        resolve();
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer !== undefined) {
          clearTimeout(timer);
          this.timers.delete(timer);
        }
        ctx.cancellers.delete(done);
        resolve();
      };
      ctx.cancellers.add(done);
      if (ms !== undefined) {
        timer = setTimeout(done, Math.max(0, ms));
        this.timers.add(timer);
      }
    });
  }

  private dispatch(ctx: RequestContext, rawBody: string): void {
    const { req } = ctx;
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    let body: unknown;
    if (rawBody.trim() !== '') {
      try {
        body = JSON.parse(rawBody);
      } catch {
        body = undefined;
      }
    }
    if (method !== 'POST') {
      this.sendJson(ctx, 404, this.anthropicError(ctx, 'not_found_error', `Not found: ${method} ${path}`));
      return;
    }
    ctx.seq = ++this.seq;
    this.recorded.push({ method, path, headers: req.headers, betas: betasOf(req.headers), body, rawBody });
    this.requestWaiters = FakeUpstreamServer.settle(this.requestWaiters);

    const route = routeOf(path);
    if (route === 'unknown') {
      this.sendJson(ctx, 404, this.anthropicError(ctx, 'not_found_error', `Not found: ${method} ${path}`));
      return;
    }
    if (this.oauthCheck !== undefined && (route === 'messages' || route === 'count_tokens')) {
      const refusal = oauthRefusal(req.headers, this.oauthCheck);
      if (refusal !== undefined) {
        this.sendJson(ctx, refusal.status, this.anthropicError(ctx, refusal.type, refusal.message));
        return;
      }
    }
    // count_tokens only uses queued behaviours, never the default.
    const behaviour = route === 'count_tokens' ? this.queue.shift() : (this.queue.shift() ?? this.defaultBehaviour);
    if (behaviour === undefined) {
      this.sendCountTokens(ctx, body);
      return;
    }
    this.run(ctx, behaviour, route, body).catch((err: unknown) => this.fail(ctx, err));
  }

  private fail(ctx: RequestContext, err: unknown): void {
    try {
      if (ctx.closed) return;
      if (!ctx.res.headersSent) {
        const message = `fake upstream failed: ${err instanceof Error ? err.message : String(err)}`;
        this.sendJson(ctx, 500, this.anthropicError(ctx, 'api_error', message));
      } else {
        this.destroySocket(ctx, false);
      }
    } catch {
      // never throw out of a handler
    }
  }

  private async run(ctx: RequestContext, b: FakeBehaviour, route: Route, body: unknown): Promise<void> {
    const request = isRecord(body) ? body : {};
    const stream = request.stream === true;
    switch (b.kind) {
      case 'message':
        if (route === 'count_tokens') return this.sendCountTokens(ctx, body);
        if (route === 'openai') {
          return this.runOpenAi(ctx, toOpenAi(b.content ?? [], b.stopReason, b.usage, b.eventDelayMs), request);
        }
        return this.runAnthropic(ctx, b, request, stream);
      case 'status':
        return this.sendStatus(ctx, b, route);
      case 'reset':
        return this.destroySocket(ctx, true);
      case 'stall':
        await this.wait(ctx, b.ms);
        if (ctx.closed || this.closing) return;
        return this.run(ctx, INITIAL_DEFAULT, route, body);
      case 'cut':
      case 'sse-error':
      case 'stall-stream':
        if (route === 'count_tokens') return this.sendCountTokens(ctx, body);
        return this.runBrokenStream(ctx, b, route, request);
      case 'openai':
        if (route === 'count_tokens') return this.sendCountTokens(ctx, body);
        return this.runOpenAi(ctx, b, request);
      case 'openai-raw-stream':
        if (route === 'count_tokens') return this.sendCountTokens(ctx, body);
        this.startSse(ctx, this.openAiHeaders(ctx));
        if (await this.writeFrames(ctx, b.chunks.map(dataFrame), b.eventDelayMs)) ctx.res.end();
        return;
      case 'custom': {
        const result: unknown = b.handle(ctx.req, ctx.res, body);
        if (result instanceof Promise) await result;
        return;
      }
    }
  }

  private anthropicAnswer(
    ctx: RequestContext,
    request: JsonObject,
    content: FakeBlock[] | undefined,
    extra: { stopReason?: string; usage?: FakeUsage; model?: string } = {},
  ): AnthropicAnswer {
    const blocks = content ?? [{ type: 'text', text: DEFAULT_TEXT }];
    return {
      id: `msg_fake_${ctx.seq}`,
      model: extra.model ?? (typeof request.model === 'string' ? request.model : 'claude-fake'),
      content: blocks,
      stopReason: extra.stopReason ?? defaultStopReason(blocks),
      usage: extra.usage ?? DEFAULT_USAGE,
    };
  }

  private async runAnthropic(
    ctx: RequestContext,
    b: Extract<FakeBehaviour, { kind: 'message' }>,
    request: JsonObject,
    stream: boolean,
  ): Promise<void> {
    const answer = this.anthropicAnswer(ctx, request, b.content, b);
    if (!stream) {
      this.sendJson(ctx, 200, anthropicMessage(answer), b.headers);
      return;
    }
    this.startSse(ctx, { ...this.anthropicHeaders(ctx), ...b.headers });
    if (await this.writeFrames(ctx, anthropicEvents(answer).map(sseFrame), b.eventDelayMs)) ctx.res.end();
  }

  private async runOpenAi(ctx: RequestContext, b: OpenAiBehaviour, request: JsonObject): Promise<void> {
    const answer = openAiAnswer(b, typeof request.model === 'string' ? request.model : 'gpt-fake');
    if (request.stream !== true) {
      this.sendJson(ctx, 200, openAiCompletion(answer), this.openAiHeaders(ctx));
      return;
    }
    this.startSse(ctx, this.openAiHeaders(ctx));
    const frames = openAiChunks(answer, this.includeUsage(request)).map(dataFrame);
    if (await this.writeFrames(ctx, frames, b.eventDelayMs)) ctx.res.end();
  }

  private includeUsage(request: JsonObject): boolean {
    return isRecord(request.stream_options) && request.stream_options.include_usage === true;
  }

  private async runBrokenStream(
    ctx: RequestContext,
    b: Extract<FakeBehaviour, { kind: 'cut' | 'sse-error' | 'stall-stream' }>,
    route: Route,
    request: JsonObject,
  ): Promise<void> {
    const content = b.kind === 'cut' ? b.content : undefined;
    let frames: string[];
    if (route === 'openai') {
      const anthropic = toOpenAi(content ?? [{ type: 'text', text: DEFAULT_TEXT }]);
      const model = typeof request.model === 'string' ? request.model : 'gpt-fake';
      frames = openAiChunks(openAiAnswer(anthropic, model), this.includeUsage(request)).map(dataFrame);
      this.startSse(ctx, this.openAiHeaders(ctx));
    } else {
      frames = anthropicEvents(this.anthropicAnswer(ctx, request, content)).map(sseFrame);
      this.startSse(ctx, this.anthropicHeaders(ctx));
    }
    const afterEvents = b.afterEvents ?? 0;
    if (!(await this.writeFrames(ctx, frames.slice(0, Math.max(0, afterEvents))))) return;
    switch (b.kind) {
      case 'cut':
        await this.wait(ctx, CUT_FLUSH_MS);
        this.destroySocket(ctx, false);
        return;
      case 'stall-stream':
        await this.wait(ctx);
        return;
      case 'sse-error': {
        const type = b.errorType ?? 'overloaded_error';
        const message = b.message ?? 'Overloaded';
        ctx.res.end(
          route === 'openai'
            ? dataFrame(JSON.stringify({ error: { message, type, param: null, code: null } }))
            : sseFrame({ event: 'error', data: { type: 'error', error: { type, message } } }),
        );
        return;
      }
    }
  }

  // ---- response helpers -------------------------------------------------------------------------------------------

  private anthropicHeaders(ctx: RequestContext): OutgoingHttpHeaders {
    return {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'request-id': `req_fake_${ctx.seq}`,
    };
  }

  private openAiHeaders(ctx: RequestContext): OutgoingHttpHeaders {
    return {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'x-request-id': `req_fake_${ctx.seq}`,
    };
  }

  private startSse(ctx: RequestContext, headers: OutgoingHttpHeaders): void {
    if (ctx.closed) return;
    ctx.res.writeHead(200, headers);
    ctx.res.flushHeaders();
  }

  /** Writes frames one by one with `delayMs` between; false if the response closed meanwhile. */
  private async writeFrames(ctx: RequestContext, frames: string[], delayMs = 0): Promise<boolean> {
    for (let i = 0; i < frames.length; i++) {
      if (i > 0 && delayMs > 0) await this.wait(ctx, delayMs);
      if (ctx.closed || this.closing) return false;
      ctx.res.write(frames[i]);
    }
    return !ctx.closed && !this.closing;
  }

  private sendJson(ctx: RequestContext, status: number, payload: unknown, headers?: OutgoingHttpHeaders): void {
    this.sendRaw(ctx, status, typeof payload === 'string' ? payload : JSON.stringify(payload), headers);
  }

  private sendRaw(ctx: RequestContext, status: number, text: string, headers?: OutgoingHttpHeaders): void {
    if (ctx.closed || ctx.res.headersSent) return;
    ctx.res.writeHead(status, {
      'content-type': 'application/json',
      'request-id': `req_fake_${ctx.seq}`,
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    ctx.res.end(text);
  }

  private anthropicError(ctx: RequestContext, type: string, message: string): JsonObject {
    return { type: 'error', error: { type, message }, request_id: `req_fake_${ctx.seq}` };
  }

  private sendStatus(ctx: RequestContext, b: Extract<FakeBehaviour, { kind: 'status' }>, route: Route): void {
    const type = b.errorType ?? defaultErrorType(b.status);
    const message = b.message ?? `Fake upstream error ${b.status}`;
    let text = b.body;
    if (text === undefined) {
      const payload =
        route === 'openai'
          ? { error: { message, type, param: null, code: null } }
          : this.anthropicError(ctx, type, message);
      text = JSON.stringify(payload);
    }
    this.sendRaw(ctx, b.status, text, b.headers);
  }

  private sendCountTokens(ctx: RequestContext, body: unknown): void {
    const messages = isRecord(body) ? body.messages : undefined;
    const json = messages === undefined ? '' : (JSON.stringify(messages) ?? '');
    this.sendJson(ctx, 200, { input_tokens: Math.round(json.length / 4) });
  }

  /** Destroys the connection (RST when `reset`), marking it as our doing so it is not counted as a client abort. */
  private destroySocket(ctx: RequestContext, reset: boolean): void {
    if (ctx.closed) return;
    ctx.selfDestroyed = true;
    const socket = ctx.res.socket ?? ctx.req.socket;
    if (reset) socket.resetAndDestroy();
    else socket.destroy();
  }
}

/** Starts a fake provider on 127.0.0.1 with a random port. Close it with `close()`. */
export async function startFakeUpstream(): Promise<FakeUpstream> {
  const upstream = new FakeUpstreamServer(createServer());
  await upstream.listen();
  return upstream;
}
