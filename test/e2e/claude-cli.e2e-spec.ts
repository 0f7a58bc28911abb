/**
 * The real Claude Code CLI (`claude -p`, pinned dev dependency) against the real gateway, in front of fake upstreams.
 * These tests assert what a user sees (exit code, the JSON result) and what the providers received.
 */
import {
  assertClaudeCliInstalled,
  blocksOf,
  type ClaudeAuth,
  type ClaudeRunResult,
  describeRun,
  lastUserToolResults,
  messagesOf,
  runClaude,
  toolResultText,
  writeAnthropicAnswer,
} from '../support/claude-cli';
import {
  type FakeBehaviour,
  type FakeUpstream,
  type RecordedRequest,
  startFakeUpstream,
} from '../support/fake-upstream';
import { anthropicProvider, type RunningGateway, startGateway } from '../support/gateway-harness';

jest.setTimeout(90_000);

const PLAIN_TEXT = 'Hello from the fake provider';
const FINAL_TEXT = 'Tool output was: hi';
const TOOL_ID = 'toolu_cli_e2e_0001';
const TOOL_INPUT = { command: 'echo hi', description: 'Print hi' };
const CLI_KEY = 'sk-cli-e2e-not-a-provider-key';

const plainAnswer: FakeBehaviour = { kind: 'message', content: [{ type: 'text', text: PLAIN_TEXT }] };

/** Answers by looking at the request: a tool_result in the last user message gets the final text, anything else the Bash call. */
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

function routes(...providers: string[]) {
  return { '*': providers.map((provider, i) => ({ provider, model: 'passthrough', priority: i + 1 })) };
}

function messageRequests(fake: FakeUpstream): RecordedRequest[] {
  return fake.requests.filter((r) => r.path.split('?')[0]!.endsWith('/v1/messages'));
}

async function claude(
  gateway: RunningGateway,
  prompt: string,
  args: string[] = [],
  auth: ClaudeAuth = { apiKey: CLI_KEY },
) {
  return runClaude({ baseUrl: gateway.url, prompt, auth, args });
}

function expectSuccess(run: ClaudeRunResult, text: string): void {
  if (run.code !== 0 || run.timedOut || run.json === undefined) throw new Error(describeRun(run));
  expect(run.json).toMatchObject({ type: 'result', is_error: false });
  expect(run.json.result).toContain(text);
}

