/**
 * `npm run bench`: how much the gateway adds to a Claude Code request, against the least any Node proxy adds.
 *
 * Starts a cheap fake Anthropic upstream in this process, writes a temp providers.yaml pointing at it, spawns the
 * built gateway (`node dist/main.js --config <tmp> --port <free port>`, stdout to /dev/null, access log at info to a
 * file) and a bare passthrough proxy (bench/passthrough.ts: node:http + one keep-alive undici Pool, no parsing), then
 * drives the same load at three targets for each case: DIRECT to the upstream, through the PASSTHROUGH, and through
 * the GATEWAY. It prints latency, throughput, the proxies' CPU per request (from /proc) and peak RSS, the gateway's
 * figures relative to the passthrough's, and PASS/FAIL lines for the budget (informational: the exit code is 1 only
 * when the bench itself could not complete).
 *
 * Cases: a Claude Code-sized body (~76 KB) and a small one, each JSON and streaming, at each BENCH_CONCURRENCY; plus
 * a long streaming answer (BENCH_LONG_DELTAS text deltas for a small request, chosen by the model name
 * `bench-deltas-<N>`, see fake-upstream.ts) at each BENCH_LONG_CONCURRENCY, to measure the per-event path; plus a
 * burst, `burst <N> streams`: N streaming requests with the small body opened in one tick, each on a new connection,
 * for the TTFB distribution (p50/p90/p99/max), the upstream streams open at once at peak, listen-queue overflows and
 * the proxies' CPU per new stream. Before the cases, it times the gateway's body validation on the Claude Code-sized
 * body in-process, beside decoding and parsing the same body.
 *
 * Env: BENCH_SECONDS (measured seconds per run, default 4), BENCH_REQUESTS (a fixed number of measured requests per
 * run instead), BENCH_WARMUP_SECONDS (default 1), BENCH_CONCURRENCY (default "1,32"), BENCH_SMALL=0 (skip the
 * small-body cases), BENCH_LONG_DELTAS (text deltas in the long answer, default 2000; 0 skips the long-answer
 * case), BENCH_LONG_CONCURRENCY (default "1,32"), BENCH_LOG_LEVEL (gateway log level, default info),
 * BENCH_GATEWAY_NODE_ARGS (node flags for the gateway after npm start's own, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"; summarise
 * the profile with `node -r esbuild-register bench/profile-summary.ts /tmp/prof/CPU.*.cpuprofile`),
 * BENCH_PASSTHROUGH_NODE_ARGS (the same for the passthrough proxy), BENCH_KEEP=1 (keep the temp dir with config and
 * log), BENCH_ONLY (run only the cases whose name contains this text, or any of several texts separated by commas,
 * e.g. "small 145B json c=32,small 145B stream c=32"), BENCH_GATEWAY_DIR (benchmark the dist/main.js of another
 * checkout, e.g. a `git archive` snapshot with node_modules linked; default: this project; the passthrough and the
 * bench itself are always this checkout's), BENCH_ASCII=1 (strip the body's non-ASCII characters), BENCH_BURST
 * (requests in the burst case, default 1000; 0 skips it; select it alone with BENCH_ONLY=burst), BENCH_BURST_HOLD_MS
 * (how long the fake upstream keeps each burst stream open after its first events, default 1000; 0 ends it at
 * once, and then no two upstream streams overlap for long enough to count), BENCH_BACKLOG (listen() backlog of the
 * fake upstream and the passthrough, default 4096, capped by the kernel at net.core.somaxconn; the gateway's is its
 * own: node's default 511 unless src/ passes one), BENCH_PASSTHROUGH_BACKLOG (the passthrough's alone, e.g. 511 to
 * see what the gateway's default does to the baseline), BENCH_STATE=redis (the gateway on settings.state.backend redis,
 * at REDIS_URL or 127.0.0.1:6379, to compare with the default memory backend), BENCH_LIMITS=1 (the bench's key as a
 * client with rpm, max_concurrency and both daily budgets set far above what the bench reaches, so every limit is
 * checked on every request).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { claudeCodeBody, claudeCodeHeaders, smallBody } from './claude-code-body';
import { longAnswerModel, startFakeUpstream, streamAnswerBytes } from './fake-upstream';
import { shippedNodeFlags } from '../test/support/gateway-process';
import { measureValidation } from './validation-cost';

const BENCH_CLIENT_KEY = 'sk-ant-bench-client-key';
import {
  type ChildServer,
  freePort,
  GATEWAY_DIR,
  type GatewayMetrics,
  type ListenCounters,
  listenBacklog,
  listenCounters,
  machineBusyMicros,
  PASSTHROUGH_SCRIPT,
  processCpuMicros,
  processCpuSplit,
  processMemory,
  scrapeMetrics,
  somaxconn,
  startGateway,
  startPassthrough,
  writeGatewayConfig,
} from './gateway-process';
import { type BurstStats, type LoadSpec, type RunLength, runBurst, runLoad } from './load';
import {
  type BurstResult,
  type BurstTargetRun,
  type CaseResult,
  type GatewayFigures,
  type GatewayRun,
  printReport,
  type ProcessFigures,
  type Report,
  type TargetRun,
} from './report';

interface Options {
  readonly measured: RunLength;
  readonly warmup: RunLength;
  readonly concurrencies: number[];
  readonly small: boolean;
  readonly longDeltas: number;
  readonly longConcurrencies: number[];
  readonly logLevel: string;
  readonly state: 'memory' | 'redis';
  readonly limits: boolean;
  readonly nodeArgs: string[];
  readonly passthroughNodeArgs: string[];
  readonly keep: boolean;
  readonly only: string[];
  readonly burst: number;
  readonly burstHoldMs: number;
  readonly backlog: number;
  readonly passthroughBacklog: number;
}

function readOptions(env: NodeJS.ProcessEnv): Options {
  const positive = (name: string, fallback: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
    return value;
  };
  const list = (name: string, fallback: string) =>
    (env[name] || fallback).split(',').map((part) => {
      const value = Number(part.trim());
      if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must list whole numbers, got "${part}"`);
      return value;
    });
  const requests = env.BENCH_REQUESTS ? Math.round(positive('BENCH_REQUESTS', 1)) : undefined;
  const measured: RunLength = requests !== undefined ? { requests } : { seconds: positive('BENCH_SECONDS', 4) };
  const warmup: RunLength =
    requests !== undefined && !env.BENCH_WARMUP_SECONDS
      ? { requests: Math.max(20, Math.round(requests / 10)) }
      : { seconds: positive('BENCH_WARMUP_SECONDS', 1) };
  const longDeltas = env.BENCH_LONG_DELTAS === '0' ? 0 : Math.round(positive('BENCH_LONG_DELTAS', 2000));
  const burst = env.BENCH_BURST === '0' ? 0 : Math.round(positive('BENCH_BURST', 1000));
  const burstHoldMs = env.BENCH_BURST_HOLD_MS === '0' ? 0 : Math.round(positive('BENCH_BURST_HOLD_MS', 1000));
  return {
    measured,
    warmup,
    concurrencies: list('BENCH_CONCURRENCY', '1,32'),
    small: env.BENCH_SMALL !== '0',
    longDeltas,
    longConcurrencies: list('BENCH_LONG_CONCURRENCY', '1,32'),
    logLevel: env.BENCH_LOG_LEVEL ?? 'info',
    state: env.BENCH_STATE === 'redis' ? 'redis' : 'memory',
    limits: env.BENCH_LIMITS === '1',
    // As shipped (npm start's node flags), then the extra ones.
    nodeArgs: [...shippedNodeFlags(GATEWAY_DIR), ...(env.BENCH_GATEWAY_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)],
    passthroughNodeArgs: (env.BENCH_PASSTHROUGH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
    keep: env.BENCH_KEEP === '1',
    only: (env.BENCH_ONLY ?? '')
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean),
    burst,
    burstHoldMs,
    backlog: Math.round(positive('BENCH_BACKLOG', 4096)),
    passthroughBacklog: Math.round(positive('BENCH_PASSTHROUGH_BACKLOG', positive('BENCH_BACKLOG', 4096))),
  };
}

interface CaseSpec {
  readonly name: string;
  readonly bodyName: string;
  readonly body: Buffer;
  readonly stream: boolean;
  readonly concurrency: number;
  readonly deltas: number;
  readonly long: boolean;
  /** For the long answer: fewer bytes than this means the upstream did not get the `bench-deltas-N` model. */
  readonly minResponseBytes?: number;
}

