import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import pino from 'pino';
import { type Dispatcher, request } from 'undici';
import { stringify } from 'yaml';
import { createGatewayApp } from '../../src/bootstrap';
import { loadConfigFile } from '../../src/config/config-loader';
import { ConfigSource } from '../../src/config/config-source';
import { MetricsService } from '../../src/metrics/metrics.service';
import { ProvidersService } from '../../src/providers/providers.service';
import { SERVER_LIMITS, type ServerLimits } from '../../src/server/server-limits';

export interface RunningGateway {
  readonly url: string;
  readonly app: NestFastifyApplication;
  readonly configPath: string;
  readonly providers: ProvidersService;
  readonly metrics: MetricsService;
  /** Rewrites the config file (for reload tests). */
  writeConfig(document: unknown): void;
  close(): Promise<void>;
}

/** A provider entry pointing at a fake upstream. */
export function anthropicProvider(name: string, url: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    type: 'anthropic',
    base_url: url,
    auth_type: 'api_key',
    auth_value: `sk-provider-${name}-secret`,
    ...extra,
  };
}

export interface GatewayOptions {
  /** Shorter server limits, so tests see timeouts and caps act in seconds. */
  readonly serverLimits?: Partial<ServerLimits>;
}

/** Starts the real application (same wiring as main.ts) on 127.0.0.1, port 0, from a real YAML file. */
export async function startGateway(
  document: unknown,
  env: NodeJS.ProcessEnv = {},
  options: GatewayOptions = {},
): Promise<RunningGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'balancer-test-'));
  const configPath = join(dir, 'providers.yaml');
  // Usage is journalled beside the config, never into the checkout's ./data.
  const writeConfig = (doc: unknown) =>
    writeFileSync(configPath, stringify(withUsageStore(doc, join(dir, 'usage.jsonl'))));
  writeConfig(document);
  const overrides = { host: '127.0.0.1', port: 0 };
  const source = new ConfigSource(configPath, loadConfigFile(configPath, env, overrides), overrides, env);
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const { app } = await createGatewayApp(source, logger, { ...SERVER_LIMITS, ...options.serverLimits });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    configPath,
    providers: app.get(ProvidersService),
    metrics: app.get(MetricsService),
    writeConfig,
    close: () => app.close(),
  };
}

function withUsageStore(document: unknown, path: string): unknown {
  if (typeof document !== 'object' || document === null) return document;
  const doc = document as { settings?: { usage?: { store?: string } } };
  if (doc.settings?.usage?.store !== undefined) return document;
  return { ...doc, settings: { ...doc.settings, usage: { ...doc.settings?.usage, store: path } } };
}

export const userMessage = (text = 'hi') => [{ role: 'user', content: text }];

export interface JsonResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
}

/** POSTs JSON and reads the whole answer (SSE included, as text). */
export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse> {
  return readResponse(
    await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
  );
}

export async function getJson(url: string, headers: Record<string, string> = {}): Promise<JsonResponse> {
  return readResponse(await request(url, { headers }));
}

async function readResponse(response: Dispatcher.ResponseData): Promise<JsonResponse> {
  const text = await response.body.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.statusCode, headers: response.headers, body: parsed, text };
}

/** An error the gateway produced: its status, Anthropic's shape with a message, and the request id header. */
export function expectAnthropicError(response: JsonResponse, status: number, type: string): void {
  expect(response.status).toBe(status);
  expect(response.body).toMatchObject({ type: 'error', error: { type, message: expect.any(String) } });
  expect(response.body.error.message).not.toBe('');
  expect(response.headers['x-request-id']).toEqual(expect.any(String));
}

/** The SSE events of a stream body, parsed: [{event, data}]. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function sseEvents(text: string): { event: string; data: any }[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim())
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? '';
      const data = /^data: (.*)$/m.exec(block)?.[1] ?? 'null';
      return { event, data: JSON.parse(data) as unknown };
    });
}

/** Reads a metric's value from the gateway's registry, 0 when the series does not exist yet. */
export async function metricValue(
  gateway: RunningGateway,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const metric = await gateway.metrics.registry.getSingleMetric(name)?.get();
  const series = metric?.values.find((v) =>
    Object.entries(labels).every(([key, value]) => String((v.labels as Record<string, unknown>)[key]) === value),
  );
  return series?.value ?? 0;
}
