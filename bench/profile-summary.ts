/**
 * Summarises a V8 .cpuprofile of the gateway (from BENCH_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR"):
 * self and inclusive time per bucket (undici, fastify, nest/rxjs, node http/stream internals, each gateway source
 * file, GC, prom-client, pino, ...) and the top functions.
 *
 *   node -r esbuild-register bench/profile-summary.ts DIR/CPU.*.cpuprofile [--from-ms N] [--to-ms N] [--top N]
 *     [--callers TEXT [--depth N]]
 *
 * Startup is left out: by default everything up to the end of the first stretch of >= 300 ms without a busy sample
 * (the gateway idles while the bench warms up the direct target); --from-ms sets the cut by hand (0 keeps it all),
 * --to-ms ends the window (e.g. to look at one case of several: the profile's timeline is printed).
 * Idle samples are never counted; percentages are of the busy samples that are left. Time in V8 builtins and
 * native bindings (JSON.parse, a socket's writev, ...) counts for the bucket of the JS function that called them.
 * --callers TEXT adds the heaviest call paths into the functions whose name or file contains TEXT (e.g. "deprecate",
 * "writev", "async_hooks"): the time spent in them, by the --depth (default 6) frames above the innermost match.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: number[];
}

interface CpuProfile {
  readonly nodes: ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: number[];
  readonly timeDeltas: number[];
}

const IDLE_GAP_US = 300_000;
/** Frames of caller path shown by --callers (--depth N to change). */
const CALLER_DEPTH = 6;
/** Sums over several buckets, printed first. */
const GROUPS: [string, string][] = [
  ['gateway src, all files', 'gateway '],
  ['node internals, all', 'node '],
];

