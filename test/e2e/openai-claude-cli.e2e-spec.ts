/**
 * The real Claude Code CLI (`claude -p`) through the real gateway to a fake OpenAI-compatible upstream: Claude Code
 * must work through a `type: openai` provider, alone or as the failover target behind an Anthropic provider.
 */
import { assertClaudeCliInstalled, type ClaudeRunResult, describeRun, runClaude } from '../support/claude-cli';
import {
  type FakeBehaviour,
  type FakeUpstream,
  type RecordedRequest,
  startFakeUpstream,
} from '../support/fake-upstream';
import { anthropicProvider, type RunningGateway, startGateway } from '../support/gateway-harness';
import { openAiMessagesOf, openAiToolMessages, writeOpenAiAnswer } from '../support/openai-answers';

jest.setTimeout(90_000);

const PLAIN_TEXT = 'Hello from the fake OpenAI provider';
const FINAL_TEXT = 'Tool output was: hi';
const CALL_ID = 'call_cli_bash_0001';
const TOOL_INPUT = { command: 'echo hi', description: 'Print hi' };
const CLI_KEY = 'sk-cli-e2e-not-a-provider-key';
const OPENAI_KEY = 'sk-openai-cli-secret';

const plainAnswer: FakeBehaviour = { kind: 'openai', content: PLAIN_TEXT };

function toolText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return (content as { text?: unknown }[]).map((part) => (typeof part.text === 'string' ? part.text : '')).join('');
}

/** A Bash call first; once a tool message with the command's output comes back, the final text. */
const toolRoundTrip: FakeBehaviour = {
  kind: 'custom',
  handle: (_req, res, body) => {
    if (openAiToolMessages(body).some((m) => toolText(m.content).includes('hi'))) {
      writeOpenAiAnswer(res, body, { content: FINAL_TEXT });
    } else {
      writeOpenAiAnswer(res, body, {
        toolCalls: [{ id: CALL_ID, name: 'Bash', arguments: JSON.stringify(TOOL_INPUT) }],
      });
    }
  },
};

function chatRequests(fake: FakeUpstream): RecordedRequest[] {
  return fake.requests.filter((r) => r.path === '/v1/chat/completions');
}

function claude(gateway: RunningGateway, prompt: string, args: string[] = []): Promise<ClaudeRunResult> {
  return runClaude({ baseUrl: gateway.url, prompt, auth: { apiKey: CLI_KEY }, args });
}

function expectSuccess(run: ClaudeRunResult, text: string): void {
  if (run.code !== 0 || run.timedOut || run.json === undefined) throw new Error(describeRun(run));
  expect(run.json).toMatchObject({ type: 'result', is_error: false });
  expect(run.json.result).toContain(text);
}

/** The plain prompt as the OpenAI upstream received it. */
function expectPlainRequest(requests: RecordedRequest[]): void {
  expect(requests).toHaveLength(1);
  const { body, headers, rawBody } = requests[0]!;
  expect(body.model).toBe('gpt-cli');
  expect(body.stream).toBe(true);
  expect(body.stream_options).toEqual({ include_usage: true });
  expect(openAiMessagesOf(body)[0]?.role).toBe('system');
  expect(rawBody).not.toContain('x-anthropic-billing-header');
  expect(rawBody).not.toContain('cache_control');
  expect(headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
  expect(headers['x-api-key']).toBeUndefined();
  expect(JSON.stringify(headers)).not.toContain(CLI_KEY);
}

/** The two requests of the Bash round trip: the call, then its output as a tool message answering that call. */
function expectToolRoundTrip(requests: RecordedRequest[]): void {
  expect(requests).toHaveLength(2);
  const [first, second] = requests;
  expect(openAiToolMessages(first!.body)).toEqual([]);
  const toolNames = (first!.body.tools as { function: { name: string } }[]).map((t) => t.function.name);
  expect(toolNames).toContain('Bash');

  const messages = openAiMessagesOf(second!.body);
  const callAt = messages.findIndex((m) => m.role === 'assistant' && m.tool_calls !== undefined);
  expect(messages[callAt]?.tool_calls).toEqual([
    { id: CALL_ID, type: 'function', function: { name: 'Bash', arguments: JSON.stringify(TOOL_INPUT) } },
  ]);
  const toolMessage = messages[callAt + 1];
  expect(toolMessage).toMatchObject({ role: 'tool', tool_call_id: CALL_ID });
  expect(toolText(toolMessage!.content)).toContain('hi');
  expect(toolText(toolMessage!.content)).not.toMatch(/^Error/);
  expect(openAiToolMessages(second!.body)).toHaveLength(1);
}

describe('Claude Code CLI through the gateway to an OpenAI-compatible provider', () => {
  let anthropic: FakeUpstream;
  let openai: FakeUpstream;
  let gateway: RunningGateway | undefined;

  beforeAll(async () => {
    assertClaudeCliInstalled();
    [anthropic, openai] = await Promise.all([startFakeUpstream(), startFakeUpstream()]);
  });

  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    anthropic.reset();
    openai.reset();
  });

  afterAll(async () => {
    await Promise.all([anthropic?.close(), openai?.close()]);
  });

  const openAiProvider = () => ({
    name: 'oai',
    type: 'openai',
    base_url: `${openai.url}/v1`,
    auth_value: OPENAI_KEY,
  });

  /** A fresh gateway per test, so one test's failures (health, stickiness) do not shape the next. */
  async function start(withFailingAnthropic: boolean): Promise<RunningGateway> {
    const providers = withFailingAnthropic
      ? [anthropicProvider('claude', anthropic.url), openAiProvider()]
      : [openAiProvider()];
    gateway = await startGateway({
      providers,
      model_routes: {
        '*': providers.map((p, i) => ({
          provider: p.name,
          model: p.type === 'openai' ? 'gpt-cli' : 'passthrough',
          priority: i + 1,
        })),
      },
    });
    if (withFailingAnthropic) anthropic.setDefault({ kind: 'status', status: 529 });
    return gateway;
  }

  describe.each([
    ['alone', false],
    ['behind an Anthropic provider that is overloaded (529)', true],
  ])('with the OpenAI provider %s', (_name, withFailingAnthropic) => {
    it('should print the OpenAI answer as the result of a plain prompt', async () => {
      openai.setDefault(plainAnswer);

      const run = await claude(await start(withFailingAnthropic), 'say hello');

      expectSuccess(run, PLAIN_TEXT);
      expectPlainRequest(chatRequests(openai));
      if (withFailingAnthropic) {
        // The same request as the CLI sent it, billing line included: the OpenAI provider got it converted and stripped.
        expect(anthropic.requests.length).toBeGreaterThanOrEqual(1);
        expect(JSON.stringify(anthropic.requests[0]!.body.system)).toContain('x-anthropic-billing-header');
      }
    });

    it('should run a Bash tool call from an OpenAI tool call and send its output back as a tool message', async () => {
      openai.setDefault(toolRoundTrip);

      const run = await claude(await start(withFailingAnthropic), 'Please run the command `echo hi`', [
        '--allowedTools',
        'Bash',
      ]);

      expectSuccess(run, FINAL_TEXT);
      expect(run.json.num_turns).toBe(2);
      expect(run.json.permission_denials).toEqual([]);
      expectToolRoundTrip(chatRequests(openai));
      if (withFailingAnthropic) expect(anthropic.requests.length).toBeGreaterThanOrEqual(1);
    });
  });
});
