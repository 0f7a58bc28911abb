/**
 * The real Prometheus server (Debian's `prometheus`, installed by .ci/run) scraping a running gateway with the
 * shipped scrape config, and promtool checking that config and the gateway's /metrics. Skipped, saying so, where
 * Prometheus is not installed.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { parse, stringify } from 'yaml';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { eventually } from '../support/e2e-helpers';
import {
  anthropicProvider,
  getJson,
  postJson,
  type RunningGateway,
  startGateway,
  userMessage,
} from '../support/gateway-harness';
import { exited, freePort } from '../support/gateway-process';

const SHIPPED = resolve(__dirname, '..', '..', 'config', 'prometheus', 'prometheus.yml');
const METRICS_KEY = 'metrics-key-for-the-prometheus-test';
const INSTALLED = existsSync('/usr/bin/prometheus') && existsSync('/usr/bin/promtool');
const withPrometheus = INSTALLED ? describe : describe.skip;
if (!INSTALLED) process.stdout.write('prometheus: not installed (apt-get install -y prometheus); skipping its tests\n');

jest.setTimeout(60_000);

interface QueryAnswer {
  status: string;
  data: { result: { metric: Record<string, string>; value: [number, string] }[] };
}

withPrometheus('the real Prometheus scraping the gateway', () => {
  let first: FakeUpstream;
  let second: FakeUpstream;
  let gateway: RunningGateway;
  let prometheus: ChildProcess | undefined;
  let dir: string;
  let api: string;

  beforeAll(async () => {
    [first, second] = await Promise.all([startFakeUpstream(), startFakeUpstream()]);
    gateway = await startGateway({
      providers: [anthropicProvider('first', first.url), anthropicProvider('second', second.url)],
      model_routes: {
        '*': [
          { provider: 'first', model: 'passthrough', priority: 1 },
          { provider: 'second', model: 'passthrough', priority: 2 },
        ],
      },
      settings: { deduplication: { enabled: false }, sticky_provider_duration: 0, metrics_key: METRICS_KEY },
    });
    first.enqueue({ kind: 'status', status: 500, message: 'boom' });
    for (let i = 0; i < 3; i += 1) {
      const answer = await postJson(`${gateway.url}/v1/messages`, {
        model: 'claude-sonnet-4-5',
        max_tokens: 5,
        messages: userMessage(`scraped ${i}`),
      });
      expect(answer.status).toBe(200);
    }

    dir = mkdtempSync(join(tmpdir(), 'balancer-prometheus-'));
    const shipped = parse(readFileSync(SHIPPED, 'utf8')) as {
      global: Record<string, unknown>;
      scrape_configs: { static_configs: { targets: string[] }[]; authorization: { credentials_file: string } }[];
    };
    shipped.global.scrape_interval = '1s';
    shipped.scrape_configs[0]!.static_configs = [{ targets: [new URL(gateway.url).host] }];
    // The shipped authorization block, with the key file where this test can write it (compose writes it for real).
    writeFileSync(join(dir, 'metrics-key'), METRICS_KEY);
    shipped.scrape_configs[0]!.authorization.credentials_file = join(dir, 'metrics-key');
    writeFileSync(join(dir, 'prometheus.yml'), stringify(shipped));
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      '/usr/bin/prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: 'ignore' },
    );
  });

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      prometheus.kill('SIGTERM');
      await exited(prometheus);
    }
    await gateway?.close();
    await Promise.all([first?.close(), second?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const query = async (promql: string): Promise<QueryAnswer['data']['result']> => {
    try {
      const response = await request(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await response.body.json()) as QueryAnswer;
      return body.status === 'success' ? body.data.result : [];
    } catch {
      return [];
    }
  };

  it('should scrape the contract metrics with the values of the requests made', async () => {
    // /metrics is closed without the key, so a scrape that succeeds sent it.
    expect((await getJson(`${gateway.url}/metrics`)).status).toBe(401);
    await eventually(async () => (await query('up{job="claude-balancer"}'))[0]?.value[1] === '1', 'a scrape', 30_000);
    const requests = await query('sum by (provider, status) (balancer_requests_total)');
    // The first request failed over from first (a 500) to second; the next two were answered by first.
    expect(requests.map((r) => [r.metric.provider, r.metric.status, r.value[1]]).sort()).toEqual([
      ['first', '200', '2'],
      ['second', '200', '1'],
    ]);
    const failovers = await query('sum(balancer_failovers_total)');
    expect(failovers[0]?.value[1]).toBe('1');
    const healthy = await query('balancer_provider_healthy');
    expect(Object.fromEntries(healthy.map((r) => [r.metric.provider, r.value[1]]))).toEqual({
      first: '1',
      second: '1',
    });
    const names = await getJson(`${api}/api/v1/label/__name__/values`);
    for (const name of [
      'balancer_requests_total',
      'balancer_request_duration_seconds_bucket',
      'balancer_time_to_first_byte_seconds_bucket',
      'balancer_upstream_attempts_total',
      'balancer_tokens_total',
      'balancer_inflight_requests',
    ]) {
      expect(names.body.data).toContain(name);
    }
  });

  it('should pass promtool on the shipped config and on /metrics', async () => {
    // The shipped file names compose's key file, which exists only in the container: its syntax here, and the whole
    // check on the copy this test runs (the same file with the key file moved).
    const syntax = spawnSync('/usr/bin/promtool', ['check', 'config', '--syntax-only', SHIPPED], { encoding: 'utf8' });
    expect(`${syntax.stdout}${syntax.stderr}`).toContain('SUCCESS');
    expect(syntax.status).toBe(0);
    const config = spawnSync('/usr/bin/promtool', ['check', 'config', join(dir, 'prometheus.yml')], {
      encoding: 'utf8',
    });
    expect(config.status).toBe(0);
    const metrics = await getJson(`${gateway.url}/metrics`, { authorization: `Bearer ${METRICS_KEY}` });
    const lint = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: metrics.text, encoding: 'utf8' });
    expect(`${lint.stdout}${lint.stderr}`).toBe('');
    expect(lint.status).toBe(0);
  });
});
