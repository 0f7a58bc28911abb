/**
 * The bench's baseline proxy: the least a Node gateway in front of the upstream can do. A bare node:http server that
 * forwards POST .../v1/messages to the upstream through one keep-alive undici Pool, streaming the request body up and
 * piping the response body straight back (SSE included), keeping the status and content-type (and content-length,
 * when the upstream sent one). No body is parsed or buffered, nothing is logged or counted. GET /health/live answers 200.
 *
 * Run as its own process so its CPU and RSS can be read from /proc, like the gateway's:
 *   node -r esbuild-register bench/passthrough.ts --upstream http://127.0.0.1:PORT --port N [--backlog N]
 * run.ts starts and stops it (SIGTERM: close and exit 0). --backlog is listen()'s (node's default 511; the kernel
 * caps it at net.core.somaxconn); the bench passes BENCH_BACKLOG so a burst of new connections is not dropped here.
 */
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { Pool } from 'undici';

/** Request headers that describe this hop only; undici refuses some of them, and sets host itself. */
const HOP_BY_HOP = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
]);
const NOT_FOUND = Buffer.from('{"type":"error","error":{"type":"not_found_error","message":"bench passthrough"}}');

function argument(name: string, optional = false): string | undefined {
  const at = process.argv.indexOf(name);
  const value = at === -1 ? undefined : process.argv[at + 1];
  if (!value && !optional)
    throw new Error(`usage: passthrough.ts --upstream URL --port N [--backlog N] (missing ${name})`);
  return value;
}

const upstream = argument('--upstream')!;
const port = Number(argument('--port'));
const backlogArgument = argument('--backlog', true);
const backlog = backlogArgument === undefined ? undefined : Number(backlogArgument);
const pool = new Pool(upstream, {
  pipelining: 1,
  keepAliveTimeout: 120_000,
  headersTimeout: 60_000,
  bodyTimeout: 60_000,
});

function fail(res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = Buffer.from(
    JSON.stringify({ type: 'error', error: { type: 'api_error', message: `bench passthrough: ${String(error)}` } }),
  );
  res.writeHead(502, { 'content-type': 'application/json', 'content-length': text.length });
  res.end(text);
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  if (req.method === 'GET' && path === '/health/live') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
    res.end('ok');
    return;
  }
  if (req.method !== 'POST' || !path.endsWith('/v1/messages')) {
    req.resume();
    res.writeHead(404, { 'content-type': 'application/json', 'content-length': NOT_FOUND.length });
    res.end(NOT_FOUND);
    return;
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  pool.request({ path: url, method: 'POST', headers, body: req }).then(
    (response) => {
      const out: OutgoingHttpHeaders = {};
      const type = response.headers['content-type'];
      if (type !== undefined) out['content-type'] = type;
      const length = response.headers['content-length'];
      if (typeof length === 'string') out['content-length'] = length;
      res.writeHead(response.statusCode, out);
      // pipe() rather than stream.pipeline(): on Node 20 pipeline() costs an AbortController and a DOMException
      // (with its stack trace) per call, ~10% of this proxy's CPU; the baseline should be the cheap way.
      const body = response.body;
      body.on('error', () => res.destroy());
      res.on('close', () => {
        if (!body.readableEnded) body.destroy();
      });
      body.pipe(res);
    },
    (error: unknown) => {
      req.resume();
      fail(res, error);
    },
  );
}

const server = createServer({ keepAliveTimeout: 120_000, requestTimeout: 0, noDelay: true }, handle);
server.keepAliveTimeout = 120_000;
server.listen({ port, host: '127.0.0.1', backlog });

// The orphan watchdog the gateway gets as a preload (see gateway-process.ts): exit when the bench is gone.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, 'SIGTERM');
}, 1000).unref();

process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void pool.destroy().finally(() => process.exit(0));
});
