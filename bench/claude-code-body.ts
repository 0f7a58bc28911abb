/**
 * A deterministic request body shaped like the one Claude Code 2.1.197 sends:
 * ~76 KB, `system` as 3 text blocks (billing header, SDK line, main prompt), 24 tools with JSON schemas (~63 KB),
 * a `role: system` message inside `messages`, a user message with a <system-reminder>, metadata, thinking,
 * context_management, output_config and `stream` last. The prose is generated from a fixed seed, so every run
 * sends the same bytes.
 */

/** A fixed-width slot in the user prompt; the load driver overwrites it so every request is distinct. */
export const SEQUENCE_MARKER = 'bench-seq-000000000000';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const WORDS = (
  'the a file tool command user project code change test run read write path directory search pattern result ' +
  'output input task agent session context message model request response error value option when should must ' +
  'never always use only before after with without each every this that which current working repository branch ' +
  'commit review edit line content string number boolean array object schema parameter description default ' +
  'absolute relative timeout background process shell notebook cell worktree schedule cron web fetch query ' +
  'permission approval instructions example important note prefer avoid instead unless already exactly'
).split(' ');

/** mulberry32: small, fast and deterministic. */
function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Sentences of plausible technical prose, exactly `length` characters long. */
function prose(seed: number, length: number): string {
  const next = rng(seed);
  const parts: string[] = [];
  let size = 0;
  while (size < length) {
    const count = 6 + Math.floor(next() * 14);
    const words: string[] = [];
    for (let i = 0; i < count; i++) words.push(WORDS[Math.floor(next() * WORDS.length)]!);
    let sentence = words.join(' ');
    sentence = sentence[0]!.toUpperCase() + sentence.slice(1);
    const roll = next();
    if (roll < 0.08) sentence = `- ${sentence}`;
    else if (roll < 0.14) sentence += ' — see the `Bash` tool';
    else if (roll < 0.18) sentence += ' (e.g. "src/**/*.ts")';
    sentence += roll < 0.3 ? '.\n' : '. ';
    parts.push(sentence);
    size += sentence.length;
  }
  return parts.join('').slice(0, length);
}

const str = (description: string): Json => ({ type: 'string', description });
const num = (description: string): Json => ({ type: 'number', description });
const bool = (description: string): Json => ({ type: 'boolean', description });

function schema(properties: Record<string, Json>, required: string[]): Json {
  return {
    type: 'object',
    properties,
    required,
    additionalProperties: false,
    $schema: 'http://json-schema.org/draft-07/schema#',
  };
}

const TODO_ITEM: Json = {
  type: 'object',
  properties: {
    content: { type: 'string', minLength: 1 },
    status: { type: 'string', enum: ['pending', 'in_progress', 'completed'] },
    activeForm: { type: 'string', minLength: 1 },
  },
  required: ['content', 'status', 'activeForm'],
  additionalProperties: false,
};

