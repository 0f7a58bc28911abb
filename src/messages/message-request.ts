import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../common/gateway-error';
import type { ClientConfig } from '../config/gateway-config';
import type { RequestContext } from '../request/request-context';
import { RequestBody } from './request-body';

export type { JsonObject } from './request-body';

/** One client request to /v1/messages or count_tokens, as the upstream attempts see it. */
export interface MessageRequest {
  readonly requestId: string;
  /** The client's bytes, forwarded as they are when nothing in them has to change. */
  readonly body: RequestBody;
  readonly model: string;
  readonly stream: boolean;
  readonly headers: IncomingHttpHeaders;
  /** The client's query string including `?`, or "" (Claude Code sends `?beta=true`). */
  readonly query: string;
  readonly client?: ClientConfig;
  /** The gateway client key the request authenticated with, so that passthrough never forwards it. */
  readonly clientKey?: string;
  readonly sessionId?: string;
  readonly receivedAt: number;
}

export type MessageEndpoint = 'messages' | 'count_tokens';

/** The checks Anthropic's API would make before anything else; everything else passes through untouched. */
export function validateMessageBody(body: unknown, endpoint: MessageEndpoint): RequestBody {
  if (body === undefined) throw GatewayError.invalidRequest('The request body is empty; send a JSON object.');
  if (!(body instanceof RequestBody)) throw GatewayError.invalidRequest('The request body must be a JSON object.');
  const model = field(body, 'model');
  if (model === undefined) throw GatewayError.invalidRequest('model: Field required');
  if (typeof model !== 'string' || model.trim() === '')
    throw GatewayError.invalidRequest('model: must be a non-empty string');
  if (!body.has('messages')) throw GatewayError.invalidRequest('messages: Field required');
  if (body.rawValue('messages')?.[0] !== 0x5b)
    throw GatewayError.invalidRequest('messages: must be a list of messages');
  if (endpoint === 'messages') {
    const maxTokens = field(body, 'max_tokens');
    if (maxTokens === undefined) throw GatewayError.invalidRequest('max_tokens: Field required');
    if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) {
      throw GatewayError.invalidRequest('max_tokens: must be a positive whole number');
    }
    const stream = field(body, 'stream');
    if (stream !== undefined && typeof stream !== 'boolean')
      throw GatewayError.invalidRequest('stream: must be true or false');
  }
  return body;
}

/** A top-level field's value; a field whose own bytes are not valid JSON is a bad request, named. */
function field(body: RequestBody, key: string): unknown {
  try {
    return body.value(key);
  } catch (error) {
    throw GatewayError.invalidRequest(`${key}: is not valid JSON (${(error as Error).message})`);
  }
}

/** Claude Code's session: its header, else the session_id inside the JSON string it puts in metadata.user_id. */
export function sessionIdOf(headers: IncomingHttpHeaders, body: RequestBody): string | undefined {
  const header = headers['x-claude-code-session-id'];
  if (typeof header === 'string' && header) return header;
  let userId: unknown;
  try {
    userId = (body.value('metadata') as { user_id?: unknown } | null | undefined)?.user_id;
  } catch {
    return undefined;
  }
  if (typeof userId !== 'string' || !userId.startsWith('{')) return undefined;
  try {
    const sessionId = (JSON.parse(userId) as { session_id?: unknown }).session_id;
    return typeof sessionId === 'string' && sessionId ? sessionId : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The request a message route serves, validated once: the body's checks, then the client's model allowlist. The
 * result is kept on the context, so the dedup interceptor and the handler share one validation.
 */
export function acceptMessage(
  context: RequestContext,
  request: Pick<FastifyRequest, 'body' | 'headers' | 'url'>,
  endpoint: MessageEndpoint,
): MessageRequest {
  if (context.message) return context.message;
  const body = validateMessageBody(request.body, endpoint);
  const model = body.value('model') as string;
  const client = context.client;
  if (client && !context.runtime.clientMayUse(client, model)) {
    throw new GatewayError(403, 'permission_error', `Client '${client.name}' may not use model '${model}'.`);
  }
  const stream = endpoint === 'messages' && body.value('stream') === true;
  const queryAt = request.url.indexOf('?');
  const message: MessageRequest = {
    requestId: context.id,
    body,
    model,
    stream,
    headers: request.headers,
    query: queryAt === -1 ? '' : request.url.slice(queryAt),
    client,
    clientKey: context.clientKey,
    sessionId: sessionIdOf(request.headers, body),
    receivedAt: context.receivedAt,
  };
  context.message = message;
  context.modelLabel = model;
  context.fields.model = model;
  if (endpoint === 'messages') context.fields.stream = stream;
  return message;
}
