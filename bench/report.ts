import type { GatewayMetrics, ListenCounters } from './gateway-process';
import type { BurstStats, LoadStats, RunLength } from './load';

/** One target's run of a case. */
export interface TargetRun {
  readonly stats?: LoadStats;
  /** The target process's utime+stime during the measured phase, per request (passthrough and gateway only). */
  readonly cpuMicrosPerRequest?: number;
  /** The same as CPU seconds per wall second (1 = one core busy). */
  readonly cpuShare?: number;
  /** CPU (in cores) that other processes on the machine used during the measured phase: noise in the figures. */
  readonly otherProcessesCores?: number;
  /** Why the target was not run (its process is gone). */
  readonly skipped?: string;
}

export interface GatewayRun extends TargetRun {
  /** Time in GC pauses (prom-client's nodejs_gc_duration_seconds) during the measured phase, per request. */
  readonly gcMicrosPerRequest?: number;
  /** Heap figures from the gateway's /metrics right after the measured phase. */
  readonly heap?: GatewayMetrics;
}

export interface CaseResult {
  readonly name: string;
  readonly body: string;
  readonly bodyBytes: number;
  readonly stream: boolean;
  readonly concurrency: number;
  /** Text deltas in the answer (10, or BENCH_LONG_DELTAS for the long-answer case). */
  readonly deltas: number;
  /** The long-answer case (judged by its own CPU budget). */
  readonly long: boolean;
  readonly direct: TargetRun;
  readonly passthrough: TargetRun;
  readonly gateway: GatewayRun;
}

/** One target's run of the burst case. */
export interface BurstTargetRun {
  readonly stats?: BurstStats;
  /** Upstream responses open at the same moment at peak (counted by the fake upstream). */
  readonly upstreamPeakOpen?: number;
  /** TCP connections the fake upstream accepted during the burst (new upstream connections of the proxy). */
  readonly upstreamConnections?: number;
  /** Upstream calls during the burst (should be the burst's size). */
  readonly upstreamCalls?: number;
  /** Listen-queue counters of the network namespace over the burst (see gateway-process.ts listenCounters). */
  readonly listen?: ListenCounters;
  /** The proxy's utime+stime over the burst window (burst, client connections closed, settle), per stream. */
  readonly cpuMicrosPerStream?: number;
  readonly cpuMicros?: number;
  /** Of cpuMicros, the kernel's share (stime: TCP handshakes, socket reads and writes on loopback, epoll). */
  readonly systemMicros?: number;
  /** Of cpuMicros, the main thread's (the event loop that every stream's first byte waits for). */
  readonly mainThreadMicros?: number;
  /** Gateway GC pauses over the window, per stream. */
  readonly gcMicrosPerStream?: number;
  /** The proxy's RSS right after the burst. */
  readonly rssAfterMiB?: number;
  readonly otherProcessesCores?: number;
  readonly skipped?: string;
}

export interface BurstResult {
  readonly name: string;
  readonly streams: number;
  readonly bodyBytes: number;
  /** How long the fake upstream kept each stream open after its first events (BENCH_BURST_HOLD_MS). */
  readonly holdMs: number;
  /** Accept-queue limits of the listeners (ss Send-Q), where ss could tell. */
  readonly backlogs: { readonly upstream?: number; readonly passthrough?: number; readonly gateway?: number };
  readonly somaxconn?: number;
  readonly direct: BurstTargetRun;
  readonly passthrough: BurstTargetRun;
  readonly gateway: BurstTargetRun;
}

/** A child server's memory and exit, over the whole bench. */
export interface ProcessFigures {
  readonly pid: number;
  readonly startRssMiB?: number;
  readonly peakRssMiB?: number;
  readonly endRssMiB?: number;
  readonly rssAfterRunsMiB: number[];
  readonly exited?: string;
  readonly stderrTail: string;
  shutdown?: string;
}

export interface GatewayFigures extends ProcessFigures {
  readonly logLevel: string;
  readonly logFile: string;
  readonly logLines: number;
  readonly requestsSent: number;
}

export interface Report {
  readonly date: string;
  readonly node: string;
  readonly cpus: string;
  readonly measured: RunLength;
  readonly warmup: RunLength;
  readonly cases: CaseResult[];
  readonly bursts: BurstResult[];
  readonly gateway?: GatewayFigures;
  readonly passthrough?: ProcessFigures;
  readonly fatal?: string;
}

export interface BudgetCheck {
  readonly pass: boolean;
  readonly line: string;
}

