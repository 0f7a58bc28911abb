import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { stringify } from 'yaml';

/**
 * A server the bench runs as a child process and watches through /proc: the gateway (`node dist/main.js --config PATH
 * --port N`) or the baseline passthrough proxy (`node -r esbuild-register bench/passthrough.ts ...`).
 */
export interface ChildServer {
  readonly url: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** The last lines the process wrote to stderr (startup failures, crashes). */
  stderrTail(): string;
  /** Why the process is gone, or undefined while it runs. */
  exited(): string | undefined;
  /** SIGTERM, then SIGKILL after 10 s; resolves to how it exited ("exit code 0" when clean). */
  stop(): Promise<string>;
}

export type GatewayProcess = ChildServer;

export interface GatewayConfigOptions {
  readonly upstreamUrl: string;
  readonly port: number;
  readonly logLevel: string;
  readonly logFile: string;
  /** `settings.state`: memory, or redis at this URL under a prefix of the run's own. */
  readonly state:
    { readonly backend: 'memory' } | { readonly backend: 'redis'; readonly url: string; readonly prefix: string };
  /** A client for the bench's key with every limit set (far above what the bench reaches), so each is checked. */
  readonly limits: boolean;
  /** The bench's client key (the gateway checks it when `limits` adds a client). */
  readonly clientKey: string;
}

/** The project whose dist/main.js is benchmarked: this one, or BENCH_GATEWAY_DIR (e.g. a snapshot of another commit). */
export const GATEWAY_DIR = process.env.BENCH_GATEWAY_DIR
  ? resolve(process.env.BENCH_GATEWAY_DIR)
  : join(__dirname, '..');
const STDERR_TAIL = 16 * 1024;

/** Listens on port 0, notes the port the kernel chose and closes again (the gateway's --port 0 would not tell us). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function writeGatewayConfig(path: string, options: GatewayConfigOptions): void {
  const document = {
    providers: [
      {
        name: 'bench-upstream',
        type: 'anthropic',
        base_url: options.upstreamUrl,
        auth_type: 'api_key',
        auth_value: 'sk-bench-upstream-key',
      },
    ],
    model_routes: { '*': [{ provider: 'bench-upstream', model: 'passthrough', priority: 1 }] },
    ...(options.limits
      ? {
          clients: [
            {
              name: 'bench',
              key: options.clientKey,
              rpm: 10_000_000,
              max_concurrency: 100_000,
              daily_token_budget: 1e15,
              daily_cost_budget: 1e9,
            },
          ],
        }
      : {}),
    settings: {
      log_level: options.logLevel,
      log_file_path: options.logFile,
      log_color: false,
      host: '127.0.0.1',
      port: options.port,
      shutdown_grace: 5,
      state:
        options.state.backend === 'redis'
          ? { backend: 'redis', redis_url: options.state.url, key_prefix: options.state.prefix }
          : { backend: 'memory' },
    },
  };
  writeFileSync(path, stringify(document));
}

interface ChildSpec {
  /** "the gateway (/path/dist/main.js)", for messages. */
  readonly label: string;
  /** Node's arguments: flags, the script and its arguments. */
  readonly args: string[];
  /**
   * Put the orphan watchdog in front (`--import data:...`). Not for a script run through `-r esbuild-register`:
   * --import makes Node load the main script as ESM, which does not go through require hooks (passthrough.ts has
   * the same watchdog built in).
   */
  readonly watchdog: boolean;
  readonly cwd: string;
  readonly port: number;
  /** Appended to the startup error when the process exited without writing anything to stderr. */
  readonly silentExitHint?: string;
}

