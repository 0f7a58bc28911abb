/**
 * Runs the real Claude Code CLI (`node_modules/.bin/claude`, a pinned dev dependency) with `-p` against a local
 * gateway, offline: a clean environment (no stray ANTHROPIC_* or proxy variables), a fresh HOME and working directory
 * per run, stdin closed, and a hard timeout that kills the whole process group so a test can never hang.
 *
 * Also holds small Anthropic answer writers for the fake upstream's `custom` behaviour, so a test can decide the
 * answer by looking at the request (e.g. "does the last user message carry a tool_result?").
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FakeBlock } from './fake-upstream';

export const CLAUDE_BIN = resolve(__dirname, '../../node_modules/.bin/claude');

/** Throws (never skips) when the CLI binary is missing, e.g. when the optional native package did not install. */
export function assertClaudeCliInstalled(): void {
  try {
    accessSync(CLAUDE_BIN, constants.X_OK);
  } catch (err) {
    throw new Error(
      `The Claude Code CLI is not installed at ${CLAUDE_BIN} (${(err as Error).message}). ` +
        'It is the pinned dev dependency @anthropic-ai/claude-code; its native binary comes from the optional package ' +
        '@anthropic-ai/claude-code-<platform> and is linked to bin/claude.exe by its postinstall. Run `npm ci` on a ' +
        'supported platform (and make sure optional dependencies and install scripts are not disabled).',
    );
  }
}

export type ClaudeAuth = { apiKey: string } | { authToken: string };

export interface ClaudeRunOptions {
  /** The gateway's base URL (ANTHROPIC_BASE_URL). */
  baseUrl: string;
  prompt: string;
  auth: ClaudeAuth;
  /** Extra CLI flags after `-p <prompt> --output-format json`. */
  args?: string[];
  /** Extra environment variables (on top of the clean set). */
  env?: Record<string, string>;
  /** Hard limit; the process group is killed with SIGKILL when it is reached. Default 60 s. */
  timeoutMs?: number;
}

export interface ClaudeRunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** stdout parsed as JSON (`--output-format json` prints one result object), or undefined. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

/** Runs `claude -p <prompt> --output-format json …` and resolves when it exits (or is killed on timeout). */
export async function runClaude(options: ClaudeRunOptions): Promise<ClaudeRunResult> {
  assertClaudeCliInstalled();
  const home = mkdtempSync(join(tmpdir(), 'claude-cli-home-'));
  const cwd = mkdtempSync(join(tmpdir(), 'claude-cli-cwd-'));
  const auth =
    'apiKey' in options.auth
      ? { ANTHROPIC_API_KEY: options.auth.apiKey }
      : { ANTHROPIC_AUTH_TOKEN: options.auth.authToken };
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    ANTHROPIC_BASE_URL: options.baseUrl,
    ...auth,
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    DISABLE_AUTOUPDATER: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    ...options.env,
  };
  const args = ['-p', options.prompt, '--output-format', 'json', ...(options.args ?? [])];
  const timeoutMs = options.timeoutMs ?? 60_000;
  const started = Date.now();
  try {
    return await new Promise<ClaudeRunResult>((resolvePromise, reject) => {
      // detached: its own process group, so a timeout also kills the shells it started for tools.
      const child = spawn(CLAUDE_BIN, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let timedOut = false;
      const killGroup = (): void => {
        if (child.pid === undefined) return;
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      };
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup();
      }, timeoutMs);
      child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const out = Buffer.concat(stdout).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(out);
        } catch {
          json = undefined;
        }
        resolvePromise({
          code,
          signal,
          timedOut,
          stdout: out,
          stderr: Buffer.concat(stderr).toString('utf8'),
          durationMs: Date.now() - started,
          json,
        });
      });
    });
  } finally {
    rmSync(home, { recursive: true, force: true });
    rmSync(cwd, { recursive: true, force: true });
  }
}