/** Gateway req/s at least this share of the passthrough's, at concurrency >= THROUGHPUT_CONCURRENCY. */
const THROUGHPUT_BUDGET = 0.7;
const THROUGHPUT_CONCURRENCY = 32;
/** Gateway CPU per request at most this many times the passthrough's (all cases but the long answer). */
const CPU_BUDGET = 2;
/** The same for the long-answer case: what the gateway adds per SSE event has to stay small. */
const LONG_CPU_BUDGET = 1.5;
/** Gateway peak RSS (VmHWM) over the whole bench, in MB (10^6 bytes). */
const RSS_BUDGET_MB = 150;
/** Above this much CPU used by other processes during a run, the run is flagged as noisy. */
const NOISE_CORES = 0.15;

const fixed = (value: number | undefined, digits: number, width: number) =>
  (value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits)).padStart(width);
const signed = (value: number, digits: number, width: number) =>
  (Number.isNaN(value) ? '-' : `${value >= 0 ? '+' : ''}${value.toFixed(digits)}`).padStart(width);
const times = (value: number | undefined, width = 0) =>
  (value === undefined || !Number.isFinite(value) ? '-' : `${value.toFixed(2)}×`).padStart(width);
const ratio = (numerator: number | undefined, denominator: number | undefined) =>
  numerator === undefined || denominator === undefined || denominator <= 0 ? undefined : numerator / denominator;
const mib = (value: number | undefined) => (value === undefined ? '-' : `${value.toFixed(1)} MiB`);
const megabytes = (valueMiB: number) => (valueMiB * 1024 * 1024) / 1e6;

const LABEL = 33;
const TARGET = 9;

function row(label: string, target: string, stats: LoadStats, cpu: string): string {
  return [
    label.padEnd(LABEL),
    target.padEnd(TARGET),
    fixed(stats.rps, 0, 8),
    fixed(stats.p50Ms, 3, 9),
    fixed(stats.p99Ms, 3, 9),
    fixed(stats.ttfbP50Ms, 3, 9),
    fixed(stats.ttfbP99Ms, 3, 9),
    String(stats.errors).padStart(7),
    `  ${cpu}`,
  ].join(' ');
}

function proxyCpu(run: TargetRun, gc?: number): string {
  const share = run.cpuShare === undefined ? '' : ` (${(run.cpuShare * 100).toFixed(0)}% of a core)`;
  const gcText = gc === undefined ? '' : `, GC ${gc.toFixed(0)}`;
  return `proc ${fixed(run.cpuMicrosPerRequest, 0, 0)}${share}${gcText}; bench ${fixed(run.stats?.benchCpuMicrosPerRequest, 0, 0)}`;
}

function processLines(title: string, figures: ProcessFigures, problems: string[], name: string): string[] {
  const out = [`${title} (pid ${figures.pid}):`];
  out.push(
    `  peak RSS (VmHWM) ${mib(figures.peakRssMiB)}; RSS at start ${mib(figures.startRssMiB)}, at end ${mib(figures.endRssMiB)}`,
  );
  out.push(`  RSS after each of its runs (MiB): ${figures.rssAfterRunsMiB.map((v) => v.toFixed(0)).join(', ')}`);
  out.push(`  shutdown on SIGTERM: ${figures.shutdown ?? 'not stopped'}`);
  if (figures.exited) problems.push(`the ${name} process exited during the bench: ${figures.exited}`);
  if (figures.shutdown && figures.shutdown !== 'exit code 0')
    problems.push(`the ${name} did not shut down cleanly on SIGTERM: ${figures.shutdown}`);
  const stderr = figures.stderrTail.trim();
  if (stderr) problems.push(`the ${name} wrote to stderr:\n    ${stderr.split('\n').join('\n    ')}`);
  return out;
}

const BURST_TARGETS = [
  ['direct', 'direct'],
  ['passthrough', 'passthru'],
  ['gateway', 'gateway'],
] as const;

