import { Logger } from '@nestjs/common';
import { buildConfig } from '../../src/config/config-loader';
import { ActiveConfig } from '../../src/config/active-config';
import { ConfigSource } from '../../src/config/config-source';
import { MetricsService } from '../../src/metrics/metrics.service';
import { AdapterRegistry } from '../../src/providers/adapter-registry';
import { ProvidersService } from '../../src/providers/providers.service';
import { AttemptRecorder } from '../../src/messages/attempt-recorder';
import { UpstreamExecutor } from '../../src/messages/upstream-executor';
import { RequestBody } from '../../src/messages/request-body';
import type { MessageRequest } from '../../src/messages/message-request';
import { InMemoryHealthStore } from '../../src/state/in-memory-health.store';
import { InMemorySelectionStore } from '../../src/state/in-memory-selection.store';
import { AccountRefresher } from '../../src/oauth/account-refresher';
import { AccountService } from '../../src/oauth/account.service';
import { InMemoryAccountStateStore } from '../../src/oauth/account-state.store';
import { InMemoryTokenStore } from '../../src/oauth/in-memory-token.store';
import { TokenEndpointClient } from '../../src/oauth/token-endpoint.client';
import type { TokenStore } from '../../src/oauth/token.store';

import { InMemoryAccountShareStore } from '../../src/oauth/account-share.store';
import { FairShare } from '../../src/oauth/fair-share';

// The services log through Nest's Logger; the tests read outcomes, not log lines.
Logger.overrideLogger(false);

/** The upstream side of the gateway wired by hand, as Nest would, around a config document. */
export function upstreamServices(document: unknown, tokens: TokenStore = new InMemoryTokenStore()) {
  const config = buildConfig(document, 'middle-tier.yaml', {});
  const active = new ActiveConfig(new ConfigSource('middle-tier.yaml', config, {}, {}));
  const metrics = new MetricsService();
  const health = new InMemoryHealthStore();
  const selection = new InMemorySelectionStore();
  const providers = new ProvidersService(active, metrics, health, selection);
  const recorder = new AttemptRecorder(providers, health, metrics);
  const accountStates = new InMemoryAccountStateStore();
  const tokenEndpoint = new TokenEndpointClient(() => active.runtime.config.settings.oauth);
  const refresher = new AccountRefresher(tokens, accountStates, tokenEndpoint, metrics, active);
  const fairShare = new FairShare(new InMemoryAccountShareStore(), accountStates, active);
  const accounts = new AccountService(tokens, accountStates, refresher, selection, metrics, active, fairShare);
  const executor = new UpstreamExecutor(providers, new AdapterRegistry(), health, recorder, accounts);
  return {
    runtime: active.runtime,
    metrics,
    health,
    providers,
    recorder,
    executor,
    tokens,
    accountStates,
    accounts,
    refresher,
    tokenEndpoint,
  };
}

/** A request as the messages route would have accepted it. */
export function messageRequest(body: Record<string, unknown>): MessageRequest {
  const scanned = RequestBody.scan(Buffer.from(JSON.stringify(body)));
  return {
    requestId: 'req_middle',
    body: scanned,
    model: body.model as string,
    stream: body.stream === true,
    headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    query: '',
    receivedAt: Date.now(),
  };
}

export const provider = (name: string, url: string) => ({
  name,
  type: 'anthropic',
  base_url: url,
  auth_type: 'api_key',
  auth_value: `sk-middle-${name}-value`,
});
