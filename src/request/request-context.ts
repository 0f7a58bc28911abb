import type { ClientConfig } from '../config/gateway-config';
import type { GatewayRuntime } from '../config/gateway-runtime';
import type { DedupTicket } from '../dedup/dedup-ticket';
import type { MessageRequest } from '../messages/message-request';
import type { TokenUsage } from '../messages/token-usage';

/** What the access line says beyond method, path, status and duration; filled in as the request runs. */
export interface AccessFields {
  client?: string;
  model?: string;
  stream?: boolean;
  provider?: string;
  attempts?: number;
  failed_providers?: string[];
  tokens?: TokenUsage;
  dedup?: string;
  error?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set for every request by the lifecycle hook, before anything else runs. */
    gateway: RequestContext;
  }
}

type FinishHook = (context: RequestContext) => void;

/**
 * Everything one request carries from its first byte to its end: built once when the request arrives and passed
 * down, so no part of the gateway derives it again. The config snapshot is taken here and kept to the end, which is
 * what makes a reload atomic for requests in flight.
 */
export class RequestContext {
  readonly fields: AccessFields = {};
  client?: ClientConfig;
  /** The gateway key the client authenticated with: never forwarded upstream. */
  clientKey?: string;
  /** The validated request, once a message route has accepted the body. */
  message?: MessageRequest;
  dedup?: DedupTicket;
  /** The provider that answered, for metrics ("none" while there is none). */
  provider = 'none';
  /**
   * The model label of the request metrics: "none" until the body is accepted (so that callers cannot mint series
   * with invented names), "unrouted" when no route knows the model.
   */
  modelLabel = 'none';
  /** Set when the outcome is not the HTTP status: a stream that failed after it started. */
  statusLabel?: 'stream_error';
  firstByteAt?: number;
  /** True while the request counts in balancer_inflight_requests. */
  serving = false;
  private readonly hooks: FinishHook[] = [];
  private finished = false;

  constructor(
    readonly id: string,
    readonly runtime: GatewayRuntime,
    /** Date.now() when the request arrived. */
    readonly receivedAt: number,
    /** POST /v1/messages: the requests balancer_requests_total counts. */
    readonly isMessages: boolean,
  ) {}

  get clientName(): string {
    return this.client?.name ?? 'anonymous';
  }

  markFirstByte(): void {
    this.firstByteAt ??= Date.now();
  }

  /** Runs once when the request has ended, however it ended (answered, refused, failed, or the client left). */
  onFinish(hook: FinishHook): void {
    if (this.finished) hook(this);
    else this.hooks.push(hook);
  }

  /** Called by the finisher only. Returns false when the request had already ended. */
  end(): boolean {
    if (this.finished) return false;
    this.finished = true;
    for (const hook of this.hooks.splice(0)) hook(this);
    return true;
  }
}