/** The burst section: TTFB distribution, upstream concurrency, listen-queue trouble and CPU per new stream. */
function burstLines(result: BurstResult, problems: string[], budget: BudgetCheck[]): string[] {
  const out: string[] = [];
  const backlog = (value: number | undefined) => (value === undefined ? '?' : String(value));
  out.push(
    `${result.name}: ${result.streams} streaming requests (${result.bodyBytes} B body) dispatched in one tick, each on a ` +
      `new client connection (undici Pool, connections ${result.streams}, pipelining 1).`,
  );
  out.push(
    `  The fake upstream writes each stream's first events at once` +
      (result.holdMs > 0 ? ` and its last 3 events and end ${result.holdMs} ms later` : ' and ends it at once') +
      `. TTFB = each request's dispatch to its first body chunk; ms.`,
  );
  out.push(
    `  Listen backlog (ss Send-Q; net.core.somaxconn ${backlog(result.somaxconn)}): fake upstream ` +
      `${backlog(result.backlogs.upstream)}, passthrough ${backlog(result.backlogs.passthrough)}, gateway ` +
      `${backlog(result.backlogs.gateway)}. "ovfl/drop/SYN" = ListenOverflows/ListenDrops/TCPSynRetrans during the ` +
      `burst (namespace-wide). CPU = proxy utime+stime per stream over the burst + closing + 200 ms settle ` +
      `(/proc: 10 ms ticks; "main thread" = the event loop's own share, the rest is GC helpers, libuv's pool, ...).`,
  );
  out.push(
    [
      '  Target'.padEnd(11),
      'ok'.padStart(5),
      'err'.padStart(4),
      'dispatch'.padStart(8),
      'TTFB p50'.padStart(9),
      'p90'.padStart(8),
      'p99'.padStart(8),
      'max'.padStart(8),
      'end p50'.padStart(8),
      'end max'.padStart(8),
      'wall'.padStart(7),
      'up peak'.padStart(7),
      'up conn'.padStart(7),
      'cl conn'.padStart(7),
      'ovfl/drop/SYN'.padStart(14),
      '  CPU µs/stream',
    ].join(' '),
  );
  for (const [name, short] of BURST_TARGETS) {
    const run = result[name];
    const stats = run.stats;
    if (!stats) {
      out.push(`  ${short.padEnd(9)} ${run.skipped ?? 'not run'}`);
      continue;
    }
    const listen = run.listen ? `${run.listen.overflows}/${run.listen.drops}/${run.listen.synRetransmits}` : '-';
    const bench = `bench ${fixed(stats.benchCpuMicros / stats.streams, 0, 0)}`;
    const kernel =
      run.systemMicros === undefined || run.cpuMicros === undefined || run.cpuMicros <= 0
        ? ''
        : `, ${((run.systemMicros / run.cpuMicros) * 100).toFixed(0)}% sys`;
    const gc = run.gcMicrosPerStream === undefined ? '' : `, GC ${run.gcMicrosPerStream.toFixed(0)}`;
    const cpu =
      name === 'direct'
        ? bench
        : `proc ${fixed(run.cpuMicrosPerStream, 0, 0)} (main thread ${fixed(
            run.mainThreadMicros === undefined ? undefined : run.mainThreadMicros / stats.streams,
            0,
            0,
          )}; ${fixed(
            run.cpuMicros === undefined ? undefined : run.cpuMicros / 1000,
            0,
            0,
          )} ms in all${kernel}${gc}, RSS after ${fixed(run.rssAfterMiB, 0, 0)} MiB); ${bench}`;
    out.push(
      [
        `  ${short}`.padEnd(11),
        String(stats.ok).padStart(5),
        String(stats.errors).padStart(4),
        fixed(stats.dispatchMs, 1, 8),
        fixed(stats.ttfb.p50Ms, 1, 9),
        fixed(stats.ttfb.p90Ms, 1, 8),
        fixed(stats.ttfb.p99Ms, 1, 8),
        fixed(stats.ttfb.maxMs, 1, 8),
        fixed(stats.total.p50Ms, 1, 8),
        fixed(stats.total.maxMs, 1, 8),
        fixed(stats.wallMs, 0, 7),
        fixed(run.upstreamPeakOpen, 0, 7),
        fixed(run.upstreamConnections, 0, 7),
        fixed(stats.clientConnections, 0, 7),
        listen.padStart(14),
        `  ${cpu}`,
      ].join(' '),
    );
    if (stats.errors > 0 || stats.errorSamples.length > 0) {
      problems.push(`${result.name} ${name}: ${stats.errors} errors: ${stats.errorSamples.join(' | ')}`);
    }
    if (run.upstreamCalls !== undefined && run.upstreamCalls !== stats.streams) {
      problems.push(`${result.name} ${name}: the upstream saw ${run.upstreamCalls} calls for ${stats.streams} streams`);
    }
    if (run.listen && (run.listen.overflows > 0 || run.listen.drops > 0)) {
      problems.push(
        `${result.name} ${name}: ${run.listen.overflows} listen-queue overflows, ${run.listen.drops} drops, ` +
          `${run.listen.synRetransmits} SYN retransmits during the burst (an accept queue was full)`,
      );
    }
  }
  const pt = result.passthrough;
  const gw = result.gateway;
  if (pt.stats && gw.stats) {
    out.push(
      [
        '  gw vs pt'.padEnd(11),
        ''.padStart(5),
        ''.padStart(4),
        ''.padStart(8),
        signed(gw.stats.ttfb.p50Ms - pt.stats.ttfb.p50Ms, 1, 9),
        signed(gw.stats.ttfb.p90Ms - pt.stats.ttfb.p90Ms, 1, 8),
        signed(gw.stats.ttfb.p99Ms - pt.stats.ttfb.p99Ms, 1, 8),
        signed(gw.stats.ttfb.maxMs - pt.stats.ttfb.maxMs, 1, 8),
        ''.padStart(8),
        ''.padStart(8),
        ''.padStart(7),
        ''.padStart(7),
        ''.padStart(7),
        ''.padStart(7),
        ''.padStart(14),
        `  CPU ${times(ratio(gw.cpuMicrosPerStream, pt.cpuMicrosPerStream))}`,
      ].join(' '),
    );
  }
  const gwP50 = gw.stats?.ttfb.p50Ms;
  const ptP50 = pt.stats?.ttfb.p50Ms;
  budget.push({
    pass: gwP50 !== undefined && ptP50 !== undefined && gwP50 <= ptP50,
    line: `burst TTFB p50 gateway <= passthrough's, ${result.name}: gateway ${fixed(gwP50, 1, 0)} ms vs passthrough ${fixed(ptP50, 1, 0)} ms`,
  });
  return out;
}

