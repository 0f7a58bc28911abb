import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { errorBody, errorTypeForStatus } from '../common/gateway-error';
import { newRequestId } from '../request/request-lifecycle';

export type ProtocolErrorReason = 'timeout' | 'header_overflow' | 'bad_request';

interface ProtocolError {
  readonly status: number;
  readonly reason: ProtocolErrorReason;
  readonly message: string;
}

/**
 * What the server answers when a connection breaks HTTP before a request exists: bad header bytes, headers too
 * large, headers or a request that never finish. Node and Fastify would answer with bodies of their own; a client of
 * this gateway always gets Anthropic's error shape, then the connection is closed.
 */
export function clientErrorHandler(onError: (reason: ProtocolErrorReason) => void) {
  return (error: NodeJS.ErrnoException, socket: Socket): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const answer = describe(error);
    onError(answer.reason);
    if (socket.writable) {
      const requestId = newRequestId();
      const body = JSON.stringify(errorBody(errorTypeForStatus(answer.status), answer.message, requestId));
      socket.write(
        `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\n` +
          `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
          `x-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}

function describe(error: NodeJS.ErrnoException): ProtocolError {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { status: 408, reason: 'timeout', message: 'The request did not arrive in time; the connection is closed.' };
  }
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return { status: 431, reason: 'header_overflow', message: 'The request headers are too large.' };
  }
  return { status: 400, reason: 'bad_request', message: 'The request is not valid HTTP/1.1.' };
}
