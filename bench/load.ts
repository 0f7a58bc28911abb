import { performance } from 'node:perf_hooks';
import { type Dispatcher, Pool } from 'undici';
import { SEQUENCE_MARKER } from './claude-code-body';

/** How long a run lasts: a fixed number of requests, or a fixed time. */
export type RunLength = { readonly requests: number } | { readonly seconds: number };

/** What each request of a run sends, and what counts as a complete answer. */
export interface RequestShape {
  readonly origin: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  /** The body template; SEQUENCE_MARKER in it is overwritten per request so no two requests are identical. */
  readonly body: Buffer;
  readonly stream: boolean;
  /** A complete answer shorter than this is counted as an error (to catch a long answer that came back short). */
  readonly minResponseBytes?: number;
}

export interface LoadSpec extends RequestShape {
  readonly concurrency: number;
  readonly warmup: RunLength;
  readonly measured: RunLength;
  /** Called right before and right after the measured phase (to read counters exactly around it). */
  readonly onMeasureStart?: () => void | Promise<void>;
  readonly onMeasureEnd?: () => void | Promise<void>;
  /** Gives up early when this returns a reason (e.g. the gateway process died). */
  readonly abortReason?: () => string | undefined;
}

export interface LoadStats {
  /** Requests sent in warm-up and measured phase together (for cross-checking the upstream and the access log). */
  readonly sent: number;
  readonly requests: number;
  readonly errors: number;
  readonly errorSamples: string[];
  readonly seconds: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly ttfbP50Ms: number;
  readonly ttfbP99Ms: number;
  /** CPU time of this process (load generator + fake upstream) per measured request. */
  readonly benchCpuMicrosPerRequest: number;
  /** The same, in total over the measured phase. */
  readonly benchCpuMicros: number;
}

/** What one request needs to know (a LoadSpec or a BurstSpec). */
type RequestSpec = Pick<LoadSpec, 'origin' | 'path' | 'headers' | 'stream' | 'minResponseBytes'>;

interface Timing {
  readonly ttfb: number;
  readonly total: number;
}

const TAIL_BYTES = 96;
const STREAM_END = 'event: message_stop';
const REQUEST_TIMEOUT_MS = 60_000;

class RequestFailed extends Error {}