const DEFAULT_DELTAS = 10;

/** Which cases BENCH_ONLY selects (all when it is empty). */
const selected = (options: Options, name: string) =>
  options.only.length === 0 || options.only.some((text) => name.includes(text));

function caseList(options: Options): CaseSpec[] {
  const large = claudeCodeBody();
  const small = smallBody();
  const bodies = [{ name: `claude-code ${Math.round(large.streaming.length / 1000)}KB`, body: large }];
  if (options.small) bodies.push({ name: `small ${small.streaming.length}B`, body: small });
  const cases: CaseSpec[] = [];
  for (const { name, body } of bodies) {
    for (const stream of [false, true]) {
      for (const concurrency of options.concurrencies) {
        cases.push({
          name: `${name} ${stream ? 'stream' : 'json'} c=${concurrency}`,
          bodyName: name,
          body: stream ? body.streaming : body.nonStreaming,
          stream,
          concurrency,
          deltas: DEFAULT_DELTAS,
          long: false,
        });
      }
    }
  }
  if (options.longDeltas > 0) {
    const body = smallBody(longAnswerModel(options.longDeltas)).streaming;
    const bodyName = `long ${options.longDeltas} deltas`;
    for (const concurrency of options.longConcurrencies) {
      cases.push({
        name: `${bodyName} stream c=${concurrency}`,
        bodyName,
        body,
        stream: true,
        concurrency,
        deltas: options.longDeltas,
        long: true,
        minResponseBytes: Math.floor(streamAnswerBytes(options.longDeltas) * 0.9),
      });
    }
  }
  return cases.filter((c) => selected(options, c.name));
}

