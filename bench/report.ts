import type { GatewayMetrics } from './gateway-process';
import type { LoadStats, RunLength } from './load';

export interface CaseResult {
  readonly name: string;
  readonly body: string;
  readonly bodyBytes: number;
  readonly stream: boolean;
  readonly concurrency: number;
  readonly direct: LoadStats;
  readonly gateway?: LoadStats;
  /** Gateway utime+stime during the measured phase, per request. */
  readonly gatewayCpuMicrosPerRequest?: number;
  /** Gateway CPU seconds per wall second during the measured phase (1 = one core busy). */
  readonly gatewayCpuShare?: number;
  /** Time in GC pauses (prom-client's nodejs_gc_duration_seconds) during the measured phase, per request. */
  readonly gatewayGcMicrosPerRequest?: number;
  /** Heap figures from the gateway's /metrics right after the measured phase. */
  readonly gatewayHeap?: GatewayMetrics;
  /** CPU (in cores) that other processes on the machine used during each measured phase: noise in the figures. */
  readonly otherProcessesCores: { readonly direct?: number; readonly gateway?: number };
  readonly skipped?: string;
}

export interface GatewayFigures {
  readonly pid: number;
  readonly startRssMiB?: number;
  readonly peakRssMiB?: number;
  readonly endRssMiB?: number;
  readonly rssAfterRunsMiB: number[];
  readonly logLevel: string;
  readonly logFile: string;
  readonly logLines: number;
  readonly requestsSent: number;
  readonly exited?: string;
  readonly stderrTail: string;
  shutdown?: string;
}

export interface Report {
  readonly date: string;
  readonly node: string;
  readonly cpus: string;
  readonly measured: RunLength;
  readonly warmup: RunLength;
  readonly cases: CaseResult[];
  readonly gateway?: GatewayFigures;
  readonly fatal?: string;
}

export interface BudgetCheck {
  readonly pass: boolean;
  readonly line: string;
}

const P50_BUDGET_MS = 1;
const THROUGHPUT_BUDGET = 0.5;
/** Above this much CPU used by other processes during a run, the run is flagged as noisy. */
const NOISE_CORES = 0.15;

const fixed = (value: number | undefined, digits: number, width: number) =>
  (value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits)).padStart(width);
const signed = (value: number, digits: number, width: number) =>
  (Number.isNaN(value) ? '-' : `${value >= 0 ? '+' : ''}${value.toFixed(digits)}`).padStart(width);

function row(label: string, target: string, stats: LoadStats, cpu: string): string {
  return [
    label.padEnd(33),
    target.padEnd(8),
    fixed(stats.rps, 0, 8),
    fixed(stats.p50Ms, 3, 9),
    fixed(stats.p99Ms, 3, 9),
    fixed(stats.ttfbP50Ms, 3, 9),
    String(stats.errors).padStart(7),
    `  ${cpu}`,
  ].join(' ');
}

