import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody, errorTypeForStatus } from '../common/gateway-error';

/** Longest path segment the router matches: an account's email, percent-encoded, fits with room to spare. */
export const MAX_PATH_SEGMENT = 1024;

/**
 * Fastify's router refuses some URLs before any route (and so before Nest's exception filter) runs: a path whose
 * percent-encoding does not decode, or a path segment past {@link MAX_PATH_SEGMENT}. They get Anthropic's error shape
 * like every other refusal; the path itself is not echoed back.
 */
export function answerRouterError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const status = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : 400;
  const message =
    status === 414
      ? `A segment of the URL's path is longer than ${MAX_PATH_SEGMENT} characters.`
      : "The URL's path is not valid: a percent-encoded byte in it does not decode.";
  void reply
    .code(status)
    .header('x-request-id', request.id)
    .type('application/json')
    .send(errorBody(errorTypeForStatus(status), message, request.id));
}
