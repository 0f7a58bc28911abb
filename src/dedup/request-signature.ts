import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestBody } from '../messages/request-body';

export interface SignatureOptions {
  readonly includeMaxTokens: boolean;
}

/** Headers that change the answer: the API version and the beta features. */
const ANSWER_HEADERS = ['anthropic-version', 'anthropic-beta'] as const;

/**
 * Identifies requests that would get the same answer: every body field but `stream` (so a streaming request and its
 * non-streaming retry share one signature) and, unless configured, `max_tokens`; the version and beta headers; and
 * the calling client, so teammates never share answers. Top-level keys are sorted because clients add `stream` and
 * other fields in different places; each value is hashed as the bytes the client sent, never re-serialised.
 */
export function requestSignature(
  body: RequestBody,
  headers: IncomingHttpHeaders,
  scope: string,
  options: SignatureOptions,
): string {
  const hash = createHash('sha256');
  hash.update(scope).update('\n');
  for (const name of ANSWER_HEADERS) {
    const value = headers[name];
    hash.update(Array.isArray(value) ? value.join(',') : (value ?? '')).update('\n');
  }
  for (const key of body.keys().sort()) {
    if (key === 'stream' || (key === 'max_tokens' && !options.includeMaxTokens)) continue;
    hash.update(key).update('\u0000').update(body.rawValue(key)!).update('\n');
  }
  return hash.digest('hex');
}