interface BurstSpec {
  readonly name: string;
  readonly bodyName: string;
  readonly body: Buffer;
  readonly stream: true;
  readonly streams: number;
  readonly minResponseBytes?: undefined;
}

function burstList(options: Options): BurstSpec[] {
  if (options.burst <= 0) return [];
  const body = smallBody().streaming;
  const spec: BurstSpec = {
    name: `burst ${options.burst} streams`,
    bodyName: `small ${body.length}B`,
    body,
    stream: true,
    streams: options.burst,
  };
  return selected(options, spec.name) ? [spec] : [];
}

/** After the burst's last stream and the client's connections are closed: time for a proxy's after-response work. */
const BURST_SETTLE_MS = 200;
/** A burst that has not finished by then is cut short (the rest counts as errors). */
const BURST_DEADLINE_MS = 120_000;

const listenDelta = (before?: ListenCounters, after?: ListenCounters): ListenCounters | undefined =>
  before && after
    ? {
        overflows: after.overflows - before.overflows,
        drops: after.drops - before.drops,
        synRetransmits: after.synRetransmits - before.synRetransmits,
      }
    : undefined;

/** Reads one target process's, all child servers' and the whole machine's CPU counters around a measured phase. */
class CpuWatch {
  private targetStart?: number;
  private targetEnd?: number;
  private childrenStart?: number;
  private childrenEnd?: number;
  private machineStart?: number;
  private machineEnd?: number;

  /** `target`: the process whose CPU is the figure (none for direct); `children`: every child server's pid. */
  constructor(
    private readonly target: number | undefined,
    private readonly children: number[],
  ) {}

  private childrenMicros(): number | undefined {
    let sum = 0;
    for (const pid of this.children) {
      const micros = processCpuMicros(pid);
      if (micros === undefined) return undefined;
      sum += micros;
    }
    return sum;
  }

  readonly start = () => {
    this.machineStart = machineBusyMicros();
    this.childrenStart = this.childrenMicros();
    if (this.target !== undefined) this.targetStart = processCpuMicros(this.target);
  };

  readonly end = () => {
    if (this.target !== undefined) this.targetEnd = processCpuMicros(this.target);
    this.childrenEnd = this.childrenMicros();
    this.machineEnd = machineBusyMicros();
  };