/** The 24 tools in the CLI's order, with a description length (chars) for each so the total is about 63 KB. */
const TOOLS: [string, number, Json][] = [
  [
    'Agent',
    5200,
    schema(
      {
        description: str('A short (3-5 word) description of the task'),
        prompt: str('The task for the agent to perform'),
        subagent_type: str('The type of specialized agent to use for this task'),
      },
      ['description', 'prompt', 'subagent_type'],
    ),
  ],
  [
    'Bash',
    10060,
    schema(
      {
        command: str('The command to execute'),
        timeout: num('Optional timeout in milliseconds (max 600000)'),
        description: str('Clear, concise description of what this command does in 5-10 words'),
        run_in_background: bool('Set to true to run this command in the background'),
      },
      ['command'],
    ),
  ],
  [
    'CronCreate',
    1500,
    schema(
      {
        schedule: str('A cron expression, five fields'),
        prompt: str('What to do when the schedule fires'),
        name: str('A short name for the job'),
      },
      ['schedule', 'prompt'],
    ),
  ],
  ['CronDelete', 400, schema({ id: str('The id of the cron job to delete') }, ['id'])],
  ['CronList', 350, schema({}, [])],
  [
    'Edit',
    2100,
    schema(
      {
        file_path: str('The absolute path to the file to modify'),
        old_string: str('The text to replace'),
        new_string: str('The text to replace it with (must be different from old_string)'),
        replace_all: {
          type: 'boolean',
          default: false,
          description: 'Replace all occurences of old_string (default false)',
        },
      },
      ['file_path', 'old_string', 'new_string'],
    ),
  ],
  [
    'EnterWorktree',
    1200,
    schema({ branch: str('The branch to check out in the new worktree'), path: str('Where to create the worktree') }, [
      'branch',
    ]),
  ],
  ['ExitWorktree', 600, schema({ keep: bool('Keep the worktree on disk after leaving it') }, [])],
  [
    'NotebookEdit',
    1400,
    schema(
      {
        notebook_path: str('The absolute path to the Jupyter notebook file to edit'),
        cell_id: str('The ID of the cell to edit'),
        new_source: str('The new source for the cell'),
        cell_type: { type: 'string', enum: ['code', 'markdown'], description: 'The type of the cell' },
        edit_mode: { type: 'string', enum: ['replace', 'insert', 'delete'], description: 'The type of edit to make' },
      },
      ['notebook_path', 'new_source'],
    ),
  ],
  [
    'Read',
    2300,
    schema(
      {
        file_path: str('The absolute path to the file to read'),
        offset: num('The line number to start reading from'),
        limit: num('The number of lines to read'),
      },
      ['file_path'],
    ),
  ],
  [
    'ReportFindings',
    1800,
    schema(
      {
        findings: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              title: { type: 'string' },
              severity: { type: 'string', enum: ['low', 'medium', 'high'] },
              detail: { type: 'string' },
            },
            required: ['title', 'detail'],
          },
        },
      },
      ['findings'],
    ),
  ],
  [
    'ScheduleWakeup',
    1100,
    schema({ delay_seconds: num('Seconds from now'), reason: str('Why to wake up') }, ['delay_seconds']),
  ],
  [
    'SendMessage',
    1300,
    schema({ to: str('The agent id to send the message to'), message: str('The message text') }, ['to', 'message']),
  ],
  [
    'Skill',
    2200,
    schema({ skill: str('The skill name, no arguments'), args: str('Optional arguments for the skill') }, ['skill']),
  ],
  [
    'TaskCreate',
    3600,
    schema(
      {
        subject: str('A brief title for the task'),
        description: str('A detailed description of what needs to be done'),
        activeForm: str('Present continuous form shown in the spinner'),
        todos: { type: 'array', items: TODO_ITEM },
      },
      ['subject', 'description'],
    ),
  ],
  ['TaskGet', 700, schema({ taskId: str('The ID of the task to retrieve') }, ['taskId'])],
  ['TaskList', 900, schema({}, [])],
  [
    'TaskOutput',
    1100,
    schema(
      {
        task_id: str('The task ID to get output from'),
        block: { type: 'boolean', default: true, description: 'Whether to wait for completion' },
        timeout: { type: 'number', minimum: 0, maximum: 600000, default: 30000, description: 'Max wait time in ms' },
      },
      ['task_id', 'block', 'timeout'],
    ),
  ],
  ['TaskStop', 500, schema({ task_id: str('The ID of the background task to stop') }, [])],
  [
    'TaskUpdate',
    2600,
    schema(
      {
        taskId: str('The ID of the task to update'),
        status: { type: 'string', enum: ['pending', 'in_progress', 'completed', 'deleted'] },
        subject: str('New subject for the task'),
        description: str('New description for the task'),
        addBlocks: { type: 'array', items: { type: 'string' } },
        addBlockedBy: { type: 'array', items: { type: 'string' } },
      },
      ['taskId'],
    ),
  ],
  [
    'WebFetch',
    2000,
    schema(
      {
        url: { type: 'string', format: 'uri', description: 'The URL to fetch content from' },
        prompt: str('The prompt to run on the fetched content'),
      },
      ['url', 'prompt'],
    ),
  ],
  [
    'WebSearch',
    1700,
    schema(
      {
        query: { type: 'string', minLength: 2, description: 'The search query to use' },
        allowed_domains: { type: 'array', items: { type: 'string' } },
        blocked_domains: { type: 'array', items: { type: 'string' } },
      },
      ['query'],
    ),
  ],
  [
    'Workflow',
    2600,
    schema({ name: str('The workflow to run'), inputs: { type: 'object', additionalProperties: { type: 'string' } } }, [
      'name',
    ]),
  ],
  [
    'Write',
    1500,
    schema(
      {
        file_path: str('The absolute path to the file to write (must be absolute, not relative)'),
        content: str('The content to write to the file'),
      },
      ['file_path', 'content'],
    ),
  ],
];