/** Spawns node with stdout to /dev/null and stderr captured, and waits until GET /health/live answers 200. */
async function startChildServer(spec: ChildSpec): Promise<ChildServer> {
  const env = { ...process.env };
  // Env overrides would beat the bench's config file; the bench wants exactly what it wrote.
  for (const name of ['HOST', 'PORT', 'LOG_LEVEL', 'BALANCER_CONFIG', 'REDIS_URL', 'NODE_OPTIONS']) delete env[name];
  const args = spec.watchdog ? ['--import', orphanWatchdog(), ...spec.args] : spec.args;
  const child = spawn(process.execPath, args, {
    cwd: spec.cwd,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let tail = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    tail = (tail + text).slice(-STDERR_TAIL);
  });
  let exitReason: string | undefined;
  const exitedPromise = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      exitReason = signal ? `killed by ${signal}` : `exit code ${code}`;
      resolve(exitReason);
    });
  });
  child.once('error', (error) => {
    exitReason = `spawn failed: ${error.message}`;
  });
  if (child.pid === undefined) throw new Error(`could not spawn ${spec.label}: ${process.execPath}`);

  const server: ChildServer = {
    url: `http://127.0.0.1:${spec.port}`,
    pid: child.pid,
    child,
    stderrTail: () => tail,
    exited: () => exitReason,
    stop: async () => {
      if (exitReason) return exitReason;
      child.kill('SIGTERM');
      const result = await Promise.race([exitedPromise, sleep(10_000).then(() => undefined)]);
      if (result !== undefined) return result;
      child.kill('SIGKILL');
      return `did not exit within 10 s of SIGTERM, killed (${await exitedPromise})`;
    },
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exitReason) {
      const hint = tail.trim() ? '' : ` and wrote nothing to stderr${spec.silentExitHint ?? ''}`;
      throw new Error(`${spec.label} exited during startup (${exitReason})${hint}:\n${tail}`);
    }
    try {
      const response = await request(`${server.url}/health/live`, { headersTimeout: 1000, bodyTimeout: 1000 });
      await response.body.dump();
      if (response.statusCode === 200) return server;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`${spec.label} did not answer GET /health/live within 30 s:\n${tail}`);
    }
    await sleep(50);
  }
}

/** Starts the gateway's dist/main.js (of GATEWAY_DIR) on `port` with the bench's config. */
export function startGateway(configPath: string, port: number, nodeArgs: string[]): Promise<GatewayProcess> {
  const entry = join(GATEWAY_DIR, 'dist', 'main.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npx nest build\` first`);
  return startChildServer({
    label: `the gateway (${entry})`,
    args: [...nodeArgs, entry, '--config', configPath, '--port', String(port)],
    cwd: GATEWAY_DIR,
    port,
    watchdog: true,
    silentExitHint:
      ' (Nest exits silently with code 1 on, e.g., a dependency-injection error, because bootstrap creates the app with logger: false)',
  });
}

/** The passthrough proxy's script (run through esbuild-register, like the bench itself). */
export const PASSTHROUGH_SCRIPT = join(__dirname, 'passthrough.ts');

/**
 * Starts bench/passthrough.ts (always this checkout's, whatever BENCH_GATEWAY_DIR says) in front of `upstreamUrl`,
 * listening with `backlog` (node's default 511 when undefined).
 */
export function startPassthrough(
  upstreamUrl: string,
  port: number,
  nodeArgs: string[],
  backlog?: number,
): Promise<ChildServer> {
  return startChildServer({
    label: `the passthrough proxy (${PASSTHROUGH_SCRIPT})`,
    args: [
      ...nodeArgs,
      '-r',
      require.resolve('esbuild-register'),
      PASSTHROUGH_SCRIPT,
      '--upstream',
      upstreamUrl,
      '--port',
      String(port),
      ...(backlog === undefined ? [] : ['--backlog', String(backlog)]),
    ],
    cwd: join(__dirname, '..'),
    port,
    watchdog: false,
  });
}

/**
 * A preload for the gateway: once a second it checks that the bench is still its parent, and SIGTERMs itself
 * when not. Exit handlers cover errors and signals; this covers the bench being SIGKILLed. (A 1 Hz unref'd timer: no
 * measurable cost.)
 */
function orphanWatchdog(): string {
  const code = `const parent = ${process.pid};
setInterval(() => { if (process.ppid !== parent) process.kill(process.pid, 'SIGTERM'); }, 1000).unref();`;
  return `data:text/javascript,${encodeURIComponent(code)}`;
}

let clockTicks: number | undefined;

/** Kernel clock ticks per second (`getconf CLK_TCK`), the unit of utime/stime in /proc/<pid>/stat. */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/**
 * utime and stime of a process in microseconds (all its threads; with `mainThread`, only the thread whose id is the
 * pid: node's event loop, which every request waits for), or undefined where /proc is not available.
 */
export function processCpuSplit(
  pid: number,
  mainThread = false,
): { userMicros: number; systemMicros: number } | undefined {
  try {
    const stat = readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = 1_000_000 / clockTicksPerSecond();
    return { userMicros: Number(fields[11]) * ticks, systemMicros: Number(fields[12]) * ticks };
  } catch {
    return undefined;
  }
}

/** utime + stime of a process in microseconds, or undefined where /proc is not available. */
export function processCpuMicros(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses; the fields after the last ')' are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1_000_000) / clockTicksPerSecond();
  } catch {
    return undefined;
  }
}

