/**
 * A team's worth of Claude Codes and more at once: 2 000 slow streams (a delta every 200 ms, about 3.6 s each) opened
 * together and held to the end, on each state backend and through two replicas sharing Redis. None may be lost or cut
 * short, and the gateway's resident memory must stay under 300 MB. The figures are printed for the closing notes.
 */
import { randomUUID } from 'node:crypto';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { routeAll } from '../support/oauth-gateway';
import { anthropicProvider } from '../support/gateway-harness';
import type { GatewayProcess } from '../support/gateway-process';
import { holdStreams, readProcess, SLOW_CONTENT, SLOW_TEXT, startGatewayProcess, watchMemory } from './load-kit';

const STREAMS = 2_000;
const RSS_LIMIT_MB = 300;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

function teamConfig(upstream: FakeUpstream, backend: 'memory' | 'redis', prefix: string) {
  return {
    providers: [anthropicProvider('main', upstream.url)],
    model_routes: routeAll('main'),
    settings: { state: { backend, redis_url: REDIS_URL, key_prefix: prefix } },
  };
}

describe(`${STREAMS} slow streams held at once`, () => {
  let upstream: FakeUpstream;
  const gateways: GatewayProcess[] = [];

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    upstream.setDefault({ kind: 'message', content: SLOW_CONTENT, eventDelayMs: 200 });
  });

  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((g) => g.stop()));
  });

  afterAll(async () => {
    await upstream?.close();
  });

  async function holdAll(replicas: GatewayProcess[], label: string): Promise<void> {
    const before = replicas.map((g) => readProcess(g.child.pid!));
    const watches = replicas.map((g) => watchMemory(g.child.pid!));
    const outcome = await holdStreams(
      replicas.map((g) => g.url),
      STREAMS,
      SLOW_TEXT,
    );
    const memory = watches.map((w) => w.stop());
    const rss = replicas.map(
      (_, i) => `start ${before[i]!.rssMb} MB, peak ${memory[i]!.peakMb} MB, end ${memory[i]!.lastMb} MB`,
    );
    process.stdout.write(`${label}: ${outcome.complete}/${STREAMS} streams complete; RSS ${rss.join(' | ')}\n`);
    expect(outcome.samples).toEqual([]);
    expect(outcome).toMatchObject({ complete: STREAMS, failed: 0 });
    for (const reading of memory) expect(reading.peakMb).toBeLessThan(RSS_LIMIT_MB);
  }

  it('should hold every stream to its end on the memory backend, under 300 MB', async () => {
    gateways.push(await startGatewayProcess(teamConfig(upstream, 'memory', 'unused:')));
    await holdAll(gateways, 'memory backend');
  });

  it('should hold every stream to its end on the redis backend, under 300 MB', async () => {
    gateways.push(await startGatewayProcess(teamConfig(upstream, 'redis', `load-${randomUUID()}:`)));
    await holdAll(gateways, 'redis backend');
  });

  it('should hold every stream to its end through two replicas sharing Redis, each under 300 MB', async () => {
    const config = teamConfig(upstream, 'redis', `load-${randomUUID()}:`);
    gateways.push(...(await Promise.all([startGatewayProcess(config), startGatewayProcess(config)])));
    await holdAll(gateways, 'two replicas on redis');
  });
});
