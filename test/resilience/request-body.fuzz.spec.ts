/**
 * Property tests over request bodies of POST /v1/messages and /v1/messages/count_tokens, through an Anthropic and an
 * OpenAI-compatible provider: random JSON, message requests with mutated fields, and raw byte mutations of a valid
 * body. Whatever the body, the answer is a 200 or a 4xx in Anthropic's error shape, never a 5xx, never a hang; a body
 * that is not valid JSON (or UTF-8, or nests too deep) is a 400 naming a byte offset and never reaches an upstream.
 *
 * The seed is printed at the start; replay a failure with FUZZ_SEED=<seed> npm run test:resilience.
 */
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { request } from 'undici';
import { withTimeout } from '../support/e2e-helpers';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { anthropicProvider, getJson, postJson, type RunningGateway, startGateway } from '../support/gateway-harness';
import { isAnthropicError } from './raw-http';

const SEED = seedFromEnv();
const REQUEST_BOUND_MS = 20_000;
/** The product's nesting limit; bodies within a few levels of it are not judged, the exact count is the product's. */
const MAX_DEPTH = 512;
const DEPTH_MARGIN = 8;
const MODELS = ['claude-sonnet-fuzz', 'gpt-fuzz'] as const;
const PATHS = ['/v1/messages', '/v1/messages/count_tokens'] as const;
type Path = (typeof PATHS)[number];

