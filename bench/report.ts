import type { GatewayMetrics } from './gateway-process';
import type { LoadStats, RunLength } from './load';

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
  out.push(header);
  out.push('-'.repeat(135));
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

  const gw = report.gateway;
  if (gw) {
    out.push('');
    out.push(...processLines('Gateway process', gw, problems, 'gateway'));
    out.push('  CPU and GC per request, heap after the run:');
    for (const c of report.cases.filter((r) => r.gateway.cpuMicrosPerRequest !== undefined)) {
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
  if (report.cases.length > 0) {
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