/** Prints the table, the processes' memory and logging figures, problems and the budget; returns the checks. */
export function printReport(report: Report): { budget: BudgetCheck[]; problems: boolean } {
  const out: string[] = [];
  const length = 'seconds' in report.measured ? `${report.measured.seconds} s` : `${report.measured.requests} requests`;
  const warm = 'seconds' in report.warmup ? `${report.warmup.seconds} s` : `${report.warmup.requests} requests`;
  out.push(`Gateway benchmark — ${report.date}, Node ${report.node}, ${report.cpus}`);
  out.push(
    `Each run: warm-up ${warm}, then ${length} measured. Latencies in ms; TTFB = response headers (json) or first body chunk (stream).`,
  );
  out.push(
    'Targets: direct = load generator -> fake upstream; passthru = bare node:http + undici.Pool proxy (bench/passthrough.ts); gateway = dist/main.js.',
  );
  out.push(
    'CPU µs/req: "proc" = the proxy process\'s utime+stime from /proc (GC = gateway GC pauses); "bench" = this process (load generator + fake upstream).',
  );
  out.push(
    '"gw vs pt": gateway req/s as a share of the passthrough\'s, latency added over the passthrough, and gateway CPU per request over the passthrough\'s.',
  );
  out.push('');
  const header = [
    'Case'.padEnd(LABEL),
    'Target'.padEnd(TARGET),
    'req/s'.padStart(8),
    'p50'.padStart(9),
    'p99'.padStart(9),
    'TTFB p50'.padStart(9),
    'TTFB p99'.padStart(9),
    'errors'.padStart(7),
    '  CPU µs/req',
  ].join(' ');
  if (report.cases.length > 0) {
    out.push(header);
    out.push('-'.repeat(135));
  }
  const problems: string[] = [];
  const budget: BudgetCheck[] = [];
  for (const result of report.cases) {
    const { direct, passthrough, gateway } = result;
    const targets = [
      ['direct', direct],
      ['passthrough', passthrough],
      ['gateway', gateway],
    ] as const;
    let label = result.name;
    for (const [name, run] of targets) {
      const short = name === 'passthrough' ? 'passthru' : name;
      if (!run.stats) {
        out.push(`${label.padEnd(LABEL)} ${short.padEnd(TARGET)} ${run.skipped ?? 'not run'}`);
      } else {
        const cpu =
          name === 'direct'
            ? `bench ${fixed(run.stats.benchCpuMicrosPerRequest, 0, 0)}`
            : proxyCpu(run, name === 'gateway' ? gateway.gcMicrosPerRequest : undefined);
        out.push(row(label, short, run.stats, cpu));
        if (run.stats.errors > 0 || run.stats.errorSamples.length > 0) {
          const who = name === 'direct' ? 'direct (bench or fake upstream)' : `through the ${name}`;
          problems.push(`${result.name} ${who}: ${run.stats.errors} errors: ${run.stats.errorSamples.join(' | ')}`);
        }
      }
      label = '';
    }
    const pt = passthrough.stats;
    const gw = gateway.stats;
    const cpuRatio = ratio(gateway.cpuMicrosPerRequest, passthrough.cpuMicrosPerRequest);
    const rpsRatio = ratio(gw?.rps, pt?.rps);
    if (pt && gw) {
      out.push(
        [
          ''.padEnd(LABEL),
          'gw vs pt'.padEnd(TARGET),
          times(rpsRatio, 8),
          signed(gw.p50Ms - pt.p50Ms, 3, 9),
          signed(gw.p99Ms - pt.p99Ms, 3, 9),
          signed(gw.ttfbP50Ms - pt.ttfbP50Ms, 3, 9),
          signed(gw.ttfbP99Ms - pt.ttfbP99Ms, 3, 9),
          ''.padStart(7),
          `  CPU ${times(cpuRatio)}`,
        ].join(' '),
      );
    }

    const cpuBudget = result.long ? LONG_CPU_BUDGET : CPU_BUDGET;
    budget.push({
      pass: cpuRatio !== undefined && cpuRatio <= cpuBudget,
      line:
        `CPU per request, ${result.name}: gateway ${fixed(gateway.cpuMicrosPerRequest, 0, 0)} µs vs passthrough ` +
        `${fixed(passthrough.cpuMicrosPerRequest, 0, 0)} µs = ${times(cpuRatio)} (budget <= ${cpuBudget}×)`,
    });
    if (!result.long && result.concurrency >= THROUGHPUT_CONCURRENCY) {
      budget.push({
        pass: rpsRatio !== undefined && rpsRatio >= THROUGHPUT_BUDGET,
        line:
          `throughput, ${result.name}: gateway ${fixed(gw?.rps, 0, 0)} vs passthrough ${fixed(pt?.rps, 0, 0)} req/s ` +
          `= ${times(rpsRatio)} (budget >= ${THROUGHPUT_BUDGET}×)`,
      });
    }
  }

  const complete = report.cases.filter((c) => c.passthrough.stats && c.gateway.stats);
  if (complete.length > 0) {
    out.push('');
    out.push('Gateway vs passthrough:');
    out.push(
      [
        '  Case'.padEnd(LABEL + 2),
        'direct'.padStart(7),
        'passthru'.padStart(9),
        'gateway'.padStart(8),
        'gw/pt'.padStart(7),
        'pt CPU'.padStart(8),
        'gw CPU'.padStart(8),
        'gw/pt'.padStart(7),
        'p50 +ms'.padStart(8),
        'p99 +ms'.padStart(8),
      ].join(' '),
    );
    out.push(`  ${''.padEnd(LABEL)} ${'req/s'.padStart(25)} ${''.padStart(7)} ${'µs/req'.padStart(17)}`);
    for (const c of complete) {
      const pt = c.passthrough.stats!;
      const gw = c.gateway.stats!;
      out.push(
        [
          `  ${c.name}`.padEnd(LABEL + 2),
          fixed(c.direct.stats?.rps, 0, 7),
          fixed(pt.rps, 0, 9),
          fixed(gw.rps, 0, 8),
          times(ratio(gw.rps, pt.rps), 7),
          fixed(c.passthrough.cpuMicrosPerRequest, 0, 8),
          fixed(c.gateway.cpuMicrosPerRequest, 0, 8),
          times(ratio(c.gateway.cpuMicrosPerRequest, c.passthrough.cpuMicrosPerRequest), 7),
          signed(gw.p50Ms - pt.p50Ms, 3, 8),
          signed(gw.p99Ms - pt.p99Ms, 3, 8),
        ].join(' '),
      );
    }
  }

  for (const result of report.bursts) {
    out.push('');
    out.push(...burstLines(result, problems, budget));
  }

  const gw = report.gateway;
  if (gw) {
    out.push('');
    out.push(...processLines('Gateway process', gw, problems, 'gateway'));
    const measuredCases = report.cases.filter((r) => r.gateway.cpuMicrosPerRequest !== undefined);
    if (measuredCases.length > 0) out.push('  CPU and GC per request, heap after the run:');
    for (const c of measuredCases) {
      const gc = c.gateway.gcMicrosPerRequest === undefined ? '-' : c.gateway.gcMicrosPerRequest.toFixed(0);
      const heap = c.gateway.heap;
      const heapText = heap
        ? `heap used ${fixed(heap.heapUsedMiB, 0, 0)} of ${fixed(heap.heapTotalMiB, 0, 0)} MiB, external ${fixed(heap.externalMiB, 0, 0)} MiB`
        : '';
      out.push(
        `    ${c.name.padEnd(32)} CPU ${fixed(c.gateway.cpuMicrosPerRequest, 0, 5)} µs, of which GC pauses ${gc.padStart(4)} µs; ${heapText}`,
      );
    }
    out.push(
      `  logging: settings.log_level ${gw.logLevel}, access log as JSON lines to a file (${gw.logLines} lines for ${gw.requestsSent} requests), stdout -> /dev/null`,
    );
    if (['info', 'debug', 'trace'].includes(gw.logLevel) && gw.logLines < gw.requestsSent) {
      problems.push(
        `the access log has ${gw.logLines} lines for ${gw.requestsSent} requests (expected one line per request at ${gw.logLevel})`,
      );
    }
    const runs = gw.rssAfterRunsMiB;
    if (runs.length >= 4) {
      const half = Math.floor(runs.length / 2);
      const firstHalfMax = Math.max(...runs.slice(0, half));
      const last = runs[runs.length - 1]!;
      if (last > firstHalfMax * 1.5 && last - firstHalfMax > 50) {
        problems.push(
          `RSS keeps growing: ${firstHalfMax.toFixed(0)} MiB in the first half of the runs, ${last.toFixed(0)} MiB at the end (possible leak)`,
        );
      }
    }
  }
  const pt = report.passthrough;
  if (pt) {
    out.push('');
    out.push(...processLines('Passthrough process', pt, problems, 'passthrough proxy'));
    out.push(
      '  (its RSS includes esbuild-register, which transpiles bench/passthrough.ts at startup: ~10 MiB and a thread)',
    );
  }
  if (gw || pt) {
    out.push('');
    out.push(
      `Peak RSS over the whole bench: gateway ${mib(gw?.peakRssMiB)}, passthrough ${mib(pt?.peakRssMiB)}` +
        (gw?.peakRssMiB !== undefined && pt?.peakRssMiB !== undefined
          ? ` (gateway ${times(gw.peakRssMiB / pt.peakRssMiB)}, +${(gw.peakRssMiB - pt.peakRssMiB).toFixed(1)} MiB)`
          : ''),
    );
  }
  if (report.cases.length > 0 || report.bursts.length > 0) {
    const peak = gw?.peakRssMiB;
    budget.push({
      pass: peak !== undefined && megabytes(peak) < RSS_BUDGET_MB,
      line: `gateway peak RSS: ${peak === undefined ? '-' : `${megabytes(peak).toFixed(1)} MB (${peak.toFixed(1)} MiB)`} (budget < ${RSS_BUDGET_MB} MB)`,
    });
  }

  const noisy = report.cases.flatMap((c) =>
    (['direct', 'passthrough', 'gateway'] as const)
      .filter((target) => (c[target].otherProcessesCores ?? 0) > NOISE_CORES)
      .map((target) => `${c.name} ${target} ${c[target].otherProcessesCores!.toFixed(2)}`),
  );
  for (const b of report.bursts) {
    for (const [target] of BURST_TARGETS) {
      const cores = b[target].otherProcessesCores;
      if (cores !== undefined && cores > NOISE_CORES) noisy.push(`${b.name} ${target} ${cores.toFixed(2)}`);
    }
  }
  if (noisy.length > 0) {
    out.push('');
    out.push(
      `WARNING: other processes on this machine used CPU during these runs (cores' worth; the figures there are noisy):`,
    );
    out.push(`  ${noisy.join('; ')}`);
  }

  out.push('');
  out.push(
    problems.length === 0 ? 'Problems: none (no errors, one upstream call per request, clean shutdown)' : 'Problems:',
  );
  for (const problem of problems) out.push(`  - ${problem}`);
  out.push('');
  out.push('Budget (gateway vs the passthrough proxy; informational, does not change the exit code):');
  for (const check of budget) out.push(`  ${check.pass ? 'PASS' : 'FAIL'}  ${check.line}`);
  if (budget.length === 0) out.push('  (no case ran)');
  process.stdout.write(`${out.join('\n')}\n`);
  return { budget, problems: problems.length > 0 };
}