  targetMicros(): number | undefined {
    return this.targetStart !== undefined && this.targetEnd !== undefined
      ? this.targetEnd - this.targetStart
      : undefined;
  }

  /** Cores' worth of CPU that processes other than the bench and its child servers used during the measured phase. */
  othersCores(stats: { readonly benchCpuMicros: number; readonly seconds: number }): number | undefined {
    if (
      this.childrenStart === undefined ||
      this.childrenEnd === undefined ||
      this.machineStart === undefined ||
      this.machineEnd === undefined
    )
      return undefined;
    const others = this.machineEnd - this.machineStart - (this.childrenEnd - this.childrenStart) - stats.benchCpuMicros;
    return Math.max(0, others) / 1e6 / stats.seconds;
  }
}

function countLines(path: string): number {
  try {
    const text = readFileSync(path, 'utf8');
    let lines = 0;
    for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) lines++;
    return lines;
  } catch {
    return 0;
  }
}

type TargetName = 'direct' | 'passthrough' | 'gateway';

interface Target {
  readonly name: TargetName;
  readonly origin: string;
  /** The proxy's process (none for direct). */
  readonly server?: ChildServer;
  /** RSS after each of this target's runs. */
  readonly rssAfterRuns: number[];
  /** Requests sent to it, warm-up included. */
  sent: number;
}

function processFigures(target: Target, startRssMiB: number | undefined): ProcessFigures {
  const server = target.server!;
  const end = processMemory(server.pid);
  return {
    pid: server.pid,
    startRssMiB,
    peakRssMiB: end?.peakRssMiB,
    endRssMiB: end?.rssMiB,
    rssAfterRunsMiB: target.rssAfterRuns,
    exited: server.exited(),
    stderrTail: server.stderrTail().trim().split('\n').slice(-20).join('\n'),
  };
}

