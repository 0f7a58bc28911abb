/**
 * Every fault of the malformed upstream, as provider 1, with a healthy fake as provider 2, for streaming and
 * non-streaming requests. The client must get a normal answer (from provider 2 when provider 1's answer is broken
 * before anything reached the client), or, when the fault comes after content was relayed, a stream that ends with
 * an SSE error event. Never a 5xx for a fault provider 2 could serve, never a hang.
 */
import { gunzipSync, inflateSync, brotliDecompressSync } from 'node:zlib';
import { request } from 'undici';
import { withTimeout } from '../support/e2e-helpers';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { anthropicProvider, type RunningGateway, startGateway } from '../support/gateway-harness';
import {
  HUGE_TEXT_BYTES,
  MALFORMED_TEXT,
  type MalformedUpstream,
  PARTIAL_TEXT,
  startMalformedUpstream,
  type UpstreamFault,
} from '../support/malformed-upstream';

const MODEL = 'claude-sonnet-x';
const HEALTHY_TEXT = 'Hello from fake';
const HUGE_TEXT = 'x'.repeat(HUGE_TEXT_BYTES);
/** Short upstream timeouts, so that silence fails over in a second or two. */
const TIMEOUTS = { connect: 2, first_byte: 2, idle: 1 };
const REQUEST_BOUND_MS = 20_000;

type Outcome =
  /** Failover: a normal answer from provider 2. */
  | { kind: 'second' }
  /** Provider 1's own answer, complete and intact. */
  | { kind: 'first'; text: string }
  /** A normal answer from whichever provider (the fault is one a gateway may tolerate or refuse). */
  | { kind: 'either' }
  /** Stream only: provider 1's start and first content, then an SSE error event of one of these types. */
  | { kind: 'error-event'; types: string[] };

const second: Outcome = { kind: 'second' };
const either: Outcome = { kind: 'either' };
const first = (text = MALFORMED_TEXT): Outcome => ({ kind: 'first', text });
const errorEvent = (...types: string[]): Outcome => ({ kind: 'error-event', types });

interface FaultCase {
  readonly fault: UpstreamFault;
  readonly stream: Outcome;
  readonly message: Outcome;
}

const ANTHROPIC_FAULTS: FaultCase[] = [
  { fault: 'valid', stream: first(), message: first() },
  { fault: 'invalid-json', stream: second, message: second },
  { fault: 'html-page', stream: second, message: second },
  { fault: 'html-message-start', stream: second, message: second },
  { fault: 'out-of-order', stream: second, message: second },
  { fault: 'garbage-after-content', stream: errorEvent('api_error'), message: second },
  { fault: 'huge-first-event', stream: second, message: first(HUGE_TEXT) },
  { fault: 'huge-delta', stream: first(HUGE_TEXT), message: first(HUGE_TEXT) },
  { fault: 'byte-per-write', stream: first(), message: first() },
  { fault: 'html-content-type', stream: either, message: either },
  { fault: 'missing-content-type', stream: either, message: either },
  { fault: 'gzip-label', stream: either, message: either },
  { fault: 'huge-headers', stream: either, message: either },
  { fault: 'never-ends', stream: second, message: second },
  {
    fault: 'silent-after-content',
    stream: errorEvent('api_error', 'overloaded_error', 'timeout_error'),
    message: second,
  },
  { fault: 'reset-before-content', stream: second, message: second },
  { fault: 'reset-after-content', stream: errorEvent('api_error', 'overloaded_error'), message: second },
];

const OPENAI_FAULTS: FaultCase[] = [
  { fault: 'openai-html-first', stream: second, message: second },
  { fault: 'openai-garbage-after-content', stream: errorEvent('api_error'), message: second },
];

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  /** The body decoded as its content-encoding says; a body that does not decode is a failure of the test. */
  readonly text: string;
}

interface RawEvent {
  readonly event: string;
  readonly data: string;
  readonly json: unknown;
}

