/**
 * `npm run bench`: how much the gateway adds to a Claude Code request.
 *
 * Starts a cheap fake Anthropic upstream in this process, writes a temp providers.yaml pointing at it, spawns the
 * built gateway (`node dist/main.js --config <tmp> --port <free port>`, stdout to /dev/null, access log at info to a
 * file), then drives the same load DIRECT to the upstream and THROUGH the gateway for each case, and prints
 * latency, throughput, the gateway's CPU per request and its peak RSS, with PASS/FAIL lines for the budget.
 *
 * Env: BENCH_SECONDS (measured seconds per run, default 4), BENCH_REQUESTS (a fixed number of measured requests per
 * run instead), BENCH_WARMUP_SECONDS (default 1), BENCH_CONCURRENCY (default "1,64"), BENCH_SMALL=0 (skip the
 * small-body cases), BENCH_LOG_LEVEL (gateway log level, default info), BENCH_GATEWAY_NODE_ARGS (extra node flags for
 * the gateway, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"), BENCH_KEEP=1 (keep the temp dir with config and log),
 * BENCH_ONLY (run only the cases whose name contains this text, e.g. "json c=64"), BENCH_GATEWAY_DIR (benchmark the
 * dist/main.js of another checkout, e.g. a `git archive` snapshot with node_modules linked; default: this project),
 * BENCH_ASCII=1 (strip the body's non-ASCII characters).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { claudeCodeBody, claudeCodeHeaders, smallBody } from './claude-code-body';
import { startFakeUpstream } from './fake-upstream';
import {
  freePort,
  GATEWAY_DIR,
  type GatewayMetrics,
  type GatewayProcess,
  machineBusyMicros,
  processCpuMicros,
  processMemory,
  scrapeMetrics,
  startGateway,
  writeGatewayConfig,
} from './gateway-process';
import { type LoadStats, type RunLength, runLoad } from './load';
import { type CaseResult, type GatewayFigures, printReport, type Report } from './report';

interface Options {
  readonly measured: RunLength;
  readonly warmup: RunLength;
  readonly concurrencies: number[];
  readonly small: boolean;
  readonly logLevel: string;
  readonly nodeArgs: string[];
  readonly keep: boolean;
  readonly only?: string;
}

function readOptions(env: NodeJS.ProcessEnv): Options {
  const positive = (name: string, fallback: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
    return value;
  };
  const requests = env.BENCH_REQUESTS ? Math.round(positive('BENCH_REQUESTS', 1)) : undefined;
  const measured: RunLength = requests !== undefined ? { requests } : { seconds: positive('BENCH_SECONDS', 4) };
  const warmup: RunLength =
    requests !== undefined && !env.BENCH_WARMUP_SECONDS
      ? { requests: Math.max(20, Math.round(requests / 10)) }
      : { seconds: positive('BENCH_WARMUP_SECONDS', 1) };
  const concurrencies = (env.BENCH_CONCURRENCY ?? '1,64').split(',').map((part) => {
    const value = Number(part.trim());
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`BENCH_CONCURRENCY must list whole numbers, got "${part}"`);
    return value;
  });
  return {
    measured,
    warmup,
    concurrencies,
    small: env.BENCH_SMALL !== '0',
    logLevel: env.BENCH_LOG_LEVEL ?? 'info',
    nodeArgs: (env.BENCH_GATEWAY_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
    keep: env.BENCH_KEEP === '1',
    only: env.BENCH_ONLY || undefined,
  };
}

interface CaseSpec {
  readonly name: string;
  readonly bodyName: string;
  readonly body: Buffer;
  readonly stream: boolean;
  readonly concurrency: number;
}

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
        });
      }
    }
  }
  return options.only ? cases.filter((c) => c.name.includes(options.only!)) : cases;
}

/** Reads the gateway's and the whole machine's CPU counters around a measured phase. */
class CpuWatch {
  private gatewayStart?: number;
  private gatewayEnd?: number;
  private machineStart?: number;
  private machineEnd?: number;

  constructor(private readonly pid: number) {}

