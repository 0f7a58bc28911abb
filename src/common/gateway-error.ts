/** Errors the gateway itself answers with, always in Anthropic's shape. */

export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'billing_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'timeout_error'
  | 'overloaded_error';

export interface AnthropicErrorBody {
  type: 'error';
  error: { type: string; message: string };
  request_id?: string;
}

const TYPE_BY_STATUS: Readonly<Record<number, AnthropicErrorType>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  503: 'overloaded_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

export function errorTypeForStatus(status: number): AnthropicErrorType {
  return TYPE_BY_STATUS[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

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

  static invalidRequest(message: string): GatewayError {
    return new GatewayError(400, 'invalid_request_error', message);
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