function seedFromEnv(): number {
  const text = process.env.FUZZ_SEED;
  if (text === undefined || text.trim() === '') return Math.floor(Math.random() * 0x7fffffff);
  const seed = Number(text);
  if (!Number.isInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, got ${text}`);
  return seed;
}

/** One generated request; it prints as a short summary, so that a 1 MB counterexample stays readable. */
class FuzzCase {
  constructor(
    readonly label: string,
    readonly path: Path,
    readonly body: Buffer,
  ) {}

  [fc.toStringMethod](): string {
    const head = JSON.stringify(this.body.subarray(0, 200).toString('latin1'));
    const tail = this.body.length > 260 ? ` … ${JSON.stringify(this.body.subarray(-60).toString('latin1'))}` : '';
    return `${this.label} POST ${this.path}, ${this.body.length} bytes: ${head}${tail}`;
  }
}

// ---- the oracle: what the body is, judged independently of the gateway ------------------------------------------

type Judgement = 'empty' | 'invalid' | 'unsure' | 'not-object' | 'object';

/** Nesting depth of a parsed value: a scalar is 0, `[]` and `{}` are 1. */
function depthOf(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== 'object' || current === null) {
      max = Math.max(max, depth);
      continue;
    }
    const children = Array.isArray(current) ? current : Object.values(current);
    max = Math.max(max, depth + 1);
    for (const child of children) stack.push([child, depth + 1]);
  }
  return max;
}

function judge(body: Buffer): Judgement {
  const text = body.toString('utf8');
  if (text.trim() === '' && isUtf8(body)) return 'empty';
  if (!isUtf8(body)) return 'invalid';
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'invalid';
  }
  const depth = depthOf(value);
  if (depth > MAX_DEPTH + DEPTH_MARGIN) return 'invalid';
  if (depth > MAX_DEPTH - DEPTH_MARGIN) return 'unsure';
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? 'object' : 'not-object';
}

// ---- generators ---------------------------------------------------------------------------------------------------

const DEEP = '\u0000deep:';

/** A value nested `depth` levels, written into the body text in place of a marker string after JSON.stringify. */
const deepMarker = fc
  .tuple(fc.oneof(fc.integer({ min: 1, max: 400 }), fc.integer({ min: 530, max: 2000 })), fc.constantFrom('[', '{'))
  .map(([depth, kind]) => `${DEEP}${depth}:${kind}`);

function expandDeep(text: string): string {
  return text.replace(/"\\u0000deep:(\d+):([[{])"/g, (_m, depth: string, kind: string) => {
    const n = Number(depth);
    return kind === '[' ? '['.repeat(n) + ']'.repeat(n) : '{"a":'.repeat(n) + '1' + '}'.repeat(n);
  });
}

/**
 * Up to 1 MB of one character (or a short word). Whitespace runs stay short: the local token counter is quadratic in
 * them, which the whitespace-run test below checks on its own with a bounded size.
 */
const hugeString = fc
  .tuple(fc.integer({ min: 64 * 1024, max: 1024 * 1024 }), fc.constantFrom('x', 'é', '漢', '"', '\\', 'ab '))
  .map(([bytes, unit]) => unit.repeat(Math.max(1, Math.floor(bytes / Buffer.byteLength(unit)))));

const whitespaceRun = fc
  .tuple(fc.integer({ min: 1, max: 1000 }), fc.constantFrom(' ', '\n', '\t', '\r\n'))
  .map(([n, unit]) => unit.repeat(n));

const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 6 },
  { arbitrary: fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, '', [], {}, 'x'), weight: 4 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }), weight: 2 },
  { arbitrary: hugeString, weight: 1 },
  { arbitrary: whitespaceRun, weight: 1 },
  { arbitrary: deepMarker, weight: 1 },
);

const contentBlock = fc.record(
  {
    type: fc.oneof(
      fc.constantFrom('text', 'image', 'tool_use', 'tool_result', 'thinking', 'document', 'redacted_thinking'),
      fc.string({ maxLength: 10 }),
    ),
    text: oddValue,
    id: oddValue,
    name: oddValue,
    input: oddValue,
    content: oddValue,
    source: oddValue,
    tool_use_id: oddValue,
  },
  { requiredKeys: ['type'] },
);

const FIELDS = [
  'model',
  'max_tokens',
  'messages',
  'stream',
  'system',
  'tools',
  'tool_choice',
  'metadata',
  'temperature',
  'thinking',
  'stop_sequences',
] as const;

type Mutation = (body: Record<string, unknown>) => void;

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.constantFrom(...FIELDS), oddValue).map(
    ([field, value]): Mutation =>
      (b) =>
        void (b[field] = value),
  ),
  fc.constantFrom(...FIELDS).map(
    (field): Mutation =>
      (b) =>
        void delete b[field],
  ),
  oddValue.map(
    (value): Mutation =>
      (b) =>
        void (b.messages = [{ role: 'user', content: value }]),
  ),
  fc.array(contentBlock, { maxLength: 4 }).map(
    (blocks): Mutation =>
      (b) =>
        void (b.messages = [{ role: 'user', content: blocks }]),
  ),
  fc.tuple(fc.oneof(fc.constantFrom('user', 'assistant', 'system', 'tool'), fc.string()), oddValue).map(
    ([role, content]): Mutation =>
      (b) =>
        void (b.messages = [
          { role: 'user', content: 'hi' },
          { role, content },
        ]),
  ),
  fc.tuple(oddValue, oddValue).map(
    ([name, schema]): Mutation =>
      (b) =>
        void (b.tools = [{ name, description: 'd', input_schema: schema }]),
  ),
  fc.array(contentBlock, { maxLength: 3 }).map(
    (blocks): Mutation =>
      (b) =>
        void (b.system = blocks),
  ),
);

const model = fc.constantFrom(...MODELS);
const path = fc.constantFrom(...PATHS);

function validRequest(m: string): Record<string, unknown> {
  return { model: m, max_tokens: 32, messages: [{ role: 'user', content: 'hello' }] };
}

const randomJsonCase = fc.oneof(
  fc
    .tuple(path, fc.jsonValue({ maxDepth: 5 }))
    .map(([p, value]) => new FuzzCase('random JSON value', p, Buffer.from(JSON.stringify(value)))),
  fc
    .tuple(path, model, fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 6 }))
    .map(
      ([p, m, extra]) =>
        new FuzzCase(
          'valid request with random extra fields',
          p,
          Buffer.from(JSON.stringify({ ...validRequest(m), ...extra })),
        ),
    ),
);

const mutatedRequestCase = fc
  .tuple(path, model, fc.array(mutation, { minLength: 1, maxLength: 3 }))
  .map(([p, m, mutations]) => {
    const body = validRequest(m);
    for (const mutate of mutations) mutate(body);
    return new FuzzCase('message request with mutated fields', p, Buffer.from(expandDeep(JSON.stringify(body))));
  });

const INVALID_UTF8 = [[0xff], [0xc0, 0xaf], [0x80], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82]];

/** A valid body's bytes with one raw edit. */
const rawEditCase = fc
  .tuple(path, model, fc.nat(), fc.integer({ min: 0, max: 9 }), fc.uint8Array({ minLength: 1, maxLength: 64 }))
  .chain(([p, m, position, kind, bytes]) => {
    const valid = Buffer.from(
      JSON.stringify({ ...validRequest(m), messages: [{ role: 'user', content: 'héllo wörld' }] }),
    );
    const at = 1 + (position % (valid.length - 1));
    const contentAt = valid.indexOf('héllo') + 1;
    const edit = (label: string, body: Buffer) => fc.constant(new FuzzCase(label, p, body));
    const splice = (index: number, insert: Buffer | string) =>
      Buffer.concat([valid.subarray(0, index), Buffer.from(insert), valid.subarray(index)]);
    switch (kind) {
      case 0:
        return edit('truncated valid body', valid.subarray(0, at));
      case 1:
        return fc
          .constantFrom(...INVALID_UTF8)
          .map((seq) => new FuzzCase('invalid UTF-8 inside a string', p, splice(contentAt, Buffer.from(seq))));
      case 2:
        return edit('random bytes', Buffer.from(bytes));
      case 3: {
        const flipped = Buffer.from(valid);
        flipped[at] = bytes[0]!;
        return edit('one byte replaced', flipped);
      }
      case 4:
        return fc
          .string({ unit: 'binary-ascii', minLength: 1, maxLength: 8 })
          .map((junk) => new FuzzCase('ASCII inserted', p, splice(at, junk)));
      case 5:
        return fc
          .tuple(fc.constantFrom(...FIELDS), fc.jsonValue({ maxDepth: 2 }))
          .map(
            ([key, value]) =>
              new FuzzCase('duplicate key written as raw text', p, splice(1, `"${key}":${JSON.stringify(value)},`)),
          );
      case 6:
        return fc
          .constantFrom('\ufeff', ' \n\t\r', 'x', '}', ',', '/* c */')
          .chain((extra) =>
            fc.constantFrom(
              new FuzzCase('text before the body', p, Buffer.concat([Buffer.from(extra), valid])),
              new FuzzCase('text after the body', p, Buffer.concat([valid, Buffer.from(extra)])),
            ),
          );
      case 7:
        return deepMarker.map(
          (marker) =>
            new FuzzCase(
              'deep content',
              p,
              Buffer.from(
                expandDeep(JSON.stringify({ ...validRequest(m), messages: [{ role: 'user', content: marker }] })),
              ),
            ),
        );
      case 8: {
        // Whitespace between tokens (valid JSON), up to 1 MB of it.
        const between = valid.indexOf(',') + 1;
        return fc
          .tuple(fc.integer({ min: 1, max: 1024 * 1024 }), fc.constantFrom(' ', '\n', '\t', '\r'))
          .map(([n, unit]) => new FuzzCase('whitespace between tokens', p, splice(between, unit.repeat(n))));
      }
      default:
        return fc
          .tuple(fc.integer({ min: 1, max: 16 }), fc.constantFrom('[', '{"k":', '"', '\\'))
          .map(([times, open]) => new FuzzCase('unclosed openers inserted', p, splice(at, open.repeat(times))));
    }
  });

// ---- the property -------------------------------------------------------------------------------------------------

interface Reply {
  readonly status: number;
  readonly text: string;
  readonly json: unknown;
  readonly elapsedMs: number;
}

async function send(gateway: RunningGateway, c: FuzzCase): Promise<Reply> {
  const started = Date.now();
  const run = async (): Promise<Reply> => {
    const response = await request(`${gateway.url}${c.path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: c.body,
      headersTimeout: REQUEST_BOUND_MS,
      bodyTimeout: REQUEST_BOUND_MS,
    });
    const text = await response.body.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.statusCode, text, json, elapsedMs: Date.now() - started };
  };
  return withTimeout(run(), REQUEST_BOUND_MS, `no answer (a hang) for ${c[fc.toStringMethod]()}`);
}