/** Prints the table, the gateway's memory and logging figures, problems and the budget; returns the checks. */
export function printReport(report: Report): { budget: BudgetCheck[]; gatewayProblems: boolean } {
  const out: string[] = [];
  const length = 'seconds' in report.measured ? `${report.measured.seconds} s` : `${report.measured.requests} requests`;
  const warm = 'seconds' in report.warmup ? `${report.warmup.seconds} s` : `${report.warmup.requests} requests`;
  out.push(`Gateway benchmark — ${report.date}, Node ${report.node}, ${report.cpus}`);
  out.push(
    `Each run: warm-up ${warm}, then ${length} measured. Latencies in ms; TTFB = response headers (json) or first body chunk (stream).`,
  );
  out.push(
    `CPU µs/req: "bench" = this process (load generator + fake upstream); "gw" = gateway utime+stime from /proc.`,
  );
  out.push('');
  out.push(
    [
      'Case'.padEnd(33),
      'Target'.padEnd(8),
      'req/s'.padStart(8),
      'p50'.padStart(9),
      'p99'.padStart(9),
      'TTFB p50'.padStart(9),
      'errors'.padStart(7),
      '  CPU µs/req',
    ].join(' '),
  );
  out.push('-'.repeat(120));
  const problems: string[] = [];
  const budget: BudgetCheck[] = [];
  for (const result of report.cases) {
    const { direct, gateway } = result;
    out.push(row(result.name, 'direct', direct, `bench ${fixed(direct.benchCpuMicrosPerRequest, 0, 0)}`));
    if (!gateway) {
      out.push(`${''.padEnd(33)} gateway  ${result.skipped ?? 'not run'}`);
      continue;
    }
    const share =
      result.gatewayCpuShare === undefined ? '' : `, ${(result.gatewayCpuShare * 100).toFixed(0)}% of a core`;
    out.push(
      row(
        '',
        'gateway',
        gateway,
        `gw ${fixed(result.gatewayCpuMicrosPerRequest, 0, 0)}${share}; bench ${fixed(gateway.benchCpuMicrosPerRequest, 0, 0)}`,
      ),
    );
    const ratio = gateway.rps / direct.rps;
    out.push(
      [
        ''.padEnd(33),
        'added'.padEnd(8),
        `x${ratio.toFixed(2)}`.padStart(8),
        signed(gateway.p50Ms - direct.p50Ms, 3, 9),
        signed(gateway.p99Ms - direct.p99Ms, 3, 9),
        signed(gateway.ttfbP50Ms - direct.ttfbP50Ms, 3, 9),
      ].join(' '),
    );
    if (direct.errors > 0)
      problems.push(
        `${result.name} direct: ${direct.errors} errors (bench or fake upstream): ${direct.errorSamples.join(' | ')}`,
      );
    if (gateway.errors > 0 || gateway.errorSamples.length > 0) {
      problems.push(
        `${result.name} through the gateway: ${gateway.errors} errors: ${gateway.errorSamples.join(' | ')}`,
      );
    }
    if (result.concurrency === 1) {
      const added = gateway.p50Ms - direct.p50Ms;
      const pass = added < P50_BUDGET_MS;
      budget.push({
        pass,
        line: `p50 overhead at c=1, ${result.name}: ${signed(added, 3, 0)} ms (budget < ${P50_BUDGET_MS} ms)`,
      });
    }
    if (result.concurrency >= 64) {
      const pass = ratio >= THROUGHPUT_BUDGET;
      budget.push({
        pass,
        line: `throughput at c=${result.concurrency}, ${result.name}: ${(ratio * 100).toFixed(0)}% of direct (${gateway.rps.toFixed(0)} vs ${direct.rps.toFixed(0)} req/s; budget >= ${THROUGHPUT_BUDGET * 100}%)`,
      });
    }
  }

  const gw = report.gateway;
  if (gw) {
    const mib = (value: number | undefined) => (value === undefined ? '-' : `${value.toFixed(1)} MiB`);
    out.push('');
    out.push(`Gateway process (pid ${gw.pid}):`);
    out.push(
      `  peak RSS (VmHWM) ${mib(gw.peakRssMiB)}; RSS at start ${mib(gw.startRssMiB)}, at end ${mib(gw.endRssMiB)}`,
    );
    out.push(`  RSS after each gateway run (MiB): ${gw.rssAfterRunsMiB.map((v) => v.toFixed(0)).join(', ')}`);
    out.push('  CPU and GC per request, heap after the run:');
    for (const c of report.cases.filter((r) => r.gatewayCpuMicrosPerRequest !== undefined)) {
      const gc = c.gatewayGcMicrosPerRequest === undefined ? '-' : c.gatewayGcMicrosPerRequest.toFixed(0);
      const heap = c.gatewayHeap;
      const heapText = heap
        ? `heap used ${fixed(heap.heapUsedMiB, 0, 0)} of ${fixed(heap.heapTotalMiB, 0, 0)} MiB, external ${fixed(heap.externalMiB, 0, 0)} MiB`
        : '';
      out.push(
        `    ${c.name.padEnd(32)} CPU ${fixed(c.gatewayCpuMicrosPerRequest, 0, 5)} µs, of which GC pauses ${gc.padStart(4)} µs; ${heapText}`,
      );
    }
    out.push(
      `  logging: settings.log_level ${gw.logLevel}, access log as JSON lines to a file (${gw.logLines} lines for ${gw.requestsSent} requests), stdout -> /dev/null`,
    );
    out.push(`  shutdown on SIGTERM: ${gw.shutdown ?? 'not stopped'}`);
    if (gw.exited) problems.push(`the gateway process exited during the bench: ${gw.exited}`);
    if (gw.shutdown && gw.shutdown !== 'exit code 0')
      problems.push(`the gateway did not shut down cleanly on SIGTERM: ${gw.shutdown}`);
    if (['info', 'debug', 'trace'].includes(gw.logLevel) && gw.logLines < gw.requestsSent) {
      problems.push(
        `the access log has ${gw.logLines} lines for ${gw.requestsSent} requests (expected one line per request at ${gw.logLevel})`,
      );
    }
    const stderr = gw.stderrTail.trim();
    if (stderr) problems.push(`the gateway wrote to stderr:\n    ${stderr.split('\n').join('\n    ')}`);
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

  const noisy = report.cases.flatMap((c) =>
    (['direct', 'gateway'] as const)
      .filter((target) => (c.otherProcessesCores[target] ?? 0) > NOISE_CORES)
      .map((target) => `${c.name} ${target} ${c.otherProcessesCores[target]!.toFixed(2)}`),
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
  out.push('Budget:');
  for (const check of budget) out.push(`  ${check.pass ? 'PASS' : 'FAIL'}  ${check.line}`);
  if (budget.length === 0) out.push('  (no c=1 or c>=64 case ran through the gateway)');
  process.stdout.write(`${out.join('\n')}\n`);
  return { budget, gatewayProblems: problems.length > 0 };
}