export interface BenchBody {
  /** The JSON text without `stream`, for building both variants. */
  readonly streaming: Buffer;
  readonly nonStreaming: Buffer;
}

/**
 * Real prompts contain some non-ASCII (dashes, arrows, users' own languages), and so does this body (an em dash in
 * ~6% of sentences). BENCH_ASCII=1 replaces it, to see what non-ASCII costs: on Node 20 decoding a 76 KB body with a
 * single non-ASCII byte is ~30x slower than pure ASCII, and the string is two-byte (twice the heap).
 */
function finish(document: Record<string, Json>, stream: boolean): Buffer {
  const text = JSON.stringify(stream ? { ...document, stream: true } : document);
  return Buffer.from(process.env.BENCH_ASCII === '1' ? text.replace(/[\u0080-\uffff]/g, '-') : text, 'utf8');
}

/** The Claude-Code-sized body (~76 KB), streaming and non-streaming. */
export function claudeCodeBody(model = 'claude-opus-4-8'): BenchBody {
  const tools: Json[] = TOOLS.map(([name, length, inputSchema], index) => ({
    name,
    description: `${prose(1000 + index, length)}\n\nUsage notes:\n- ${prose(2000 + index, 160)}`,
    input_schema: inputSchema,
  }));
  const document: Record<string, Json> = {
    model,
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: `<system-reminder>\n${prose(7, 280)}\n</system-reminder>\n` },
          {
            type: 'text',
            text: `Please run the command \`echo hi\` (${SEQUENCE_MARKER})`,
            cache_control: { type: 'ephemeral' },
          },
        ],
      },
      { role: 'system', content: `Available agent types for the Agent tool:\n${prose(11, 6020)}` },
    ],
    system: [
      { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1.197.9a2; cc_entrypoint=sdk-cli;' },
      {
        type: 'text',
        text: "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
        cache_control: { type: 'ephemeral' },
      },
      {
        type: 'text',
        text: `\nYou are an interactive agent that helps users with software engineering tasks. ${prose(3, 5620)}`,
        cache_control: { type: 'ephemeral' },
      },
    ],
    tools,
    metadata: {
      user_id: JSON.stringify({
        device_id: '419ed1975d4d7525e123ad7d6b8f978367cce258960023da6a066d6758a26aef',
        account_uuid: '',
        session_id: '0ff6c564-8df0-4278-abaa-6b3607694e1f',
      }),
    },
    max_tokens: 64000,
    thinking: { type: 'adaptive' },
    context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
    output_config: { effort: 'high' },
  };
  return { streaming: finish(document, true), nonStreaming: finish(document, false) };
}

/** A small body (a one-line question, no tools), for seeing the gateway's fixed per-request cost. */
export function smallBody(model = 'claude-haiku-4-5-20251001'): BenchBody {
  const document: Record<string, Json> = {
    model,
    messages: [{ role: 'user', content: `Say hello (${SEQUENCE_MARKER})` }],
    max_tokens: 1024,
  };
  return { streaming: finish(document, true), nonStreaming: finish(document, false) };
}

/** The headers Claude Code sends with /v1/messages (API-key mode). */
export function claudeCodeHeaders(apiKey: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    accept: 'application/json',
    'x-api-key': apiKey,
    'anthropic-version': '2023-06-01',
    'anthropic-beta':
      'claude-code-20250219,context-1m-2025-08-07,interleaved-thinking-2025-05-14,thinking-token-count-2026-05-13,context-management-2025-06-27,prompt-caching-scope-2026-01-05,mid-conversation-system-2026-04-07,effort-2025-11-24',
    'anthropic-dangerous-direct-browser-access': 'true',
    'user-agent': 'claude-cli/2.1.197 (external, sdk-cli)',
    'x-app': 'cli',
    'x-claude-code-session-id': '0ff6c564-8df0-4278-abaa-6b3607694e1f',
    'x-stainless-lang': 'js',
    'x-stainless-os': 'Linux',
    'x-stainless-arch': 'x64',
    'x-stainless-runtime': 'node',
    'x-stainless-runtime-version': 'v26.3.0',
    'x-stainless-package-version': '0.94.0',
    'x-stainless-retry-count': '0',
    'x-stainless-timeout': '600',
  };
}