  readonly start = () => {
    this.machineStart = machineBusyMicros();
    this.gatewayStart = processCpuMicros(this.pid);
  };

  readonly end = () => {
    this.gatewayEnd = processCpuMicros(this.pid);
    this.machineEnd = machineBusyMicros();
  };

  gatewayMicros(): number | undefined {
    return this.gatewayStart !== undefined && this.gatewayEnd !== undefined
      ? this.gatewayEnd - this.gatewayStart
      : undefined;
  }

  /** Cores' worth of CPU that processes other than the bench and the gateway used during the measured phase. */
  othersCores(stats: LoadStats): number | undefined {
    const gateway = this.gatewayMicros();
    if (gateway === undefined || this.machineStart === undefined || this.machineEnd === undefined) return undefined;
    const others = this.machineEnd - this.machineStart - gateway - stats.benchCpuMicros;
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

async function main(): Promise<number> {
  const options = readOptions(process.env);
  const cases = caseList(options);
  const cleanups: { name: string; run: () => Promise<unknown> }[] = [];
  let gateway: GatewayProcess | undefined;

  const dir = mkdtempSync(join(tmpdir(), 'balancer-bench-'));
  // Never leave a gateway behind: on any exit path of this process, the child goes too (and, for SIGKILL of the
  // bench, the child's own watchdog, see gateway-process.ts).
  const killChild = () => {
    if (gateway && gateway.exited() === undefined) gateway.child.kill('SIGKILL');
  };
  process.on('exit', killChild);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping the gateway\n`);
      killChild();
      if (!options.keep) rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  }

  const configPath = join(dir, 'providers.yaml');
  const logFile = join(dir, 'logs', 'gateway.jsonl');

  const results: CaseResult[] = [];
  let fatal: string | undefined;
  let figures: GatewayFigures | undefined;
  try {
    const upstream = await startFakeUpstream();
    cleanups.push({ name: 'fake upstream', run: () => upstream.close() });
    const port = await freePort();
    writeGatewayConfig(configPath, { upstreamUrl: upstream.url, port, logLevel: options.logLevel, logFile });
    const started = await startGateway(configPath, port, options.nodeArgs);
    gateway = started;
    cleanups.push({ name: 'gateway', run: () => started.stop() });
    const startMemory = processMemory(started.pid);
    const headers = claudeCodeHeaders('sk-ant-bench-client-key');
    let gatewaySent = 0;
    const rssAfterRuns: number[] = [];

    process.stdout.write(
      `bench: upstream ${upstream.url}, gateway ${started.url} (pid ${started.pid}, ${join(GATEWAY_DIR, 'dist', 'main.js')}), ` +
        `${cases.length} cases x {direct, gateway}, ` +
        `${'seconds' in options.measured ? `${options.measured.seconds}s` : `${options.measured.requests} requests`} each\n`,
    );
    // JIT warm-up of both paths before the first measured case, so case order does not decide who looks slow.
    for (const spec of cases.filter(
      (c, i) => cases.findIndex((d) => d.stream === c.stream && d.bodyName === c.bodyName) === i,
    )) {
      for (const origin of [upstream.url, started.url]) {
        const warm = await runLoad({
          origin,
          path: '/v1/messages?beta=true',
          headers,
          body: spec.body,
          stream: spec.stream,
          concurrency: 8,
          warmup: { requests: 1 },
          measured: 'seconds' in options.warmup ? options.warmup : { seconds: 1 },
          abortReason: () => started.exited(),
        });
        if (origin === started.url) gatewaySent += warm.sent;
      }
    }
    for (const spec of cases) {
      const base = {
        path: '/v1/messages?beta=true',
        headers,
        body: spec.body,
        stream: spec.stream,
        concurrency: spec.concurrency,
        warmup: options.warmup,
        measured: options.measured,
      };
      // The gateway idles during direct runs, but its CPU is read anyway so "other processes" is exact.
      const directWatch = new CpuWatch(started.pid);
      const direct = await runLoad({
        ...base,
        origin: upstream.url,
        onMeasureStart: directWatch.start,
        onMeasureEnd: directWatch.end,
      });
      let through: LoadStats | undefined;
      let cpuMicros: number | undefined;
      let gatewayOthers: number | undefined;
      let gcMicros: number | undefined;
      let metricsAfter: GatewayMetrics | undefined;
      let skipped: string | undefined;
      if (started.exited() !== undefined) {
        skipped = `gateway gone (${started.exited()})`;
      } else {
        const watch = new CpuWatch(started.pid);
        const servedBefore = upstream.served();
        let metricsBefore: GatewayMetrics | undefined;
        through = await runLoad({
          ...base,
          origin: started.url,
          // /metrics is scraped outside the CPU window, so the scrape's own cost is not counted.
          onMeasureStart: async () => {
            metricsBefore = await scrapeMetrics(started.url);
            watch.start();
          },
          onMeasureEnd: async () => {
            watch.end();
            metricsAfter = await scrapeMetrics(started.url);
          },
          abortReason: () => started.exited(),
        });
        if (metricsBefore && metricsAfter) gcMicros = (metricsAfter.gcSeconds - metricsBefore.gcSeconds) * 1e6;
        gatewaySent += through.sent;
        const upstreamCalls = upstream.served() - servedBefore;
        if (upstreamCalls !== through.sent) {
          through.errorSamples.push(`the upstream saw ${upstreamCalls} calls for ${through.sent} client requests`);
        }
        cpuMicros = watch.gatewayMicros();
        gatewayOthers = watch.othersCores(through);
        const memory = processMemory(started.pid);
        if (memory) rssAfterRuns.push(memory.rssMiB);
      }
      const result: CaseResult = {
        name: spec.name,
        body: spec.bodyName,
        bodyBytes: spec.body.length,
        stream: spec.stream,
        concurrency: spec.concurrency,
        direct,
        gateway: through,
        gatewayCpuMicrosPerRequest:
          through && cpuMicros !== undefined ? cpuMicros / Math.max(1, through.requests + through.errors) : undefined,
        gatewayCpuShare: through && cpuMicros !== undefined ? cpuMicros / 1e6 / through.seconds : undefined,
        gatewayGcMicrosPerRequest:
          through && gcMicros !== undefined ? gcMicros / Math.max(1, through.requests + through.errors) : undefined,
        gatewayHeap: metricsAfter,
        otherProcessesCores: { direct: directWatch.othersCores(direct), gateway: gatewayOthers },
        skipped,
      };
      results.push(result);
      process.stdout.write(
        `  ${spec.name.padEnd(32)} direct ${direct.rps.toFixed(0).padStart(6)} req/s` +
          (through
            ? `   gateway ${through.rps.toFixed(0).padStart(6)} req/s${through.errors ? `  ${through.errors} errors` : ''}`
            : `   ${skipped}`) +
          '\n',
      );
    }

    const endMemory = processMemory(started.pid);
    const logLines = countLines(logFile);
    figures = {
      pid: started.pid,
      startRssMiB: startMemory?.rssMiB,
      peakRssMiB: endMemory?.peakRssMiB,
      endRssMiB: endMemory?.rssMiB,
      rssAfterRunsMiB: rssAfterRuns,
      logLevel: options.logLevel,
      logFile,
      logLines,
      requestsSent: gatewaySent,
      exited: started.exited(),
      stderrTail: started.stderrTail().trim().split('\n').slice(-20).join('\n'),
    };
    if (started.exited() !== undefined) fatal = `the gateway process died during the bench (${started.exited()})`;
  } catch (error) {
    fatal = error instanceof Error ? (error.stack ?? error.message) : String(error);
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        const outcome = await cleanup.run();
        if (cleanup.name === 'gateway' && typeof outcome === 'string' && figures) figures.shutdown = outcome;
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
    gateway: figures,
    fatal,
  };
  const outcome = printReport(report);
  const resultsPath = join(tmpdir(), 'claude-balancer-bench-latest.json');
  writeFileSync(resultsPath, `${JSON.stringify({ ...report, budget: outcome.budget }, null, 2)}\n`);
  process.stdout.write(`Results JSON: ${resultsPath}\n`);
  if (options.keep || outcome.gatewayProblems || fatal) {
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
