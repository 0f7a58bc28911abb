/**
 * The OAuth token store and logins seen from the real process (`node dist/main.js`): a corrupt token store stops
 * startup, naming the file, and is left byte for byte as it was; accounts outlive a restart of the process; and a
 * login finished after its ten minutes is refused. For that last one the process runs under libfaketime (Debian's
 * `libfaketime`, installed by .ci/run), whose offset file moves the process's wall clock while it runs; its monotonic
 * clock (timers) is left alone.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import {
  ensureBuilt,
  exited,
  GATEWAY_MAIN,
  type GatewayProcess as Gateway,
  spawnGateway,
} from '../support/gateway-process';
import { type FakeTokenEndpoint, startFakeTokenEndpoint } from '../support/fake-token-endpoint';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { expectAnthropicError, getJson } from '../support/gateway-harness';
import {
  codeFromLoginPage,
  loginThroughQuery,
  oauthProvider,
  oauthSettings,
  routeAll,
  startLogin,
} from '../support/oauth-gateway';

// Each test starts real gateway processes (one after another for restarts): seconds each on a loaded CI machine.
jest.setTimeout(30_000);

const LOGIN_SECONDS = 600;

/** Debian's libfaketime (multi-threaded variant), wherever the architecture puts it; undefined when not installed. */
function findLibfaketime(): string | undefined {
  const candidates = readdirSync('/usr/lib', { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join('/usr/lib', entry.name, 'faketime', 'libfaketimeMT.so.1'));
  return candidates.find((path) => existsSync(path));
}

const LIBFAKETIME = findLibfaketime();
// CI installs it (.ci/run); elsewhere the expiry test is skipped, and the unit spec of the login store still covers it.
const withFaketime = LIBFAKETIME ? it : it.skip;
if (!LIBFAKETIME) {
  process.stdout.write(
    'oauth-process: libfaketime is not installed (apt-get install -y libfaketime); skipping the login expiry test\n',
  );
}

describe('the OAuth token store of the gateway process', () => {
  let tokens: FakeTokenEndpoint;
  let upstream: FakeUpstream;
  let dir: string;
  let storeDir: string;
  let storePath: string;
  let configPath: string;
  const running: Gateway[] = [];

  beforeAll(async () => {
    ensureBuilt();
    [tokens, upstream] = await Promise.all([startFakeTokenEndpoint(), startFakeUpstream()]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([tokens?.close(), upstream?.close()]);
  });

  beforeEach(() => {
    tokens.reset();
    upstream.reset();
    tokens.addAccount({ email: 'alice@example.com', plan: 'claude_max' });
    tokens.addAccount({ email: 'bob@example.com', plan: 'claude_pro' });
    dir = mkdtempSync(join(tmpdir(), 'balancer-oauth-process-'));
    // The store in a folder of its own, so that a stray temporary file beside it would show.
    storeDir = mkdtempSync(join(tmpdir(), 'balancer-oauth-store-'));
    storePath = join(storeDir, 'oauth-tokens.json');
    configPath = join(dir, 'providers.yaml');
    writeFileSync(
      configPath,
      stringify({
        providers: [oauthProvider('subscription', upstream.url)],
        model_routes: routeAll('subscription'),
        settings: { oauth: oauthSettings(tokens, storePath), shutdown_grace: 5, log_file_path: '' },
      }),
    );
  });

  afterEach(async () => {
    for (const gateway of running.splice(0)) {
      if (gateway.child.exitCode === null) gateway.child.kill('SIGKILL');
      await exited(gateway.child);
    }
    rmSync(dir, { recursive: true, force: true });
    rmSync(storeDir, { recursive: true, force: true });
  });

  describe('when the token store file is corrupt', () => {
    const secret = 'test-oauth-access-EveryCharacterOfThisTokenIsSecret0123456789abcdef';
    const corrupt: [string, string][] = [
      ['cut short', `{"version":1,"accounts":[{"email":"a@example.com","accessToken":"${secret}"`],
      ['with a bare token', `{"version":1,"accounts":[{"email":"a@example.com","accessToken":${secret}}]}\n`],
      ['not a list of accounts', '{"version":1,"accounts":"alice@example.com"}\n'],
      ['an account without tokens', '{"version":1,"accounts":[{"email":"a@example.com","status":"ok"}]}\n'],
      ['not JSON at all', 'accessToken: test-oauth-access-yaml-is-not-json\n'],
    ];

    it.each(corrupt)('should exit non-zero naming the file and leave it untouched (%s)', (_name, text) => {
      writeFileSync(storePath, text, { mode: 0o640 });
      chmodSync(storePath, 0o640);
      const before = readFileSync(storePath);
      const { mtimeMs } = statSync(storePath);

      const result = spawnSync(process.execPath, [GATEWAY_MAIN, '--config', configPath, '--port', '0'], {
        cwd: dir,
        env: { PATH: process.env.PATH },
        encoding: 'utf8',
        timeout: 30_000,
        stdio: ['ignore', 'pipe', 'pipe'],
      });

      const output = `${result.stdout}${result.stderr}`;
      expect(result.error).toBeUndefined();
      expect(result.signal).toBeNull();
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain(storePath);
      expect(result.stderr).toMatch(/token store/i);
      expect(result.stderr).toMatch(/left untouched|cannot be read|not valid JSON|does not hold/);
      expect(output).not.toContain(secret);
      expect(readFileSync(storePath).equals(before)).toBe(true);
      expect(statSync(storePath).mtimeMs).toBe(mtimeMs);
      expect(statSync(storePath).mode & 0o777).toBe(0o640);
      expect(readdirSync(storeDir)).toEqual(['oauth-tokens.json']);
    });
  });

  it('should keep the logged-in accounts across a restart of the process', async () => {
    const first = await spawnGateway(configPath, dir);
    running.push(first);
    await loginThroughQuery(first.url, tokens, 'alice@example.com');
    expect(await first.stop()).toBe(0);
    const stored = readFileSync(storePath, 'utf8');
    expect(statSync(storePath).mode & 0o777).toBe(0o600);

    const second = await spawnGateway(configPath, dir);
    running.push(second);
    const status = await getJson(`${second.url}/oauth/status`);

    expect(status.status).toBe(200);
    expect(status.body.accounts).toEqual([
      expect.objectContaining({ email: 'alice@example.com', plan: 'claude_max', state: 'ok' }),
    ]);
    expect(readFileSync(storePath, 'utf8')).toBe(stored);
    expect(second.output()).not.toContain(JSON.parse(stored).accounts[0].accessToken as string);
  });

  withFaketime('should refuse a login finished after its ten minutes, and finish one just before', async () => {
    const offsetFile = join(dir, 'faketime-offset');
    writeFileSync(offsetFile, '+0\n');
    const gateway = await spawnGateway(configPath, dir, {
      LD_PRELOAD: LIBFAKETIME!,
      FAKETIME_TIMESTAMP_FILE: offsetFile,
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    });
    running.push(gateway);

    tokens.loginAs('alice@example.com');
    const late = (await codeFromLoginPage((await startLogin(gateway.url)).login_url)).split('#');
    tokens.loginAs('bob@example.com');
    const inTime = (await codeFromLoginPage((await startLogin(gateway.url)).login_url)).split('#');
    const callback = (pasted: string[]) =>
      getJson(
        `${gateway.url}/oauth/callback?${new URLSearchParams({ code: pasted[0]!, state: pasted[1]! }).toString()}`,
        {
          accept: 'application/json',
        },
      );

    writeFileSync(offsetFile, `+${LOGIN_SECONDS - 15}\n`);
    const beforeDeadline = await callback(inTime);
    writeFileSync(offsetFile, `+${LOGIN_SECONDS + 15}\n`);
    const afterDeadline = await callback(late);

    expect(beforeDeadline.status).toBe(200);
    expect(beforeDeadline.body.account).toMatchObject({ email: 'bob@example.com', plan: 'claude_pro' });
    // The process's clock did move: it dated the new token's expiry almost ten minutes after this process would.
    const ahead = Date.parse(beforeDeadline.body.account.expires_at as string) - (Date.now() + tokens.expiresIn * 1000);
    expect(ahead).toBeGreaterThan((LOGIN_SECONDS - 60) * 1000);
    expectAnthropicError(afterDeadline, 400, 'invalid_request_error');
    expect(afterDeadline.body.error.message).toMatch(/expired/);
    expect(tokens.calls.filter((c) => c.grant_type === 'authorization_code')).toHaveLength(1);
    const status = await getJson(`${gateway.url}/oauth/status`);
    expect((status.body.accounts as { email: string }[]).map((a) => a.email)).toEqual(['bob@example.com']);
  });
});