export interface MemoryFigures {
  /** Peak resident set (VmHWM), MiB. */
  readonly peakRssMiB: number;
  /** Current resident set (VmRSS), MiB. */
  readonly rssMiB: number;
}

export function processMemory(pid: number): MemoryFigures | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { peakRssMiB: kib('VmHWM') / 1024, rssMiB: kib('VmRSS') / 1024 };
  } catch {
    return undefined;
  }
}

/**
 * CPU time the whole machine spent busy (user, nice, system, irq, softirq, steal) in microseconds, from /proc/stat.
 * Minus the bench's and the gateway's own CPU, it tells how much other processes competed during a run.
 */
export function machineBusyMicros(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    const ticks = user! + nice! + system! + irq! + softirq! + (steal ?? 0);
    return (ticks * 1_000_000) / clockTicksPerSecond();
  } catch {
    return undefined;
  }
}

export interface GatewayMetrics {
  /** nodejs_gc_duration_seconds_sum over all kinds, seconds. */
  readonly gcSeconds: number;
  readonly heapUsedMiB?: number;
  readonly heapTotalMiB?: number;
  readonly externalMiB?: number;
}

/** Reads GC time and heap sizes from the gateway's own GET /metrics (prom-client's default metrics). */
export async function scrapeMetrics(url: string): Promise<GatewayMetrics | undefined> {
  try {
    const response = await request(`${url}/metrics`, { headersTimeout: 5000, bodyTimeout: 5000 });
    const text = await response.body.text();
    if (response.statusCode !== 200) return undefined;
    let gcSeconds = 0;
    for (const match of text.matchAll(/^nodejs_gc_duration_seconds_sum\{[^}]*\} ([0-9.eE+-]+)$/gm))
      gcSeconds += Number(match[1]);
    const mib = (name: string) => {
      const match = new RegExp(`^${name} ([0-9.eE+-]+)$`, 'm').exec(text);
      return match ? Number(match[1]) / 1024 / 1024 : undefined;
    };
    return {
      gcSeconds,
      heapUsedMiB: mib('nodejs_heap_size_used_bytes'),
      heapTotalMiB: mib('nodejs_heap_size_total_bytes'),
      externalMiB: mib('nodejs_external_memory_bytes'),
    };
  } catch {
    return undefined;
  }
}

export interface ListenCounters {
  /** TcpExt ListenOverflows: a connection completed its handshake while the listener's accept queue was full. */
  readonly overflows: number;
  /** TcpExt ListenDrops: SYNs and handshakes a listener dropped (overflows included). */
  readonly drops: number;
  /** TcpExt TCPSynRetrans: SYNs a client sent again (each costs it 1 s, then 2 s, ...: the kernel's SYN backoff). */
  readonly synRetransmits: number;
}

/**
 * The network namespace's TCP listen-queue counters from /proc/net/netstat (namespace-wide: anything else on this
 * machine that overflows a listener counts too), or undefined where /proc is not available.
 */
export function listenCounters(): ListenCounters | undefined {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const at = lines.findIndex((line) => line.startsWith('TcpExt:'));
    const names = lines[at]?.split(' ') ?? [];
    const values = lines[at + 1]?.split(' ') ?? [];
    const field = (name: string) => Number(values[names.indexOf(name)] ?? NaN);
    const counters = {
      overflows: field('ListenOverflows'),
      drops: field('ListenDrops'),
      synRetransmits: field('TCPSynRetrans'),
    };
    return Object.values(counters).every(Number.isFinite) ? counters : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The accept-queue limit of the socket listening on 127.0.0.1:`port` (ss's Send-Q for a listener: listen()'s backlog
 * capped at net.core.somaxconn), or undefined when ss is not there.
 */
export function listenBacklog(port: number): number | undefined {
  try {
    const text = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8', timeout: 5000 });
    const fields = text.trim().split('\n')[0]?.trim().split(/\s+/) ?? [];
    const backlog = Number(fields[2]);
    return fields[0] === 'LISTEN' && Number.isInteger(backlog) ? backlog : undefined;
  } catch {
    return undefined;
  }
}

/** net.core.somaxconn: the most any listen() backlog gets. */
export function somaxconn(): number | undefined {
  try {
    return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}
