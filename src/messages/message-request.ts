import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../common/gateway-error';
import type { ClientConfig } from '../config/gateway-config';
import type { GatewayRuntime } from '../config/gateway-runtime';

export type JsonObject = Record<string, unknown>;

/** One client request to /v1/messages or count_tokens, as the upstream attempts see it. */
export interface MessageRequest {
  readonly requestId: string;
  readonly body: JsonObject;
  /** The bytes the client sent; forwarded as they are when nothing in the body has to change. */
  readonly raw: Buffer;
  readonly model: string;
  readonly stream: boolean;
  readonly headers: IncomingHttpHeaders;
  /** The client's query string including `?`, or "" (Claude Code sends `?beta=true`). */
  readonly query: string;
  readonly client?: ClientConfig;
  /** The gateway client key the request authenticated with, so that passthrough never forwards it. */
  readonly clientKey?: string;
  readonly sessionId?: string;
  /** Aborted when the client goes away. */
  readonly signal: AbortSignal;
  readonly receivedAt: number;
}

export type MessageEndpoint = 'messages' | 'count_tokens';

/** The checks Anthropic's API would make before anything else; everything else passes through untouched. */
export function validateMessageBody(body: unknown, endpoint: MessageEndpoint): JsonObject {
  if (body === undefined) throw GatewayError.invalidRequest('The request body is empty; send a JSON object.');
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw GatewayError.invalidRequest('The request body must be a JSON object.');
  }
  const object = body as JsonObject;
  if (object.model === undefined) throw GatewayError.invalidRequest('model: Field required');
  if (typeof object.model !== 'string' || object.model.trim() === '') {
    throw GatewayError.invalidRequest('model: must be a non-empty string');
  }
  if (object.messages === undefined) throw GatewayError.invalidRequest('messages: Field required');
  if (!Array.isArray(object.messages)) throw GatewayError.invalidRequest('messages: must be a list of messages');
  if (endpoint === 'messages') {
    if (object.max_tokens === undefined) throw GatewayError.invalidRequest('max_tokens: Field required');
    if (typeof object.max_tokens !== 'number' || !Number.isInteger(object.max_tokens) || object.max_tokens < 1) {
      throw GatewayError.invalidRequest('max_tokens: must be a positive whole number');
    }
    if (object.stream !== undefined && typeof object.stream !== 'boolean') {
      throw GatewayError.invalidRequest('stream: must be true or false');
    }
  }
  return object;
}

/** Claude Code's session: its header, else the session_id inside the JSON string it puts in metadata.user_id. */
export function sessionIdOf(headers: IncomingHttpHeaders, body: JsonObject): string | undefined {
  const header = headers['x-claude-code-session-id'];
  if (typeof header === 'string' && header) return header;
  const userId = (body.metadata as { user_id?: unknown } | undefined)?.user_id;
  if (typeof userId !== 'string' || !userId.startsWith('{')) return undefined;
  try {
    const sessionId = (JSON.parse(userId) as { session_id?: unknown }).session_id;
    return typeof sessionId === 'string' && sessionId ? sessionId : undefined;
  } catch {
    return undefined;
  }
}

/** A valid body for a model the calling client may use. */
export function checkedBody(request: { body: unknown; gatewayClient?: ClientConfig }, runtime: GatewayRuntime): JsonObject {
  const body = validateMessageBody(request.body, 'messages');
  const client = request.gatewayClient;
  const model = body.model as string;
  if (client && !runtime.clientMayUse(client, model)) {
    throw new GatewayError(403, 'permission_error', `Client '${client.name}' may not use model '${model}'.`);
  }
  return body;
}
