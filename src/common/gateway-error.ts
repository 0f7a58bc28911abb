import { type AnthropicErrorType, errorTypeForStatus } from './error-table';

export type { AnthropicErrorType } from './error-table';
export { errorTypeForStatus } from './error-table';

export interface AnthropicErrorBody {
  type: 'error';
  error: { type: string; message: string };
  request_id?: string;
}

/** An error the gateway answers with, always in Anthropic's shape; the failure behind it is kept as `cause`. */
export class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly type: AnthropicErrorType,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'GatewayError';
  }

  static invalidRequest(message: string, cause?: unknown): GatewayError {
    return new GatewayError(400, 'invalid_request_error', message, {}, { cause });
  }

  /** A bug or an unexpected failure inside the gateway: a 500 that names the request, never the details. */
  static internal(requestId: string, cause: unknown): GatewayError {
    return new GatewayError(500, 'api_error', `Internal server error (request ${requestId})`, {}, { cause });
  }

  /** The status's own Anthropic error type. */
  static forStatus(status: number, message: string, headers?: Readonly<Record<string, string>>): GatewayError {
    return new GatewayError(status, errorTypeForStatus(status), message, headers);
  }

  body(requestId?: string): AnthropicErrorBody {
    return errorBody(this.type, this.message, requestId);
  }
}

export function errorBody(type: string, message: string, requestId?: string): AnthropicErrorBody {
  const body: AnthropicErrorBody = { type: 'error', error: { type, message } };
  if (requestId) body.request_id = requestId;
  return body;
}