/** One request through undici's low-level dispatch (no stream objects), timing headers, first body chunk and end. */
function timedRequest(pool: Dispatcher, spec: RequestSpec, body: Buffer): Promise<Timing> {
  const started = performance.now();
  return new Promise<Timing>((resolve, reject) => {
    let status = 0;
    let headersAt = 0;
    let firstChunkAt = 0;
    let tail = '';
    let bytes = 0;
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart: () => undefined,
      onResponseStart: (_controller, statusCode) => {
        status = statusCode;
        headersAt = performance.now();
      },
      onResponseData: (_controller, chunk: Buffer) => {
        if (firstChunkAt === 0) firstChunkAt = performance.now();
        bytes += chunk.length;
        tail = (tail + chunk.toString('latin1', Math.max(0, chunk.length - TAIL_BYTES))).slice(-TAIL_BYTES);
      },
      onResponseEnd: () => {
        const ended = performance.now();
        if (status !== 200) {
          reject(new RequestFailed(`HTTP ${status}: ${tail.trim()}`));
          return;
        }
        const complete = spec.stream
          ? tail.includes(STREAM_END) && !tail.includes('event: error')
          : tail.trimEnd().endsWith('}');
        if (!complete) {
          reject(
            new RequestFailed(
              `incomplete ${spec.stream ? 'stream' : 'JSON body'} (${bytes} bytes, ends with ${JSON.stringify(tail)})`,
            ),
          );
          return;
        }
        if (spec.minResponseBytes !== undefined && bytes < spec.minResponseBytes) {
          reject(new RequestFailed(`short answer: ${bytes} bytes, expected at least ${spec.minResponseBytes}`));
          return;
        }
        const ttfbAt = spec.stream ? firstChunkAt : headersAt;
        resolve({ ttfb: ttfbAt - started, total: ended - started });
      },
      onResponseError: (_controller, error: Error) => reject(error),
    };
    pool.dispatch(
      {
        origin: spec.origin,
        path: spec.path,
        method: 'POST',
        headers: spec.headers,
        body,
        headersTimeout: REQUEST_TIMEOUT_MS,
        bodyTimeout: REQUEST_TIMEOUT_MS,
      },
      handler,
    );
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

let sequence = 0;

/** Runs the warm-up, then the measured phase, with `concurrency` requests in flight at all times. */
export async function runLoad(spec: LoadSpec): Promise<LoadStats> {
  const markerAt = spec.body.indexOf(SEQUENCE_MARKER);
  if (markerAt === -1) throw new Error('the body template has no sequence marker');
  const digitsAt = markerAt + SEQUENCE_MARKER.length - 12;
  // One body buffer per worker: a worker rewrites its sequence number only after its previous request finished.
  const bodies = Array.from({ length: spec.concurrency }, () => Buffer.from(spec.body));
  const pool = new Pool(spec.origin, {
    connections: spec.concurrency,
    pipelining: 1,
    keepAliveTimeout: 120_000,
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
  });

  const phase = async (length: RunLength, record: boolean) => {
    const latencies: number[] = [];
    const ttfbs: number[] = [];
    const errorSamples: string[] = [];
    let errors = 0;
    let succeeded = 0;
    let issued = 0;
    let abort: string | undefined;
    const started = performance.now();
    const endAt = 'seconds' in length ? started + length.seconds * 1000 : Infinity;
    const more = () => {
      if (abort !== undefined) return false;
      if ('requests' in length) return issued < length.requests;
      return performance.now() < endAt;
    };
    const worker = async (body: Buffer) => {
      while (more()) {
        issued++;
        body.write(String(sequence++ % 1e12).padStart(12, '0'), digitsAt, 'latin1');
        try {
          const timing = await timedRequest(pool, spec, body);
          succeeded++;
          if (record) {
            latencies.push(timing.total);
            ttfbs.push(timing.ttfb);
          }
        } catch (error) {
          errors++;
          const message = error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error);
          if (errorSamples.length < 5 && !errorSamples.includes(message)) errorSamples.push(message);
          abort =
            spec.abortReason?.() ??
            (errors >= 200 && succeeded === 0 ? 'the first 200 requests all failed' : undefined);
          if (abort !== undefined) errorSamples.push(`aborted: ${abort}`);
        }
      }
    };
    await Promise.all(bodies.map(worker));
    const seconds = (performance.now() - started) / 1000;
    return { latencies, ttfbs, errors, errorSamples, seconds, issued, aborted: abort };
  };

  try {
    const warm = await phase(spec.warmup, false);
    if (warm.aborted !== undefined)
      throw new Error(`warm-up aborted: ${warm.aborted}\n${warm.errorSamples.join('\n')}`);
    await spec.onMeasureStart?.();
    const cpuBefore = process.cpuUsage();
    const run = await phase(spec.measured, true);
    const cpu = process.cpuUsage(cpuBefore);
    await spec.onMeasureEnd?.();
    const latencies = Float64Array.from(run.latencies).sort();
    const ttfbs = Float64Array.from(run.ttfbs).sort();
    const total = run.latencies.length + run.errors;
    return {
      sent: warm.issued + run.issued,
      requests: run.latencies.length,
      errors: run.errors + warm.errors,
      errorSamples: [...warm.errorSamples, ...run.errorSamples].slice(0, 6),
      seconds: run.seconds,
      rps: run.latencies.length / run.seconds,
      p50Ms: percentile(latencies, 0.5),
      p90Ms: percentile(latencies, 0.9),
      p99Ms: percentile(latencies, 0.99),
      maxMs: latencies.length > 0 ? latencies[latencies.length - 1]! : NaN,
      ttfbP50Ms: percentile(ttfbs, 0.5),
      ttfbP99Ms: percentile(ttfbs, 0.99),
      benchCpuMicrosPerRequest: total > 0 ? (cpu.user + cpu.system) / total : NaN,
      benchCpuMicros: cpu.user + cpu.system,
    };
  } finally {
    await pool.close().catch(() => undefined);
  }
}

export interface BurstSpec extends RequestShape {
  /** How many requests to open at once, each on a connection of its own. */
  readonly streams: number;
  /** The whole burst gives up (the pool is destroyed, what is left counts as errors) after this long. */
  readonly deadlineMs: number;
}

export interface Distribution {
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface BurstStats {
  readonly streams: number;
  /** Streams that ended complete with 200. */
  readonly ok: number;
  readonly errors: number;
  readonly errorSamples: string[];
  /** How long this process took to dispatch all of them (the same at every target: undici's and node's side). */
  readonly dispatchMs: number;
  /** First dispatch to the last stream's end (or failure). */
  readonly wallMs: number;
  /** Dispatch of each request to its first body chunk (stream) or headers (json). */
  readonly ttfb: Distribution;
  /** Dispatch of each request to its end. */
  readonly total: Distribution;
  /** The client's connections to the target right after the burst (undici Pool stats: should be `streams`). */
  readonly clientConnections: number;
  /** CPU time of this process (load generator + fake upstream) over the burst, pool close included. */
  readonly benchCpuMicros: number;
}

function distribution(values: number[]): Distribution {
  const sorted = Float64Array.from(values).sort();
  return {
    p50Ms: percentile(sorted, 0.5),
    p90Ms: percentile(sorted, 0.9),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted.length > 0 ? sorted[sorted.length - 1]! : NaN,
  };
}

/**
 * Opens `streams` requests in the same tick on a fresh undici Pool (connections = streams, pipelining 1, no
 * warm connection), so every request is a new TCP connection to the target too: the burst includes the target's
 * accept queue (listen backlog) and its per-connection setup. Resolves when every request has ended or failed, or at
 * the deadline; the pool (and so every connection) is closed before it resolves.
 */
export async function runBurst(spec: BurstSpec): Promise<BurstStats> {
  const markerAt = spec.body.indexOf(SEQUENCE_MARKER);
  if (markerAt === -1) throw new Error('the body template has no sequence marker');
  const digitsAt = markerAt + SEQUENCE_MARKER.length - 12;
  const bodies = Array.from({ length: spec.streams }, () => {
    const body = Buffer.from(spec.body);
    body.write(String(sequence++ % 1e12).padStart(12, '0'), digitsAt, 'latin1');
    return body;
  });
  const pool = new Pool(spec.origin, {
    connections: spec.streams,
    pipelining: 1,
    keepAliveTimeout: 120_000,
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
    // SYNs a full accept queue dropped are sent again after 1 s, 3 s, 7 s ...: that is latency, not an error.
    connect: { timeout: REQUEST_TIMEOUT_MS },
  });
  const ttfbs: number[] = [];
  const totals: number[] = [];
  const errorSamples: string[] = [];
  let errors = 0;
  let deadline: NodeJS.Timeout | undefined;
  let clientConnections = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  try {
    const requests = bodies.map((body) =>
      timedRequest(pool, spec, body).then(
        (timing) => {
          ttfbs.push(timing.ttfb);
          totals.push(timing.total);
        },
        (error: unknown) => {
          errors++;
          const message = error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error);
          if (errorSamples.length < 5 && !errorSamples.includes(message)) errorSamples.push(message);
        },
      ),
    );
    const dispatchMs = performance.now() - started;
    const timedOut = new Promise<'deadline'>((resolve) => {
      deadline = setTimeout(() => resolve('deadline'), spec.deadlineMs);
    });
    const outcome = await Promise.race([Promise.all(requests).then(() => 'done' as const), timedOut]);
    if (outcome === 'deadline') {
      errorSamples.push(`the burst did not finish within ${spec.deadlineMs} ms`);
      await pool.destroy(new Error('burst deadline')).catch(() => undefined);
      await Promise.all(requests);
    }
    const wallMs = performance.now() - started;
    clientConnections = pool.stats.connected;
    await pool.close().catch(() => undefined);
    const cpu = process.cpuUsage(cpuBefore);
    return {
      streams: spec.streams,
      ok: ttfbs.length,
      errors,
      errorSamples,
      dispatchMs,
      wallMs,
      ttfb: distribution(ttfbs),
      total: distribution(totals),
      clientConnections,
      benchCpuMicros: cpu.user + cpu.system,
    };
  } finally {
    clearTimeout(deadline);
    if (!pool.closed && !pool.destroyed) await pool.destroy().catch(() => undefined);
  }
}
