/**
 * The shipped team deployment: docker-compose.yml parsed by a real Compose (Debian's `docker-compose`, installed by
 * .ci/run; this machine has no Docker engine), and the Grafana dashboard's PromQL checked against the metrics the
 * gateway exports.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { MetricsService } from '../../src/metrics/metrics.service';

const root = resolve(__dirname, '..', '..');
const COMPOSE = '/usr/bin/docker-compose';
const withCompose = existsSync(COMPOSE) ? it : it.skip;
if (!existsSync(COMPOSE)) process.stdout.write('docker-compose: not installed; skipping the compose file check\n');

interface Panel {
  title: string;
  targets?: { expr: string }[];
}

describe('the team deployment', () => {
  withCompose('should be a compose file that Compose accepts, with two replicas on Redis behind one port', () => {
    const env = {
      PATH: process.env.PATH,
      BALANCER_ADMIN_KEY: 'admin-key-for-the-check',
      BALANCER_STATE_KEY: 'state-key-for-the-check',
      ALICE_KEY: 'alice-key-for-the-check',
      GRAFANA_ADMIN_PASSWORD: 'grafana-password-for-the-check',
      METRICS_KEY: 'metrics-key-for-the-check',
    };
    const checked = spawnSync(COMPOSE, ['-f', join(root, 'docker-compose.yml'), 'config'], { env, encoding: 'utf8' });
    expect(checked.stderr).not.toMatch(/ERROR/);
    expect(checked.status).toBe(0);
    const resolved = parse(checked.stdout) as {
      services: Record<string, { environment?: Record<string, string>; ports?: unknown[]; entrypoint?: string[] }>;
    };
    expect(Object.keys(resolved.services).sort()).toEqual([
      'balancer-a',
      'balancer-b',
      'gateway',
      'grafana',
      'prometheus',
      'redis',
    ]);
    for (const replica of ['balancer-a', 'balancer-b']) {
      expect(resolved.services[replica]!.environment).toMatchObject({
        STATE_BACKEND: 'redis',
        REDIS_URL: 'redis://redis:6379',
      });
      expect(resolved.services[replica]!.ports).toBeUndefined();
      expect(resolved.services[replica]!.environment!.METRICS_KEY).toBe(env.METRICS_KEY);
    }
    // Prometheus gets the same key, and its entrypoint writes it where the shipped scrape config reads it.
    const prometheus = resolved.services.prometheus!;
    expect(prometheus.environment!.METRICS_KEY).toBe(env.METRICS_KEY);
    const scrape = parse(readFileSync(join(root, 'config', 'prometheus', 'prometheus.yml'), 'utf8')) as {
      scrape_configs: { authorization?: { credentials_file?: string } }[];
    };
    const keyFile = scrape.scrape_configs[0]!.authorization!.credentials_file!;
    expect(prometheus.entrypoint!.join(' ')).toContain(`"$$METRICS_KEY" > ${keyFile} && exec /bin/prometheus`);
    const missing = spawnSync(COMPOSE, ['-f', join(root, 'docker-compose.yml'), 'config', '-q'], {
      env: { PATH: process.env.PATH },
      encoding: 'utf8',
    });
    // Secrets come from .env; without them Compose refuses, naming the variable, rather than starting unguarded.
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/BALANCER_ADMIN_KEY/);
  });

  it('should scrape every replica with the shipped Prometheus config', () => {
    const config = parse(readFileSync(join(root, 'config', 'prometheus', 'prometheus.yml'), 'utf8')) as {
      scrape_configs: { static_configs: { targets: string[] }[] }[];
    };
    expect(config.scrape_configs[0]!.static_configs[0]!.targets).toEqual(['balancer-a:9090', 'balancer-b:9090']);
  });

  it('should chart only metrics the gateway exports, in every panel of the Grafana dashboard', async () => {
    const exported = new Set((await new MetricsService().registry.getMetricsAsJSON()).map((metric) => metric.name));
    const folder = join(root, 'config', 'grafana', 'dashboards');
    const files = readdirSync(folder).filter((name) => name.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    const charted = new Set<string>();
    for (const file of files) {
      const dashboard = JSON.parse(readFileSync(join(folder, file), 'utf8')) as { panels: Panel[] };
      for (const panel of dashboard.panels) {
        expect(panel.targets?.length ?? 0).toBeGreaterThan(0);
        for (const { expr } of panel.targets ?? []) {
          for (const name of expr.match(/\b(balancer|nodejs|process)_[a-z0-9_]+/g) ?? []) {
            charted.add(name.replace(/_(bucket|sum|count)$/, ''));
          }
        }
      }
    }
    expect([...charted].filter((name) => !exported.has(name))).toEqual([]);
    for (const needed of [
      'balancer_requests_total',
      'balancer_failovers_total',
      'balancer_time_to_first_byte_seconds',
      'balancer_provider_healthy',
      'balancer_account_window_utilization',
      'balancer_cost_usd_total',
      'balancer_dedup_hits_total',
      'balancer_inflight_requests',
    ]) {
      expect(charted).toContain(needed);
    }
  });
});
