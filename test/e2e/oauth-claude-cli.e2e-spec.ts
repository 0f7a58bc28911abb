/**
 * The real Claude Code CLI (`claude -p`, pinned dev dependency) through the gateway's subscription-account provider,
 * in front of a fake upstream that checks subscription credentials the way Anthropic does. A recording proxy between
 * the CLI and the gateway keeps the bytes the CLI sent, so the test compares them with what reached the upstream:
 * the system prompt, the tools and everything else must arrive untouched; only the credential and the OAuth beta flag
 * change.
 */
import {
  assertClaudeCliInstalled,
  blocksOf,
  type ClaudeRunResult,
  describeRun,
  lastUserToolResults,
  messagesOf,
  runClaude,
  toolResultText,
  writeAnthropicAnswer,
} from '../support/claude-cli';
import { type FakeTokenEndpoint, startFakeTokenEndpoint } from '../support/fake-token-endpoint';
import {
  type FakeBehaviour,
  type FakeUpstream,
  OAUTH_BETA,
  type RecordedRequest,
  startFakeUpstream,
} from '../support/fake-upstream';
import { type RunningGateway, startGateway } from '../support/gateway-harness';
import {
  bearerOf,
  loginThroughQuery,
  oauthProvider,
  oauthSettings,
  routeAll,
  type TempTokenStore,
  tempTokenStore,
} from '../support/oauth-gateway';
import { type ProxiedRequest, type RecordingProxy, startRecordingProxy } from '../support/recording-proxy';

jest.setTimeout(90_000);

const ACCOUNT = 'alice@example.com';
const PLAIN_TEXT = 'Hello from the subscription account';
const FINAL_TEXT = 'Tool output was: hi';
const TOOL_ID = 'toolu_oauth_cli_0001';
const TOOL_INPUT = { command: 'echo hi', description: 'Print hi' };
const CLI_KEY = 'sk-cli-oauth-e2e-not-a-provider-key';
const IDENTITY_LINES = [
  "You are Claude Code, Anthropic's official CLI for Claude.",
  "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
];

const plainAnswer: FakeBehaviour = { kind: 'message', content: [{ type: 'text', text: PLAIN_TEXT }] };

const toolRoundTrip: FakeBehaviour = {
  kind: 'custom',
  handle: (_req, res, body) => {
    if (lastUserToolResults(body).length > 0) {
      writeAnthropicAnswer(res, body, [{ type: 'text', text: FINAL_TEXT }]);
    } else {
      writeAnthropicAnswer(res, body, [{ type: 'tool_use', id: TOOL_ID, name: 'Bash', input: TOOL_INPUT }], 'tool_use');
    }
  },
};

const isMessages = (path: string) => path.split('?')[0]!.endsWith('/v1/messages');

function expectSuccess(run: ClaudeRunResult, text: string): void {
  if (run.code !== 0 || run.timedOut || run.json === undefined) throw new Error(describeRun(run));
  expect(run.json).toMatchObject({ type: 'result', is_error: false });
  expect(run.json.result).toContain(text);
}

function betasOf(value: string | string[] | undefined): string[] {
  return (Array.isArray(value) ? value.join(',') : (value ?? ''))
    .split(',')
    .map((flag) => flag.trim())
    .filter(Boolean);
}

interface SystemBlock {
  type?: unknown;
  text?: unknown;
}

