import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { request } from 'undici';

const root = resolve(__dirname, '..', '..');
export const GATEWAY_MAIN = join(root, 'dist', 'main.js');

/** The node flags `npm start` in `dir`'s package.json runs dist/main.js with (the image's CMD is held to the same). */
export function shippedNodeFlags(dir = root): string[] {
  const scripts = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { scripts?: { start?: string } })
    .scripts;
  const start = /^node (.*?)\s*dist\/main\.js$/.exec(scripts?.start ?? '');
  return start?.[1] ? start[1].split(/\s+/) : [];
}

/** Builds dist/ if the sources are newer (the process tests run the built gateway, as users do). */
export function ensureBuilt(): void {
  execFileSync(process.execPath, [join(root, 'scripts', 'ensure-build.js')], { cwd: root, stdio: 'ignore' });
}

export function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) done(child.exitCode);
    else child.once('exit', (code) => done(code));
  });
}

export interface GatewayProcess {
  readonly url: string;
  readonly child: ChildProcess;
  output(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, as a crash or an OOM kill would end it. */
  kill(): Promise<void>;
}

/**
 * Starts the gateway as `npm start` does (its node flags, dist/main.js, `--config <path>`) on a free port and resolves
 * once it answers /health/live.
 */
export async function spawnGateway(
  configPath: string,
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): Promise<GatewayProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const args = [...shippedNodeFlags(), GATEWAY_MAIN, '--config', configPath, '--port', String(port)];
  const child = spawn(process.execPath, args, {
    cwd,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const gateway: GatewayProcess = {
    url,
    child,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited(child);
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited(child);
    },
  };
  for (let i = 0; i < 300; i += 1) {
    if (child.exitCode !== null) throw new Error(`gateway exited early with ${child.exitCode}: ${output}`);
    try {
      const response = await request(`${url}/health/live`);
      await response.body.text();
      if (response.statusCode === 200) return gateway;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`gateway did not come up: ${output}`);
}
