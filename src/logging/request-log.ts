import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TokenUsage } from '../messages/token-usage';

/** What the access-log line for a request says beyond method, path and status; filled in as the request runs. */
export interface RequestLog {
  client?: string;
  model?: string;
  stream?: boolean;
  provider?: string;
  attempts?: number;
  failed_providers?: string[];
  tokens?: TokenUsage;
  dedup?: string;
  error?: string;
  /** Internal: the request was already counted in balancer_requests_total (never logged). */
  counted?: boolean;
}

declare module 'http' {
  interface IncomingMessage {
    gatewayRequestId?: string;
    gatewayLog?: RequestLog;
  }
}

const CLIENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The client's x-request-id when it is sane, else a new `req_…` id; stable for the life of the request. */
export function requestIdOf(req: IncomingMessage): string {
  if (req.gatewayRequestId) return req.gatewayRequestId;
  const sent = req.headers['x-request-id'];
  const id = typeof sent === 'string' && CLIENT_ID.test(sent) ? sent : `req_${randomUUID().replaceAll('-', '')}`;
  req.gatewayRequestId = id;
  return id;
}

export function requestLogOf(req: IncomingMessage): RequestLog {
  return (req.gatewayLog ??= {});
}