/** The SSE events of a body; data that is not JSON is kept as text (json undefined) rather than thrown on. */
function rawEvents(text: string): RawEvent[] {
  return text
    .split(/\r?\n\r?\n/)
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const event = /^event: ?(.*)$/m.exec(block)?.[1] ?? '';
      const data = /^data: ?(.*)$/m.exec(block)?.[1] ?? '';
      return { event, data, json: parsed(data) };
    });
}

function parsed(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** An event whose data is not a JSON object whose type is the event's name. */
function misnamed(e: RawEvent): boolean {
  return typeof e.json !== 'object' || e.json === null || (e.json as { type?: unknown }).type !== e.event;
}

function header(answer: Answer, name: string): string | undefined {
  const value = answer.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function decode(body: Buffer, encoding: string | undefined): string {
  switch ((encoding ?? 'identity').toLowerCase()) {
    case 'identity':
      return body.toString('utf8');
    case 'gzip':
      return gunzipSync(body).toString('utf8');
    case 'deflate':
      return inflateSync(body).toString('utf8');
    case 'br':
      return brotliDecompressSync(body).toString('utf8');
    default:
      throw new Error(`unknown content-encoding ${encoding}`);
  }
}

async function ask(gateway: RunningGateway, stream: boolean): Promise<Answer> {
  const run = async (): Promise<Answer> => {
    const response = await request(`${gateway.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, max_tokens: 64, stream, messages: [{ role: 'user', content: 'hi' }] }),
    });
    const body = Buffer.from(await response.body.arrayBuffer());
    const answer = { status: response.statusCode, headers: response.headers, text: '' };
    const encoding = header(answer, 'content-encoding');
    let text: string;
    try {
      text = decode(body, encoding);
    } catch (error) {
      throw new Error(`the answer does not decode as its content-encoding (${encoding}) says: ${String(error)}`);
    }
    return { ...answer, text };
  };
  return withTimeout(run(), REQUEST_BOUND_MS, `a ${stream ? 'streaming' : 'non-streaming'} request`);
}

/** What the client saw, shortened, for failure messages. */
function seen(answer: Answer): string {
  const text = answer.text.length > 600 ? `${answer.text.slice(0, 600)}… (${answer.text.length} chars)` : answer.text;
  return `status ${answer.status}, x-provider-used ${header(answer, 'x-provider-used')}, body: ${text}`;
}

function textOfStream(events: RawEvent[]): string {
  return events
    .filter((e) => e.event === 'content_block_delta')
    .map((e) => (e.json as { delta?: { text?: unknown } } | undefined)?.delta?.text)
    .map((t) => (typeof t === 'string' ? t : ''))
    .join('');
}

/** A complete, well-formed answer whose one text block is `text`. */
function expectNormalAnswer(answer: Answer, stream: boolean, text: string): void {
  expect({ status: answer.status, seen: seen(answer) }).toEqual({ status: 200, seen: expect.any(String) });
  if (!stream) {
    const body = parsed(answer.text);
    expect(body).toMatchObject({ type: 'message', role: 'assistant', content: [{ type: 'text' }] });
    const received = (body as { content: { text: string }[] }).content[0]!.text;
    expect({ length: received.length, intact: received === text }).toEqual({ length: text.length, intact: true });
    return;
  }
  expect(header(answer, 'content-type')).toMatch(/^text\/event-stream/);
  const events = rawEvents(answer.text);
  expect(events.filter(misnamed)).toEqual([]);
  expect(events[0]?.event).toBe('message_start');
  expect(events.at(-1)?.event).toBe('message_stop');
  expect(events.filter((e) => e.event === 'error')).toEqual([]);
  const received = textOfStream(events);
  expect({ length: received.length, intact: received === text }).toEqual({ length: text.length, intact: true });
}

function expectOutcome(answer: Answer, stream: boolean, outcome: Outcome): void {
  const provider = header(answer, 'x-provider-used');
  switch (outcome.kind) {
    case 'second':
      expect({ provider, seen: seen(answer) }).toEqual({ provider: 'second', seen: expect.any(String) });
      return expectNormalAnswer(answer, stream, HEALTHY_TEXT);
    case 'first':
      expect({ provider, seen: seen(answer) }).toEqual({ provider: 'first', seen: expect.any(String) });
      return expectNormalAnswer(answer, stream, outcome.text);
    case 'either':
      expect(['first', 'second']).toContain(provider);
      return expectNormalAnswer(answer, stream, provider === 'first' ? MALFORMED_TEXT : HEALTHY_TEXT);
    case 'error-event': {
      expect({ status: answer.status, provider, seen: seen(answer) }).toEqual({
        status: 200,
        provider: 'first',
        seen: expect.any(String),
      });
      const events = rawEvents(answer.text);
      // The bad event itself is never relayed (the error event may quote it in its message).
      expect(events.filter(misnamed)).toEqual([]);
      expect(events[0]?.event).toBe('message_start');
      expect(textOfStream(events)).toBe(PARTIAL_TEXT);
      expect(events.some((e) => e.event === 'message_stop')).toBe(false);
      const last = events.at(-1);
      expect(last?.event).toBe('error');
      expect(last?.json).toMatchObject({ type: 'error', error: { message: expect.any(String) } });
      expect(outcome.types).toContain((last?.json as { error: { type: string } }).error.type);
      return;
    }
  }
}

describe('malformed upstream answers, with a healthy second provider', () => {
  let malformed: MalformedUpstream;
  let healthy: FakeUpstream;
  let gateway: RunningGateway | undefined;

  beforeAll(async () => {
    [malformed, healthy] = await Promise.all([startMalformedUpstream(), startFakeUpstream()]);
  });

  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    malformed.reset();
    healthy.reset();
  });

  afterAll(async () => {
    await Promise.all([malformed.close(), healthy.close()]);
  });

  /** A fresh gateway per case, so that health and stickiness start from zero. */
  async function startTwoProviders(firstType: 'anthropic' | 'openai'): Promise<RunningGateway> {
    const firstProvider =
      firstType === 'anthropic'
        ? anthropicProvider('first', malformed.url)
        : { name: 'first', type: 'openai', base_url: `${malformed.url}/v1`, auth_value: 'sk-openai-first-secret' };
    gateway = await startGateway({
      providers: [firstProvider, anthropicProvider('second', healthy.url)],
      model_routes: {
        '*': [
          { provider: 'first', model: firstType === 'anthropic' ? 'passthrough' : 'gpt-upstream', priority: 1 },
          { provider: 'second', model: 'passthrough', priority: 2 },
        ],
      },
      settings: { timeouts: TIMEOUTS, deduplication: { enabled: false }, sticky_provider_duration: 0 },
    });
    return gateway;
  }

  const cases = (faults: FaultCase[]) =>
    faults.flatMap(({ fault, stream, message }) => [
      { fault, stream: true, outcome: stream, expected: describeOutcome(stream) },
      { fault, stream: false, outcome: message, expected: describeOutcome(message) },
    ]);

  function describeOutcome(outcome: Outcome): string {
    switch (outcome.kind) {
      case 'second':
        return 'fail over to the second provider';
      case 'first':
        return "deliver the first provider's answer intact";
      case 'either':
        return 'give a normal answer';
      case 'error-event':
        return 'end the relayed stream with an SSE error event';
    }
  }

  async function check(firstType: 'anthropic' | 'openai', fault: UpstreamFault, stream: boolean, outcome: Outcome) {
    const running = await startTwoProviders(firstType);
    malformed.setFault(fault);

    const answer = await ask(running, stream);

    expectOutcome(answer, stream, outcome);
    expect(malformed.requests).toHaveLength(1);
    const secondCalls = healthy.requests.length;
    if (outcome.kind === 'second') expect(secondCalls).toBe(1);
    if (outcome.kind === 'first' || outcome.kind === 'error-event') expect(secondCalls).toBe(0);
  }

  describe('from an Anthropic provider', () => {
    it.each(cases(ANTHROPIC_FAULTS))('should $expected on $fault (stream: $stream)', ({ fault, stream, outcome }) =>
      check('anthropic', fault, stream, outcome),
    );
  });

  describe('from an OpenAI-compatible provider', () => {
    it.each(cases(OPENAI_FAULTS))('should $expected on $fault (stream: $stream)', ({ fault, stream, outcome }) =>
      check('openai', fault, stream, outcome),
    );
  });
});
