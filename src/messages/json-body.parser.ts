import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../common/gateway-error';

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: Buffer;
  }
}

/**
 * Parses JSON bodies and keeps the raw bytes, so a passthrough request is forwarded exactly as the client sent it.
 * The size limit is read per request, so a reload that changes max_body_bytes applies at once; a body is refused as
 * soon as it passes the limit, not after it was read whole.
 */
export function registerJsonBodyParser(fastify: FastifyInstance, maxBodyBytes: () => number): void {
  const parse = (request: FastifyRequest, payload: NodeJS.ReadableStream, done: (error: Error | null, body?: unknown) => void) => {
    const limit = maxBodyBytes();
    const tooLarge = () =>
      new GatewayError(413, 'request_too_large', `Request body is larger than the ${limit} bytes this gateway accepts.`);
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      done(tooLarge());
      payload.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    payload.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        done(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    payload.on('error', (error: Error) => {
      if (!failed) {
        failed = true;
        done(error);
      }
    });
    payload.on('end', () => {
      if (failed) return;
      const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      // Bodyless POSTs (`curl -X POST -d ''` to /providers/reload) are fine; routes that need a body say so.
      if (raw.length === 0) {
        done(null, undefined);
        return;
      }
      try {
        const body: unknown = JSON.parse(raw.toString('utf8'));
        request.rawBody = raw;
        done(null, body);
      } catch (error) {
        done(GatewayError.invalidRequest(`The request body is not valid JSON: ${(error as Error).message}`));
      }
    });
  };
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('application/json', parse);
  fastify.addContentTypeParser('*', parse);
}
