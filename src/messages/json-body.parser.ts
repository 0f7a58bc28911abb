import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../common/gateway-error';
import type { ServerLimits } from '../server/server-limits';
import { RequestBody, validJson } from './request-body';

/** The routes whose object bodies are forwarded as the client's bytes; every other route gets plain parsed JSON. */
const MESSAGE_ROUTES = /^\/v1\/messages(\/count_tokens)?(\?|$)/;

type PaceLimits = Pick<ServerLimits, 'bodyGraceMs' | 'minBodyBytesPerSecond' | 'deadlineCheckMs'>;

/**
 * Reads JSON bodies. On the message routes an object becomes a RequestBody (the client's bytes plus where each
 * top-level field is), so a passthrough request is forwarded exactly as sent and never decoded whole; anything else
 * is validated by the same scan and parsed as usual.
 * The size limit is read per request, so a reload that changes max_body_bytes applies at once; a body is refused as
 * soon as it passes the limit, not after it was read whole. A body that trickles in slower than the minimum rate, once
 * its grace is over, is refused too, and its connection closed: it would otherwise hold a socket for as long as the
 * sender likes.
 */
export function registerJsonBodyParser(fastify: FastifyInstance, maxBodyBytes: () => number, pace: PaceLimits): void {
  const parse = (
    request: FastifyRequest,
    payload: NodeJS.ReadableStream,
    done: (error: Error | null, body?: unknown) => void,
  ) => {
    const limit = maxBodyBytes();
    const tooLarge = () =>
      new GatewayError(
        413,
        'request_too_large',
        `Request body is larger than the ${limit} bytes this gateway accepts.`,
      );
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      done(tooLarge());
      payload.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    const fail = (error: Error) => {
      failed = true;
      clearTimeout(paceCheck);
      done(error);
    };
    const started = Date.now();
    const expected = Number.isFinite(declared) ? declared : Infinity;
    const checkPace = () => {
      const owed = Math.min(expected, ((Date.now() - started - pace.bodyGraceMs) / 1000) * pace.minBodyBytesPerSecond);
      if (size < owed) fail(tooSlow(size, pace));
      else paceCheck = setTimeout(checkPace, pace.deadlineCheckMs).unref();
    };
    let paceCheck = setTimeout(checkPace, pace.bodyGraceMs + pace.deadlineCheckMs).unref();
    payload.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        fail(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    payload.on('error', (error: Error) => {
      if (!failed) fail(error);
    });
    payload.on('end', () => {
      clearTimeout(paceCheck);
      if (failed) return;
      const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      try {
        done(null, readJson(raw, MESSAGE_ROUTES.test(request.url)));
      } catch (error) {
        done(GatewayError.invalidRequest(`The request body is not valid JSON: ${(error as Error).message}`));
      }
    });
  };
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('application/json', parse);
  fastify.addContentTypeParser('*', parse);
}

function tooSlow(received: number, pace: PaceLimits): GatewayError {
  return new GatewayError(
    408,
    'invalid_request_error',
    `The request body arrived too slowly (${received} bytes so far): after ${pace.bodyGraceMs / 1000} s a body must arrive at ${pace.minBodyBytesPerSecond} bytes per second or more.`,
    { connection: 'close' },
  );
}

/** Empty bodies are allowed here (POST /providers/reload has none); the message routes refuse them themselves. */
function readJson(raw: Buffer, keepBytes: boolean): unknown {
  const first = raw.findIndex((byte) => byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09);
  if (first === -1) return undefined;
  if (keepBytes && raw[first] === 0x7b) return RequestBody.scan(raw);
  // Validated by the same scan, so that every refusal names the byte where the body stops being JSON.
  validJson(raw);
  return JSON.parse(raw.toString('utf8')) as unknown;
}