describe('Claude Code CLI through a subscription account', () => {
  let tokens: FakeTokenEndpoint;
  let upstream: FakeUpstream;
  let store: TempTokenStore;
  let gateway: RunningGateway;
  let proxy: RecordingProxy;
  let accessToken: string;

  beforeAll(async () => {
    assertClaudeCliInstalled();
    [tokens, upstream] = await Promise.all([startFakeTokenEndpoint(), startFakeUpstream()]);
    tokens.addAccount({ email: ACCOUNT, plan: 'claude_max' });
    store = tempTokenStore();
    gateway = await startGateway({
      providers: [oauthProvider('subscription', upstream.url)],
      model_routes: routeAll('subscription'),
      settings: { oauth: oauthSettings(tokens, store.path) },
    });
    proxy = await startRecordingProxy(gateway.url);
    await loginThroughQuery(gateway.url, tokens, ACCOUNT);
    accessToken = store.read().accounts[0]!.accessToken;
  });

  afterAll(async () => {
    await proxy?.close();
    await gateway?.close();
    await Promise.all([tokens?.close(), upstream?.close()]);
    store?.remove();
  });

  beforeEach(() => {
    upstream.reset();
    upstream.requireOAuth(tokens.upstreamCheck);
    proxy.reset();
  });

  const claude = (prompt: string, args: string[] = []) =>
    runClaude({ baseUrl: proxy.url, prompt, auth: { apiKey: CLI_KEY }, args });

  /** The CLI's message requests and the upstream's, paired in order; each pair must be the same request. */
  function pairs(): [ProxiedRequest, RecordedRequest][] {
    const sent = proxy.requests.filter((r) => r.method === 'POST' && isMessages(r.path));
    const received = upstream.requests.filter((r) => isMessages(r.path));
    expect(received).toHaveLength(sent.length);
    return sent.map((request, i) => [request, received[i]!]);
  }

  /** Everything but the credential and the OAuth flag arrives as the CLI sent it. */
  function expectUntouched([sent, received]: [ProxiedRequest, RecordedRequest]): void {
    expect(received.rawBody).toBe(sent.rawBody);
    expect(bearerOf(received.headers)).toBe(accessToken);
    expect(tokens.emailFor(bearerOf(received.headers)!)).toBe(ACCOUNT);
    expect(received.headers['x-api-key']).toBeUndefined();
    expect(JSON.stringify(received.headers)).not.toContain(CLI_KEY);
    const cliBetas = betasOf(sent.headers['anthropic-beta']);
    expect(received.betas).toEqual(cliBetas.includes(OAUTH_BETA) ? cliBetas : [...cliBetas, OAUTH_BETA]);
    expect(received.headers['anthropic-version']).toBe(sent.headers['anthropic-version']);
    expect(received.headers['user-agent']).toBe(sent.headers['user-agent']);
    expect(received.headers['user-agent']).toMatch(/^claude-cli\//);

    // What makes it Claude Code's, and what the account's answer depends on, spelled out.
    const system = received.body.system as SystemBlock[];
    expect(Array.isArray(system)).toBe(true);
    const texts = system.map((block) => (typeof block.text === 'string' ? block.text : ''));
    expect(texts[0]).toMatch(/^x-anthropic-billing-header: cc_version=/);
    expect(texts.some((text) => IDENTITY_LINES.some((line) => text.startsWith(line)))).toBe(true);
    const tools = received.body.tools as { name: string }[];
    expect(tools.length).toBeGreaterThan(0);
    expect(tools).toEqual(JSON.parse(sent.rawBody).tools);
  }

  it("should print the account's answer to a plain prompt, the CLI's request forwarded untouched", async () => {
    upstream.setDefault(plainAnswer);

    const run = await claude('say hello');

    expectSuccess(run, PLAIN_TEXT);
    const requests = pairs();
    expect(requests).toHaveLength(1);
    expectUntouched(requests[0]!);
    expect(requests[0]![1].body.stream).toBe(true);
  });

  it('should complete a Bash tool round trip on the account', async () => {
    upstream.setDefault(toolRoundTrip);

    const run = await claude('Please run the command `echo hi`', ['--allowedTools', 'Bash']);

    expectSuccess(run, FINAL_TEXT);
    expect(run.json.num_turns).toBe(2);
    expect(run.json.permission_denials).toEqual([]);
    const requests = pairs();
    expect(requests).toHaveLength(2);
    for (const pair of requests) expectUntouched(pair);

    const [first, second] = requests.map(([, received]) => received.body as Record<string, unknown>);
    expect(lastUserToolResults(first)).toEqual([]);
    expect((first!.tools as { name: string }[]).map((t) => t.name)).toContain('Bash');
    const toolUses = messagesOf(second!)
      .filter((m) => m.role === 'assistant')
      .flatMap(blocksOf)
      .filter((b) => b.type === 'tool_use');
    expect(toolUses).toEqual([
      expect.objectContaining({ type: 'tool_use', id: TOOL_ID, name: 'Bash', input: TOOL_INPUT }),
    ]);
    const results = lastUserToolResults(second!);
    expect(results).toHaveLength(1);
    expect(results[0]!.tool_use_id).toBe(TOOL_ID);
    expect(results[0]!.is_error).not.toBe(true);
    expect(toolResultText(results[0]!).trim()).toBe('hi');
    // The same system prompt and tools on both turns: the account's prompt cache holds across the tool loop.
    expect(second!.system).toEqual(first!.system);
    expect(second!.tools).toEqual(first!.tools);
  });
});
