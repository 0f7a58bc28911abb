/**
 * The container image's runtime steps, run for real without Docker (this machine has no engine): the Dockerfile's
 * runtime `ENV`, its production-only `npm ci` in a clean directory holding what the image copies, and its `CMD` as a
 * user that is not root. The steps are read from the Dockerfile, so the test follows it when it changes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { ensureBuilt, exited, freePort, shippedNodeFlags } from '../support/gateway-process';

const root = resolve(__dirname, '..', '..');
const NOBODY = 65534;

interface RuntimeStage {
  readonly env: Record<string, string>;
  readonly install: string[];
  readonly cmd: string[];
  readonly user: string;
}

/** The runtime stage's ENV, its `npm ci` (the part before `&&`), USER and CMD. */
function runtimeStage(dockerfile: string): RuntimeStage {
  const stage = dockerfile.slice(dockerfile.search(/^FROM .* AS runtime$/m));
  const env = Object.fromEntries(
    [...(/^ENV (.*)$/m.exec(stage)?.[1] ?? '').matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]),
  );
  const install = (/^RUN (npm ci[^&\n]*)/m.exec(stage)?.[1] ?? '').trim().split(/\s+/);
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(stage)?.[1] ?? '[]') as string[];
  const user = /^USER (\S+)$/m.exec(stage)?.[1] ?? 'root';
  return { env, install, cmd, user };
}

describe('the container image’s runtime steps', () => {
  let dir: string;

  beforeAll(() => ensureBuilt());

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('should install production dependencies only and serve as a user that is not root, on every interface', async () => {
    const stage = runtimeStage(readFileSync(join(root, 'Dockerfile'), 'utf8'));
    expect(stage.user).not.toBe('root');
    expect(stage.install.slice(0, 2)).toEqual(['npm', 'ci']);
    expect(stage.install).toContain('--omit=dev');
    expect(stage.env.HOST).toBe('0.0.0.0');
    // The image runs what npm start runs, node flags included.
    expect(stage.cmd).toEqual(['node', ...shippedNodeFlags(), 'dist/main.js']);

    dir = mkdtempSync(join(tmpdir(), 'balancer-image-'));
    for (const file of ['package.json', 'package-lock.json', 'providers.example.yaml']) {
      cpSync(join(root, file), join(dir, file));
    }
    cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true });
    execFileSync(stage.install[0]!, [...stage.install.slice(1), '--no-audit', '--no-fund'], {
      cwd: dir,
      stdio: 'ignore',
      timeout: 300_000,
    });
    // Production dependencies only: the test tools are not there.
    expect(() => readFileSync(join(dir, 'node_modules', 'jest', 'package.json'))).toThrow();
    readFileSync(join(dir, 'node_modules', 'fastify', 'package.json'));
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'data'));
    chownSync(join(dir, 'data'), NOBODY, NOBODY);

    const port = await freePort();
    const [command, ...args] = stage.cmd;
    const child = spawn(
      '/usr/bin/setpriv',
      [
        '--reuid',
        String(NOBODY),
        '--regid',
        String(NOBODY),
        '--clear-groups',
        command === 'node' ? process.execPath : command!,
        ...args,
      ],
      {
        cwd: dir,
        env: { PATH: process.env.PATH, ...stage.env, PORT: String(port) },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      let live = false;
      for (let i = 0; i < 200 && !live && child.exitCode === null; i += 1) {
        try {
          const response = await request(`http://127.0.0.1:${port}/health/live`);
          await response.body.text();
          live = response.statusCode === 200;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      expect({ live, output: live ? '' : output }).toEqual({ live: true, output: '' });
      expect(output).toContain(`http://0.0.0.0:${port}`);
      const uid = execFileSync('ps', ['-o', 'uid=', '-p', String(child.pid)], { encoding: 'utf8' }).trim();
      expect(Number(uid)).toBe(NOBODY);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited(child)).toBe(0);
  });
});
