import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { stringify } from 'yaml';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { anthropicProvider, sseEvents } from '../support/gateway-harness';

// Each test starts real gateway processes (one after another for restarts): seconds each on a loaded CI machine.
jest.setTimeout(30_000);

const root = resolve(__dirname, '..', '..');
const main = join(root, 'dist', 'main.js');

interface Exited {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runToExit(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Exited {
  try {
    const stdout = execFileSync(process.execPath, [main, ...args], {
      cwd,
      env: { PATH: process.env.PATH, ...env },
      encoding: 'utf8',
      timeout: 20_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { code: 0, stdout, stderr: '' };
  } catch (error) {
    const failure = error as { status: number | null; stdout: string; stderr: string };
    return { code: failure.status, stdout: failure.stdout, stderr: failure.stderr };
  }
}

function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function waitUntilLive(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i += 1) {
    if (child.exitCode !== null) throw new Error(`gateway exited early with ${child.exitCode}`);
    try {
      const response = await request(`${url}/health/live`);
      await response.body.text();
      if (response.statusCode === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('gateway did not come up');
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((done) => {
    if (child.exitCode !== null) done(child.exitCode);
    else child.once('exit', (code) => done(code));
  });
}

describe('the gateway process', () => {
  let dir: string;

  beforeAll(() => {
    execFileSync(process.execPath, [join(root, 'scripts', 'ensure-build.js')], { cwd: root, stdio: 'ignore' });
  }, 120_000);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'balancer-process-'));
  });

  it('should serve on the built-in default when no config is named or found, and say how to write one', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [main, '--port', String(port)], {
      cwd: dir,
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      await waitUntilLive(`http://127.0.0.1:${port}`, child);
      const providers = await request(`http://127.0.0.1:${port}/providers`);
      const body = (await providers.body.json()) as { providers: { name: string; auth_type?: string }[] };
      expect(body.providers.map((p) => p.name)).toEqual(['anthropic']);
      expect(output).toContain('built-in default');
      expect(output).toContain('cp providers.example.yaml providers.yaml');
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
  });

  it('should check a config, printing what it would serve without secrets, and list every bad field', () => {
    writeFileSync(
      join(dir, 'providers.yaml'),
      stringify({
        providers: [
          { name: 'main', type: 'anthropic', base_url: 'https://api.example', auth_value: 'sk-secret-value-1234' },
        ],
        model_routes: { '*': [{ provider: 'main', model: 'passthrough', priority: 1 }] },
        clients: [{ name: 'alice', key: 'alice-client-key-0123456789', rpm: 30 }],
      }),
    );
    const valid = runToExit(['check'], dir);
    expect(valid.code).toBe(0);
    expect(valid.stdout).toContain('main: anthropic, api_key, https://api.example');
    expect(valid.stdout).toContain('* -> main (passthrough, priority 1)');
    expect(valid.stdout).toContain('alice: rpm 30');
    expect(valid.stdout).not.toContain('sk-secret-value-1234');
    expect(valid.stdout).not.toContain('alice-client-key-0123456789');

    writeFileSync(join(dir, 'broken.yaml'), stringify({ providers: [{ name: 'b', type: 'zed', base_url: 'nope' }] }));
    const broken = runToExit(['check', '--config', 'broken.yaml'], dir);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('providers[0].type: must be anthropic or openai');
    expect(broken.stderr).toContain('providers[0].base_url: must be a URL');
  });

  it('should exit non-zero naming every bad field by its path', () => {
    writeFileSync(
      join(dir, 'providers.yaml'),
      stringify({
        providers: [
          { name: 'a', type: 'anthropic', base_url: 'https://a.example', auth_value: '${MISSING_KEY}' },
          { name: 'b', type: 'zed', base_url: 'nope', auth_value: 'x' },
        ],
      }),
    );
    const result = runToExit([], dir);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('providers[1].type: must be anthropic or openai');
    expect(result.stderr).toContain('providers[1].base_url: must be a URL');
  });

  it('should honour --config and print its version and help', () => {
    expect(runToExit(['--version'], dir).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(runToExit(['--help'], dir).stdout).toContain('--config PATH');
    const result = runToExit(['--config', join(dir, 'elsewhere.yaml')], dir);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`Config file not found: ${join(dir, 'elsewhere.yaml')}`);
  });

  describe('when running', () => {
    let fake: FakeUpstream;
    let child: ChildProcess;
    let url: string;
    let output = '';
    const logFile = () => join(dir, 'logs', 'gateway.jsonl');

    beforeEach(async () => {
      fake = await startFakeUpstream();
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      writeFileSync(
        join(dir, 'providers.yaml'),
        stringify({
          providers: [anthropicProvider('only', fake.url, { auth_value: '${UPSTREAM_KEY}' })],
          model_routes: { '*': [{ provider: 'only', model: 'passthrough', priority: 1 }] },
          clients: [{ name: 'alice', key: 'alice-client-key-123' }],
          settings: { log_file_path: 'logs/gateway.jsonl', shutdown_grace: 10 },
        }),
      );
      output = '';
      child = spawn(process.execPath, [main, '--port', String(port)], {
        cwd: dir,
        env: { PATH: process.env.PATH, UPSTREAM_KEY: 'sk-upstream-secret-456' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      await waitUntilLive(url, child);
    });

    afterEach(async () => {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await exited(child);
      }
      await fake.close();
    });

    it('should print a banner and write one JSON log line per request without secrets', async () => {
      expect(output).toContain('Claude Code Provider Balancer');
      expect(output).toContain('[✓] only (anthropic, api_key)');
      const response = await request(`${url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': 'alice-client-key-123', 'x-request-id': 'trace-1' },
        body: JSON.stringify({ model: 'claude-sonnet', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
      });
      await response.body.text();
      expect(response.statusCode).toBe(200);
      let line: Record<string, unknown> | undefined;
      for (let i = 0; i < 100 && !line; i += 1) {
        const lines = readFileSync(logFile(), 'utf8').trim().split('\n');
        line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.reqId === 'trace-1');
        if (!line) await new Promise((r) => setTimeout(r, 20));
      }
      expect(line).toMatchObject({
        reqId: 'trace-1',
        client: 'alice',
        model: 'claude-sonnet',
        provider: 'only',
        attempts: 1,
        status: 200,
        tokens: { input: 10, output: 5 },
      });
      const everything = readFileSync(logFile(), 'utf8') + output;
      expect(everything).not.toContain('alice-client-key-123');
      expect(everything).not.toContain('sk-upstream-secret-456');
    });

    it('should let an in-flight stream finish on SIGTERM, then exit 0', async () => {
      fake.setDefault({ kind: 'message', content: [{ type: 'text', text: 'slow but complete' }], eventDelayMs: 150 });
      const streaming = request(`${url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': 'alice-client-key-123' },
        body: JSON.stringify({ model: 'm', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      });
      await fake.waitForRequests(1);
      const response = await streaming;
      child.kill('SIGTERM');
      const text = await response.body.text();
      expect(sseEvents(text).at(-1)?.event).toBe('message_stop');
      expect(await exited(child)).toBe(0);
    });
  });
});