async function main(): Promise<number> {
  const options = readOptions(process.env);
  const cases = caseList(options);
  const bursts = burstList(options);
  const cleanups: { name: string; run: () => Promise<unknown> }[] = [];
  const children: ChildServer[] = [];

  const dir = mkdtempSync(join(tmpdir(), 'balancer-bench-'));
  // Never leave a child server behind: on any exit path of this process, the children go too (and, for SIGKILL of
  // the bench, each child's own watchdog, see gateway-process.ts).
  const killChildren = () => {
    for (const child of children) if (child.exited() === undefined) child.child.kill('SIGKILL');
  };
  process.on('exit', killChildren);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping the gateway and the passthrough\n`);
      killChildren();
      if (!options.keep) rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  }

  const configPath = join(dir, 'providers.yaml');
  const logFile = join(dir, 'logs', 'gateway.jsonl');

  const results: CaseResult[] = [];
  const burstResults: BurstResult[] = [];
  let fatal: string | undefined;
  let gatewayFigures: GatewayFigures | undefined;
  let passthroughFigures: ProcessFigures | undefined;
  try {
    const upstream = await startFakeUpstream({ backlog: options.backlog });
    cleanups.push({ name: 'fake upstream', run: () => upstream.close() });
    const passthroughPort = await freePort();
    const passthrough = await startPassthrough(
      upstream.url,
      passthroughPort,
      options.passthroughNodeArgs,
      options.passthroughBacklog,
    );
    children.push(passthrough);
    cleanups.push({ name: 'passthrough', run: () => passthrough.stop() });
    const port = await freePort();
    writeGatewayConfig(configPath, {
      limits: options.limits,
      clientKey: BENCH_CLIENT_KEY,
      upstreamUrl: upstream.url,
      port,
      logLevel: options.logLevel,
      logFile,
      state:
        options.state === 'redis'
          ? {
              backend: 'redis',
              url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
              prefix: `balancer-bench:${process.pid}:`,
            }
          : { backend: 'memory' },
    });
    const gateway = await startGateway(configPath, port, options.nodeArgs);
    children.push(gateway);
    cleanups.push({ name: 'gateway', run: () => gateway.stop() });
    const startRss = new Map(children.map((child) => [child.pid, processMemory(child.pid)?.rssMiB]));
    const pids = children.map((child) => child.pid);
    const headers = claudeCodeHeaders(BENCH_CLIENT_KEY);
    const targets: Target[] = [
      { name: 'direct', origin: upstream.url, rssAfterRuns: [], sent: 0 },
      { name: 'passthrough', origin: passthrough.url, server: passthrough, rssAfterRuns: [], sent: 0 },
      { name: 'gateway', origin: gateway.url, server: gateway, rssAfterRuns: [], sent: 0 },
    ];
    const [directTarget, passthroughTarget, gatewayTarget] = targets as [Target, Target, Target];

    process.stdout.write(
      `bench: upstream ${upstream.url}, passthrough ${passthrough.url} (pid ${passthrough.pid}, ${PASSTHROUGH_SCRIPT}), ` +
        `gateway ${gateway.url} (pid ${gateway.pid}, ${join(GATEWAY_DIR, 'dist', 'main.js')}), ` +
        `${cases.length + bursts.length} cases x {direct, passthrough, gateway}, ` +
        `${'seconds' in options.measured ? `${options.measured.seconds}s` : `${options.measured.requests} requests`} each\n`,
    );
    const validation = measureValidation(claudeCodeBody().nonStreaming);
    process.stdout.write(
      `validation of the ${(validation.bytes / 1024).toFixed(0)} KB body: ${validation.scanMicros.toFixed(0)} µs per body ` +
        `(the gateway's scan) vs ${validation.parseMicros.toFixed(0)} µs to decode and JSON.parse it ` +
        `(${(validation.scanMicros / validation.parseMicros).toFixed(2)}x)\n`,
    );
    // JIT warm-up of every path before the first measured case, so case order does not decide who looks slow.
    const warmUps: { bodyName: string; body: Buffer; stream: boolean; minResponseBytes?: number }[] = [
      ...cases,
      ...bursts,
    ];
    for (const spec of warmUps.filter(
      (c, i) => warmUps.findIndex((d) => d.stream === c.stream && d.bodyName === c.bodyName) === i,
    )) {
      for (const target of targets) {
        const warm = await runLoad({
          origin: target.origin,
          path: '/v1/messages?beta=true',
          headers,
          body: spec.body,
          stream: spec.stream,
          minResponseBytes: spec.minResponseBytes,
          concurrency: 8,
          warmup: { requests: 1 },
          measured: 'seconds' in options.warmup ? options.warmup : { seconds: 1 },
          abortReason: () => target.server?.exited(),
        });
        target.sent += warm.sent;
      }
    }

    for (const spec of cases) {
      const base: Omit<LoadSpec, 'origin'> = {
        path: '/v1/messages?beta=true',
        headers,
        body: spec.body,
        stream: spec.stream,
        minResponseBytes: spec.minResponseBytes,
        concurrency: spec.concurrency,
        warmup: options.warmup,
        measured: options.measured,
      };
      const run = async (target: Target): Promise<GatewayRun> => {
        const server = target.server;
        if (server?.exited() !== undefined) return { skipped: `${target.name} gone (${server.exited()})` };
        // The proxies idle during the other targets' runs, but their CPU is read anyway so "other processes" is exact.
        const watch = new CpuWatch(server?.pid, pids);
        const servedBefore = upstream.served();
        const scrape = target.name === 'gateway';
        let metricsBefore: GatewayMetrics | undefined;
        let metricsAfter: GatewayMetrics | undefined;
        const stats = await runLoad({
          ...base,
          origin: target.origin,
          // /metrics is scraped outside the CPU window, so the scrape's own cost is not counted.
          onMeasureStart: async () => {
            if (scrape) metricsBefore = await scrapeMetrics(target.origin);
            watch.start();
          },
          onMeasureEnd: async () => {
            watch.end();
            if (scrape) metricsAfter = await scrapeMetrics(target.origin);
          },
          abortReason: () => server?.exited(),
        });
        target.sent += stats.sent;
        const upstreamCalls = upstream.served() - servedBefore;
        if (upstreamCalls !== stats.sent) {
          stats.errorSamples.push(`the upstream saw ${upstreamCalls} calls for ${stats.sent} client requests`);
        }
        if (server) {
          const memory = processMemory(server.pid);
          if (memory) target.rssAfterRuns.push(memory.rssMiB);
        }
        const cpuMicros = watch.targetMicros();
        const answered = Math.max(1, stats.requests + stats.errors);
        const gcMicros =
          metricsBefore && metricsAfter ? (metricsAfter.gcSeconds - metricsBefore.gcSeconds) * 1e6 : undefined;
        return {
          stats,
          cpuMicrosPerRequest: cpuMicros === undefined ? undefined : cpuMicros / answered,
          cpuShare: cpuMicros === undefined ? undefined : cpuMicros / 1e6 / stats.seconds,
          otherProcessesCores: watch.othersCores(stats),
          gcMicrosPerRequest: gcMicros === undefined ? undefined : gcMicros / answered,
          heap: metricsAfter,
        };
      };
      const direct: TargetRun = await run(directTarget);
      const passthroughRun: TargetRun = await run(passthroughTarget);
      const gatewayRun = await run(gatewayTarget);
      results.push({
        name: spec.name,
        body: spec.bodyName,
        bodyBytes: spec.body.length,
        stream: spec.stream,
        concurrency: spec.concurrency,
        deltas: spec.deltas,
        long: spec.long,
        direct,
        passthrough: passthroughRun,
        gateway: gatewayRun,
      });
      const rps = (r: TargetRun) =>
        r.stats
          ? `${r.stats.rps.toFixed(0).padStart(6)} req/s${r.stats.errors ? ` (${r.stats.errors} errors)` : ''}`
          : (r.skipped ?? 'not run');
      const share =
        passthroughRun.stats && gatewayRun.stats
          ? `  ${(gatewayRun.stats.rps / passthroughRun.stats.rps).toFixed(2)}× pt`
          : '';
      process.stdout.write(
        `  ${spec.name.padEnd(32)} direct ${rps(direct)}   passthrough ${rps(passthroughRun)}   gateway ${rps(gatewayRun)}${share}\n`,
      );
    }

    for (const spec of bursts) {
      const runBurstAt = async (target: Target): Promise<BurstTargetRun> => {
        const server = target.server;
        if (server?.exited() !== undefined) return { skipped: `${target.name} gone (${server.exited()})` };
        const watch = new CpuWatch(server?.pid, pids);
        const scrape = target.name === 'gateway';
        const metricsBefore = scrape ? await scrapeMetrics(target.origin) : undefined;
        upstream.holdStreams(options.burstHoldMs);
        upstream.resetPeakOpen();
        const servedBefore = upstream.served();
        const connectionsBefore = upstream.connections();
        const listenBefore = listenCounters();
        const windowStart = performance.now();
        const benchCpuBefore = process.cpuUsage();
        const splitBefore = server ? processCpuSplit(server.pid) : undefined;
        const mainBefore = server ? processCpuSplit(server.pid, true) : undefined;
        watch.start();
        let stats: BurstStats;
        try {
          stats = await runBurst({
            origin: target.origin,
            path: '/v1/messages?beta=true',
            headers,
            body: spec.body,
            stream: true,
            streams: spec.streams,
            deadlineMs: BURST_DEADLINE_MS,
          });
          // The proxy's work after a stream's last byte (access log line, metrics) belongs to the stream.
          await sleep(BURST_SETTLE_MS);
        } finally {
          upstream.holdStreams(0);
        }
        watch.end();
        const splitAfter = server ? processCpuSplit(server.pid) : undefined;
        const mainAfter = server ? processCpuSplit(server.pid, true) : undefined;
        const benchCpu = process.cpuUsage(benchCpuBefore);
        const windowSeconds = (performance.now() - windowStart) / 1000;
        const listen = listenDelta(listenBefore, listenCounters());
        const metricsAfter = scrape ? await scrapeMetrics(target.origin) : undefined;
        target.sent += spec.streams;
        const memory = server ? processMemory(server.pid) : undefined;
        if (memory) target.rssAfterRuns.push(memory.rssMiB);
        const cpuMicros = watch.targetMicros();
        return {
          stats,
          upstreamPeakOpen: upstream.peakOpen(),
          upstreamConnections: upstream.connections() - connectionsBefore,
          upstreamCalls: upstream.served() - servedBefore,
          listen,
          cpuMicros,
          cpuMicrosPerStream: cpuMicros === undefined ? undefined : cpuMicros / spec.streams,
          systemMicros: splitBefore && splitAfter ? splitAfter.systemMicros - splitBefore.systemMicros : undefined,
          mainThreadMicros:
            mainBefore && mainAfter
              ? mainAfter.userMicros + mainAfter.systemMicros - mainBefore.userMicros - mainBefore.systemMicros
              : undefined,
          gcMicrosPerStream:
            metricsBefore && metricsAfter
              ? ((metricsAfter.gcSeconds - metricsBefore.gcSeconds) * 1e6) / spec.streams
              : undefined,
          rssAfterMiB: memory?.rssMiB,
          otherProcessesCores: watch.othersCores({
            benchCpuMicros: benchCpu.user + benchCpu.system,
            seconds: windowSeconds,
          }),
        };
      };
      const direct = await runBurstAt(directTarget);
      const passthroughRun = await runBurstAt(passthroughTarget);
      const gatewayRun = await runBurstAt(gatewayTarget);
      burstResults.push({
        name: spec.name,
        streams: spec.streams,
        bodyBytes: spec.body.length,
        holdMs: options.burstHoldMs,
        backlogs: {
          upstream: listenBacklog(upstream.port),
          passthrough: listenBacklog(passthroughPort),
          gateway: listenBacklog(port),
        },
        somaxconn: somaxconn(),
        direct,
        passthrough: passthroughRun,
        gateway: gatewayRun,
      });
      const p50 = (r: BurstTargetRun) =>
        r.stats
          ? `TTFB p50 ${r.stats.ttfb.p50Ms.toFixed(1).padStart(6)} ms, max ${r.stats.ttfb.maxMs.toFixed(0).padStart(5)} ms` +
            (r.stats.errors ? ` (${r.stats.errors} errors)` : '')
          : (r.skipped ?? 'not run');
      process.stdout.write(
        `  ${spec.name.padEnd(32)} direct ${p50(direct)}   passthrough ${p50(passthroughRun)}   gateway ${p50(gatewayRun)}\n`,
      );
    }

    gatewayFigures = {
      ...processFigures(gatewayTarget, startRss.get(gateway.pid)),
      logLevel: options.logLevel,
      logFile,
      logLines: countLines(logFile),
      requestsSent: gatewayTarget.sent,
    };
    passthroughFigures = processFigures(passthroughTarget, startRss.get(passthrough.pid));
    const gone = children.filter((child) => child.exited() !== undefined);
    if (gone.length > 0) {
      fatal = gone
        .map((child) => `${child === gateway ? 'the gateway' : 'the passthrough'} process died (${child.exited()})`)
        .join('; ');
    }
  } catch (error) {
    fatal = error instanceof Error ? (error.stack ?? error.message) : String(error);
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        const outcome = await cleanup.run();
        if (typeof outcome === 'string') {
          if (cleanup.name === 'gateway' && gatewayFigures) gatewayFigures.shutdown = outcome;
          if (cleanup.name === 'passthrough' && passthroughFigures) passthroughFigures.shutdown = outcome;
        }
      } catch (error) {
        process.stderr.write(`bench: closing the ${cleanup.name} failed: ${String(error)}\n`);
      }
    }
  }

  const report: Report = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}`,
    measured: options.measured,
    warmup: options.warmup,
    cases: results,
    bursts: burstResults,
    gateway: gatewayFigures,
    passthrough: passthroughFigures,
    fatal,
  };
  const outcome = printReport(report);
  const resultsPath = join(tmpdir(), 'claude-balancer-bench-latest.json');
  writeFileSync(resultsPath, `${JSON.stringify({ ...report, budget: outcome.budget }, null, 2)}\n`);
  process.stdout.write(`Results JSON: ${resultsPath}\n`);
  if (options.keep || outcome.problems || fatal) {
    process.stdout.write(`Config and gateway log kept in ${dir}\n`);
  } else {
    rmSync(dir, { recursive: true, force: true });
  }
  if (fatal) {
    process.stdout.write(`\nBENCH FAILED TO COMPLETE: ${fatal}\n`);
    return 1;
  }
  return 0;
}

main()
  .then((code) => {
    process.exitCode = code;
  })
  .catch((error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  });