/** A one-line description of a run, for assertion messages. */
export function describeRun(run: ClaudeRunResult): string {
  return (
    `claude exited with code ${run.code} signal ${run.signal}${run.timedOut ? ' (killed on timeout)' : ''} ` +
    `after ${run.durationMs} ms\nstdout: ${run.stdout.slice(0, 2000)}\nstderr: ${run.stderr.slice(0, 2000)}`
  );
}

// ---- answers for the fake upstream's `custom` behaviour ------------------------------------------------------------

let answerSeq = 0;

/** Writes an Anthropic Messages answer: SSE when the request asked for a stream, else one JSON message. */
export function writeAnthropicAnswer(
  res: ServerResponse,
  body: unknown,
  content: FakeBlock[],
  stopReason?: string,
): void {
  const request = (typeof body === 'object' && body !== null ? body : {}) as { model?: unknown; stream?: unknown };
  const id = `msg_cli_${++answerSeq}`;
  const model = typeof request.model === 'string' ? request.model : 'claude-fake';
  const stop = stopReason ?? (content.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn');
  const usage = { input_tokens: 10, output_tokens: 5 };
  if (request.stream !== true) {
    const text = JSON.stringify({
      id,
      type: 'message',
      role: 'assistant',
      model,
      content,
      stop_reason: stop,
      stop_sequence: null,
      usage,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  const frames: string[] = [];
  const push = (event: string, data: Record<string, unknown>): void => {
    frames.push(`event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`);
  };
  push('message_start', {
    message: {
      id,
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: usage.input_tokens, output_tokens: 1 },
    },
  });
  content.forEach((block, index) => {
    switch (block.type) {
      case 'text':
        push('content_block_start', { index, content_block: { type: 'text', text: '' } });
        push('content_block_delta', { index, delta: { type: 'text_delta', text: block.text } });
        break;
      case 'thinking':
        push('content_block_start', { index, content_block: { type: 'thinking', thinking: '', signature: '' } });
        push('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: block.thinking } });
        push('content_block_delta', { index, delta: { type: 'signature_delta', signature: block.signature } });
        break;
      case 'tool_use':
        push('content_block_start', {
          index,
          content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} },
        });
        push('content_block_delta', {
          index,
          delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) },
        });
        break;
    }
    push('content_block_stop', { index });
  });
  push('message_delta', {
    delta: { stop_reason: stop, stop_sequence: null },
    usage: { output_tokens: usage.output_tokens },
  });
  push('message_stop', {});
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.end(frames.join(''));
}

interface ContentBlockLike {
  type?: unknown;
  text?: unknown;
  content?: unknown;
  tool_use_id?: unknown;
  is_error?: unknown;
}

interface MessageLike {
  role?: unknown;
  content?: unknown;
}

/** The messages of a request body (empty when there are none). */
export function messagesOf(body: unknown): MessageLike[] {
  const messages = (body as { messages?: unknown } | undefined)?.messages;
  return Array.isArray(messages) ? (messages as MessageLike[]) : [];
}

/** The content blocks of a message (a string content is one text block). */
export function blocksOf(message: MessageLike | undefined): ContentBlockLike[] {
  if (!message) return [];
  if (typeof message.content === 'string') return [{ type: 'text', text: message.content }];
  return Array.isArray(message.content) ? (message.content as ContentBlockLike[]) : [];
}

/** The text of a tool_result block's content (a string, or text blocks). */
export function toolResultText(block: ContentBlockLike): string {
  if (typeof block.content === 'string') return block.content;
  if (!Array.isArray(block.content)) return '';
  return (block.content as ContentBlockLike[]).map((b) => (typeof b.text === 'string' ? b.text : '')).join('');
}

/** The tool_result blocks of the last user message, if any. */
export function lastUserToolResults(body: unknown): ContentBlockLike[] {
  const lastUser = messagesOf(body)
    .filter((m) => m.role === 'user')
    .at(-1);
  return blocksOf(lastUser).filter((b) => b.type === 'tool_result');
}