const BUCKETS: [string, RegExp][] = [
  ['undici', /node_modules\/undici\//],
  [
    'fastify',
    /node_modules\/(fastify|@fastify|find-my-way|avvio|light-my-request|fast-json-stringify|secure-json-parse|fast-querystring|fast-decode-uri-component|toad-cache|process-warning|rfdc|abstract-logging)\//,
  ],
  ['nest/rxjs', /node_modules\/(@nestjs|rxjs|reflect-metadata|class-transformer|class-validator)\//],
  ['prom-client', /node_modules\/(prom-client|tdigest|bintrees)\//],
  [
    'pino',
    /node_modules\/(pino|pino-http|pino-std-serializers|nestjs-pino|sonic-boom|thread-stream|fast-redact|quick-format-unescaped|atomic-sleep|on-exit-leak-free|fast-safe-stringify|safe-stable-stringify)\//,
  ],
  [
    'node http/stream/net',
    /^node:(_http_|http|https|net|stream|events|buffer|string_decoder|zlib|internal\/(http|streams|stream_base_commons|net|child_process|js_stream_socket|timers|event_target|events|webstreams|buffer|dns))/,
  ],
];

/**
 * The bucket of a frame, or undefined for a frame without a script (a V8 builtin such as JSON.parse, or a native
 * binding such as the socket's writev): those are charged to the bucket of the nearest JS caller.
 */
function bucketOf(frame: CallFrame): string | undefined {
  const { url, functionName } = frame;
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(program)') return '(program: VM, compiler, native)';
  if (functionName === '(root)') return '(root)';
  if (url === '') return undefined;
  // The only WebAssembly in the gateway is undici's HTTP parser (llhttp).
  if (url.startsWith('wasm://')) return 'undici';
  for (const [name, pattern] of BUCKETS) if (pattern.test(url)) return name;
  const source = gatewayFile(url);
  if (source) return `gateway ${source}`;
  const module = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (module) return `other node_modules: ${module[1]}`;
  if (url.startsWith('node:')) return `node other: ${url.replace(/^node:(internal\/)?/, '')}`;
  return `other: ${url}`;
}

/** dist/messages/foo.js -> src/messages/foo.ts, for a gateway file (not under node_modules). */
function gatewayFile(url: string): string | undefined {
  if (url.includes('/node_modules/')) return undefined;
  const match = /\/dist\/(.+)\.js$/.exec(url);
  return match ? `src/${match[1]}.ts` : undefined;
}

function shortUrl(url: string): string {
  const source = gatewayFile(url);
  if (source) return source;
  const module = url.lastIndexOf('/node_modules/');
  if (module !== -1) return url.slice(module + '/node_modules/'.length);
  return url.replace(/^file:\/\//, '');
}

function functionKey(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  return frame.url ? `${name}  ${shortUrl(frame.url)}:${frame.lineNumber + 1}` : name;
}

function textOption(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at === -1 ? undefined : process.argv[at + 1];
}

function option(name: string, fallback: number | undefined): number | undefined {
  const at = process.argv.indexOf(name);
  if (at === -1) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} needs a number`);
  return value;
}

function main(): void {
  const file = process.argv.slice(2).find((arg, i, all) => !arg.startsWith('--') && !all[i - 1]?.startsWith('--'));
  if (!file)
    throw new Error('usage: profile-summary.ts FILE.cpuprofile [--from-ms N] [--to-ms N] [--top N] [--callers TEXT]');
  const callers = textOption('--callers');
  const depth = option('--depth', CALLER_DEPTH)!;
  const top = option('--top', 25)!;
  const toUs = (option('--to-ms', undefined) ?? Infinity) * 1000;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const idle = (id: number) => byId.get(id)!.callFrame.functionName === '(idle)';

  // Sample i lasts until sample i + 1; time t is microseconds since the profile started.
  const times: number[] = [];
  let t = 0;
  for (const delta of profile.timeDeltas) times.push((t += delta));
  let fromUs = option('--from-ms', undefined);
  if (fromUs === undefined) {
    let lastBusy = 0;
    fromUs = 0;
    for (let i = 0; i < profile.samples.length; i++) {
      if (idle(profile.samples[i]!)) continue;
      if (times[i]! - lastBusy >= IDLE_GAP_US) {
        fromUs = times[i]!;
        break;
      }
      lastBusy = times[i]!;
    }
  } else {
    fromUs *= 1000;
  }

  // Busy share per second, to see where the cases' runs are.
  const timeline: string[] = [];
  for (let i = 0, second = 0; i < profile.samples.length; second++) {
    let busyUs = 0;
    let allUs = 0;
    for (; i < profile.samples.length && times[i]! < (second + 1) * 1e6; i++) {
      const weight = (times[i + 1] ?? times[i]!) - times[i]!;
      allUs += weight;
      if (!idle(profile.samples[i]!)) busyUs += weight;
    }
    timeline.push(allUs > 0 ? String(Math.round((busyUs / allUs) * 9)) : '.');
  }

  const selfByFunction = new Map<string, number>();
  const totalByFunction = new Map<string, number>();
  const selfByBucket = new Map<string, number>();
  const selfByGroup = new Map<string, number>();
  const totalByGroup = new Map<string, number>();
  const totalByBucket = new Map<string, number>();
  const byCallerPath = new Map<string, number>();
  let inCallers = 0;
  const add = (map: Map<string, number>, key: string, value: number) => map.set(key, (map.get(key) ?? 0) + value);
  let busy = 0;
  for (let i = 0; i < profile.samples.length - 1; i++) {
    if (times[i]! < fromUs || times[i]! >= toUs) continue;
    const id = profile.samples[i]!;
    if (idle(id)) continue;
    const weight = times[i + 1]! - times[i]!;
    busy += weight;
    add(selfByFunction, functionKey(byId.get(id)!.callFrame), weight);
    let selfBucket: string | undefined;
    const functions = new Set<string>();
    const buckets = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      if (frame.functionName === '(root)') continue;
      functions.add(functionKey(frame));
      const bucket = bucketOf(frame);
      if (bucket === undefined) continue;
      selfBucket ??= bucket;
      buckets.add(bucket);
    }
    selfBucket ??= '(native, no JS caller)';
    add(selfByBucket, selfBucket, weight);
    for (const [group, prefix] of GROUPS) {
      if (selfBucket.startsWith(prefix)) add(selfByGroup, group, weight);
      if ([...buckets].some((bucket) => bucket.startsWith(prefix))) add(totalByGroup, group, weight);
    }
    for (const key of functions) add(totalByFunction, key, weight);
    if (callers !== undefined) {
      // The innermost frame that matches, and the frames above it.
      let at: number | undefined = id;
      while (at !== undefined && !functionKey(byId.get(at)!.callFrame).includes(callers)) at = parent.get(at);
      if (at !== undefined) {
        const path: string[] = [];
        for (let up: number | undefined = at; up !== undefined && path.length <= depth; up = parent.get(up)) {
          const frame = byId.get(up)!.callFrame;
          if (frame.functionName !== '(root)') path.push(functionKey(frame));
        }
        inCallers += weight;
        add(byCallerPath, path.join('\n      <- '), weight);
      }
    }
    for (const key of buckets) add(totalByBucket, key, weight);
  }

  const pct = (value: number) => `${((value / busy) * 100).toFixed(1).padStart(5)}%`;
  const ms = (value: number) => `${(value / 1000).toFixed(0).padStart(6)} ms`;
  const sorted = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1]);
  const out: string[] = [];
  out.push(`${file}`);
  out.push(
    `busy time counted: ${ms(busy).trim()} (from ${(fromUs / 1000).toFixed(0)} ms` +
      `${Number.isFinite(toUs) ? ` to ${(toUs / 1000).toFixed(0)} ms` : ''} of ` +
      `${((profile.endTime - profile.startTime) / 1000).toFixed(0)} ms; idle left out)`,
  );
  out.push(`busy share per second (0-9): ${timeline.join('')}`);
  out.push('');
  out.push('Buckets                                        self            inclusive (any frame on the stack)');
  for (const [group] of GROUPS) {
    const self = selfByGroup.get(group) ?? 0;
    const total = totalByGroup.get(group) ?? 0;
    out.push(`  ${`[${group}]`.padEnd(44)} ${ms(self)} ${pct(self)}   ${ms(total)} ${pct(total)}`);
  }
  const bucketNames = new Set([...selfByBucket.keys(), ...totalByBucket.keys()]);
  for (const [name] of sorted(new Map([...bucketNames].map((n) => [n, selfByBucket.get(n) ?? 0])))) {
    const self = selfByBucket.get(name) ?? 0;
    const total = totalByBucket.get(name) ?? 0;
    if (self / busy < 0.001 && total / busy < 0.005) continue;
    out.push(`  ${name.slice(0, 44).padEnd(44)} ${ms(self)} ${pct(self)}   ${ms(total)} ${pct(total)}`);
  }
  out.push('');
  out.push(`Top ${top} functions by self time:`);
  for (const [name, value] of sorted(selfByFunction).slice(0, top)) out.push(`  ${pct(value)} ${ms(value)}  ${name}`);
  out.push('');
  out.push(`Top ${top} functions by inclusive time:`);
  for (const [name, value] of sorted(totalByFunction).slice(0, top)) out.push(`  ${pct(value)} ${ms(value)}  ${name}`);
  if (callers !== undefined) {
    out.push('');
    out.push(
      `Call paths into "${callers}" (${ms(inCallers).trim()}, ${pct(inCallers).trim()} of busy), heaviest first:`,
    );
    for (const [path, value] of sorted(byCallerPath).slice(0, Math.min(top, 12)))
      out.push(`  ${pct(value)} ${ms(value)}  ${path}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

main();