/** The plain-answer request as the CLI sends it, through the gateway. */
function expectPlainRequest(request: RecordedRequest | undefined, providerName: string): void {
  expect(request).toBeDefined();
  expect(request!.path).toBe('/v1/messages?beta=true');
  expect(request!.body.stream).toBe(true);
  expect(request!.headers['x-api-key']).toBe(`sk-provider-${providerName}-secret`);
  expect(request!.headers['user-agent']).toMatch(/^claude-cli\//);
  expect(messagesOf(request!.body).some((m) => m.role === 'system')).toBe(true);
}

/** The two requests of a tool round trip: the Bash call, then its result. */
function expectToolRoundTrip(requests: RecordedRequest[]): void {
  expect(requests).toHaveLength(2);
  const [first, second] = requests;
  expect(lastUserToolResults(first!.body)).toEqual([]);
  expect((first!.body.tools as { name: string }[]).map((t) => t.name)).toContain('Bash');

  const messages = messagesOf(second!.body);
  const toolUses = messages
    .filter((m) => m.role === 'assistant')
    .flatMap(blocksOf)
    .filter((b) => b.type === 'tool_use');
  expect(toolUses).toEqual([
    expect.objectContaining({ type: 'tool_use', id: TOOL_ID, name: 'Bash', input: TOOL_INPUT }),
  ]);
  const results = lastUserToolResults(second!.body);
  expect(results).toHaveLength(1);
  expect(results[0]!.tool_use_id).toBe(TOOL_ID);
  expect(results[0]!.is_error).not.toBe(true);
  expect(toolResultText(results[0]!).trim()).toBe('hi');
  expect(second!.body.stream).toBe(true);
}

describe('Claude Code CLI through the gateway', () => {
  beforeAll(() => assertClaudeCliInstalled());

  describe('with one healthy provider', () => {
    let fake: FakeUpstream;
    let gateway: RunningGateway;

    beforeAll(async () => {
      fake = await startFakeUpstream();
      gateway = await startGateway({ providers: [anthropicProvider('main', fake.url)], model_routes: routes('main') });
    });

    afterAll(async () => {
      await gateway?.close();
      await fake?.close();
    });

    beforeEach(() => fake.reset());

    it('should print the provider answer as the result of a plain prompt', async () => {
      fake.setDefault(plainAnswer);

      const run = await claude(gateway, 'say hello');

      expectSuccess(run, PLAIN_TEXT);
      const requests = messageRequests(fake);
      expect(requests).toHaveLength(1);
      expectPlainRequest(requests[0], 'main');
      expect(JSON.stringify(requests[0]!.headers)).not.toContain(CLI_KEY);
    });

    it('should run a Bash tool call and send its output back for the final answer', async () => {
      fake.setDefault(toolRoundTrip);

      const run = await claude(gateway, 'Please run the command `echo hi`', ['--allowedTools', 'Bash']);

      expectSuccess(run, FINAL_TEXT);
      expect(run.json.num_turns).toBe(2);
      expect(run.json.permission_denials).toEqual([]);
      expectToolRoundTrip(messageRequests(fake));
    });
  });

  describe('when the first provider fails', () => {
    const failures: [string, FakeBehaviour][] = [
      ['overloaded (529)', { kind: 'status', status: 529 }],
      ['resetting the connection', { kind: 'reset' }],
    ];
    let failing: FakeUpstream;
    let healthy: FakeUpstream;
    let gateway: RunningGateway;

    // A fresh gateway per test, so one test's failures (provider health, cooldown) do not shape the next.
    beforeEach(async () => {
      [failing, healthy] = await Promise.all([startFakeUpstream(), startFakeUpstream()]);
      gateway = await startGateway({
        providers: [anthropicProvider('failing', failing.url), anthropicProvider('healthy', healthy.url)],
        model_routes: routes('failing', 'healthy'),
      });
    });

    afterEach(async () => {
      await gateway?.close();
      await Promise.all([failing?.close(), healthy?.close()]);
    });

    it.each(failures)(
      'should answer a plain prompt from the second provider when the first is %s',
      async (_name, failure) => {
        failing.setDefault(failure);
        healthy.setDefault(plainAnswer);

        const run = await claude(gateway, 'say hello');

        expectSuccess(run, PLAIN_TEXT);
        expect(messageRequests(failing).length).toBeGreaterThanOrEqual(1);
        const answered = messageRequests(healthy);
        expect(answered).toHaveLength(1);
        expectPlainRequest(answered[0], 'healthy');
      },
    );

    it.each(failures)(
      'should complete a tool round trip on the second provider when the first is %s',
      async (_name, failure) => {
        failing.setDefault(failure);
        healthy.setDefault(toolRoundTrip);

        const run = await claude(gateway, 'Please run the command `echo hi`', ['--allowedTools', 'Bash']);

        expectSuccess(run, FINAL_TEXT);
        expect(run.json.num_turns).toBe(2);
        expect(messageRequests(failing).length).toBeGreaterThanOrEqual(1);
        expectToolRoundTrip(messageRequests(healthy));
      },
    );
  });

  describe('with client keys configured', () => {
    const ALICE_KEY = 'alice-key-9f3c2b7e41d04a6b8e5f';
    let fake: FakeUpstream;
    let gateway: RunningGateway;

    beforeAll(async () => {
      fake = await startFakeUpstream();
      gateway = await startGateway({
        providers: [anthropicProvider('main', fake.url)],
        model_routes: routes('main'),
        clients: [{ name: 'alice', key: ALICE_KEY }],
      });
    });

    afterAll(async () => {
      await gateway?.close();
      await fake?.close();
    });

    beforeEach(() => {
      fake.reset();
      fake.setDefault(plainAnswer);
    });

    function expectProviderCredentialOnly(): void {
      const requests = messageRequests(fake);
      expect(requests).toHaveLength(1);
      const { headers, rawBody } = requests[0]!;
      expect(headers['x-api-key']).toBe('sk-provider-main-secret');
      expect(headers.authorization).toBeUndefined();
      expect(JSON.stringify(headers)).not.toContain(ALICE_KEY);
      expect(rawBody).not.toContain(ALICE_KEY);
    }

    it('should accept the client key sent as ANTHROPIC_API_KEY and send only the provider key upstream', async () => {
      const run = await claude(gateway, 'say hello', [], { apiKey: ALICE_KEY });

      expectSuccess(run, PLAIN_TEXT);
      expectProviderCredentialOnly();
    });

    it('should accept the client key sent as ANTHROPIC_AUTH_TOKEN and send only the provider key upstream', async () => {
      const run = await claude(gateway, 'say hello', [], { authToken: ALICE_KEY });

      expectSuccess(run, PLAIN_TEXT);
      expectProviderCredentialOnly();
    });

    it('should fail the CLI run at once, without reaching a provider, when the client key is unknown', async () => {
      const run = await claude(gateway, 'say hello', [], { apiKey: 'alice-key-wrong' });

      // The gateway's 401 carries x-should-retry: false; without it the CLI retries ~10 times over minutes.
      expect(run.timedOut).toBe(false);
      expect(run.durationMs).toBeLessThan(15_000);
      expect(run.code).toBe(1);
      expect(run.json).toMatchObject({ type: 'result', is_error: true, api_error_status: 401 });
      expect(run.json.result).toContain('API Error: 401 Invalid client key.');
      expect(messageRequests(fake)).toHaveLength(0);
    });
  });
});