function problem(c: FuzzCase, judgement: Judgement, reply: Reply, what: string): Error {
  return new Error(
    `${what}; body judged ${judgement}; got ${reply.status} ${reply.text.slice(0, 400)}; case: ${c[fc.toStringMethod]()}`,
  );
}

function isSuccess(c: FuzzCase, reply: Reply): boolean {
  if (reply.status !== 200) return false;
  if (c.path === '/v1/messages/count_tokens') {
    return typeof (reply.json as { input_tokens?: unknown } | undefined)?.input_tokens === 'number';
  }
  return (
    (reply.json as { type?: unknown } | undefined)?.type === 'message' || reply.text.startsWith('event: message_start')
  );
}

describe('fuzzed request bodies', () => {
  let fake: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    process.stdout.write(`\nrequest-body fuzz: FUZZ_SEED=${SEED}\n`);
    fake = await startFakeUpstream();
    gateway = await startGateway({
      providers: [
        anthropicProvider('anthropic', fake.url),
        { name: 'oai', type: 'openai', base_url: `${fake.url}/v1`, auth_value: 'sk-openai-oai-secret' },
      ],
      model_routes: {
        'gpt-fuzz': [{ provider: 'oai', model: 'gpt-upstream', priority: 1 }],
        '*': [{ provider: 'anthropic', model: 'passthrough', priority: 1 }],
      },
      settings: { deduplication: { enabled: false }, timeouts: { first_byte: 10, idle: 10 } },
    });
  });

  afterAll(async () => {
    await gateway.close();
    await fake.close();
  });

  async function property(c: FuzzCase): Promise<void> {
    fake.reset();
    const judgement = judge(c.body);
    const reply = await send(gateway, c);
    // The gateway runs in this process: a blocked event loop delays the timers too, so the answer time is checked.
    if (reply.elapsedMs > REQUEST_BOUND_MS) throw problem(c, judgement, reply, `an answer after ${reply.elapsedMs} ms`);
    if (reply.status >= 500) throw problem(c, judgement, reply, 'a 5xx');
    if (reply.status !== 200 && (reply.status < 400 || reply.status > 499)) {
      throw problem(c, judgement, reply, 'neither a 200 nor a 4xx');
    }
    if (reply.status !== 200 && !isAnthropicError(reply.json)) {
      throw problem(c, judgement, reply, "a 4xx not in Anthropic's error shape");
    }
    if (reply.status === 200 && !isSuccess(c, reply)) throw problem(c, judgement, reply, 'a 200 that is no answer');
    if (judgement === 'invalid' || judgement === 'empty' || judgement === 'not-object') {
      if (reply.status !== 400 || !isAnthropicError(reply.json, 'invalid_request_error')) {
        throw problem(c, judgement, reply, 'not a 400 invalid_request_error');
      }
      if (fake.requests.length > 0) throw problem(c, judgement, reply, 'the upstream received the request');
    }
    if (judgement === 'invalid') {
      const message = (reply.json as { error: { message: string } }).error.message;
      if (!/\bbyte \d+/.test(message)) throw problem(c, judgement, reply, 'the 400 names no byte offset');
    }
  }

  async function check(name: string, arbitrary: fc.Arbitrary<FuzzCase>, numRuns: number): Promise<void> {
    try {
      await fc.assert(fc.asyncProperty(arbitrary, property), {
        seed: SEED,
        numRuns,
        includeErrorInReport: true,
        plugins: [fc.interruptAfterTimeLimit(100_000)],
      });
    } catch (error) {
      throw new Error(
        `${name}: failed with FUZZ_SEED=${SEED} (replay: FUZZ_SEED=${SEED} npm run test:resilience)\n${(error as Error).message}`,
      );
    }
    // The in-process gateway still answers a normal request and its liveness probe.
    const after = await postJson(`${gateway.url}/v1/messages`, validRequest('claude-sonnet-fuzz'));
    expect(after.status).toBe(200);
    expect((await getJson(`${gateway.url}/health/live`)).status).toBe(200);
  }

  it('should answer random JSON values with a 200 or an Anthropic-shaped 4xx', async () => {
    await check('random JSON values', randomJsonCase, 200);
  });

  it('should answer message requests with mutated fields with a 200 or an Anthropic-shaped 4xx', async () => {
    await check('mutated message requests', mutatedRequestCase, 300);
  });

  it('should refuse raw edits that break JSON with a 400 naming a byte offset, forwarding nothing', async () => {
    await check('raw byte edits', rawEditCase, 300);
  });

  // Found by this suite: BPE merging is quadratic in an unbroken run, and whitespace runs were tokenized whole.
  it.each([
    ['newlines', '\n'],
    ['spaces', ' '],
  ])('should count the tokens of 12 000 %s locally by estimate, without blocking the process', async (_name, unit) => {
    const body = { ...validRequest('gpt-fuzz'), messages: [{ role: 'user', content: unit.repeat(12_000) }] };
    const c = new FuzzCase('a long whitespace run', '/v1/messages/count_tokens', Buffer.from(JSON.stringify(body)));

    const reply = await send(gateway, c);

    expect({ status: reply.status, body: reply.json }).toEqual({
      status: 200,
      body: { input_tokens: expect.any(Number) },
    });
    // Estimated (a quarter token per whitespace character), not tokenized: tokenizing such a run takes seconds to
    // minutes, and the request bound above catches that as a hang.
    const tokens = (reply.json as { input_tokens: number }).input_tokens;
    expect(tokens).toBeGreaterThanOrEqual(12_000 / 4);
    expect(tokens).toBeLessThan(12_000 / 4 + 20);
  });
});
