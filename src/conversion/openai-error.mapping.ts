import { anthropicErrorForUpstreamStatus } from '../common/error-table';
import { type AnthropicErrorResponse } from './anthropic.types';
import { isRecord, tryParseJson } from './json';

export interface AnthropicErrorResult {
  status: number;
  body: AnthropicErrorResponse;
}

interface UpstreamError {
  message: string;
  type?: string;
  code?: string;
}

const MAX_MESSAGE_LENGTH = 1000;
const CONTEXT_OVERFLOW = /context[_ ]length[_ ]exceeded|maximum context length|context window|prompt is too long/i;

/** Maps an OpenAI-compatible upstream error response to the status and body Anthropic would have sent. */
export function toAnthropicError(status: number, bodyText: string): AnthropicErrorResult {
  const mapped = anthropicErrorForUpstreamStatus(status);
  const upstream = parseUpstreamError(bodyText, status);
  const message =
    mapped.status === 400 && isContextOverflow(upstream) ? contextOverflowMessage(upstream) : upstream.message;
  return { status: mapped.status, body: { type: 'error', error: { type: mapped.type, message } } };
}

function parseUpstreamError(bodyText: string, status: number): UpstreamError {
  const fallback = `Upstream returned HTTP ${status}`;
  const json = tryParseJson(bodyText);
  const payload = Array.isArray(json) ? (json[0] as unknown) : json;
  const error = isRecord(payload) ? (payload.error ?? payload.message ?? payload.detail) : undefined;
  if (isRecord(error)) {
    return {
      message: truncate(stringField(error.message) ?? JSON.stringify(error)),
      type: stringField(error.type),
      code: stringField(error.code),
    };
  }
  if (typeof error === 'string' && error.trim().length > 0) return { message: truncate(error) };
  const text = bodyText.trim();
  return { message: text.length > 0 ? truncate(text) : fallback };
}

function isContextOverflow(error: UpstreamError): boolean {
  return (
    error.code === 'context_length_exceeded' ||
    error.type === 'context_length_exceeded' ||
    CONTEXT_OVERFLOW.test(error.message)
  );
}

/**
 * Claude Code recognises an overflow (and compacts) by the "prompt is too long" wording, and reads the counts from
 * "N tokens > M maximum" when they can be recovered from OpenAI's phrasing.
 */
function contextOverflowMessage(error: UpstreamError): string {
  if (/^prompt is too long/i.test(error.message)) return error.message;
  const maximum = /maximum context length is (\d+)/i.exec(error.message)?.[1];
  const requested = /(?:resulted in|requested|prompt contains|you have) (\d+) tokens/i.exec(error.message)?.[1];
  if (maximum !== undefined && requested !== undefined) {
    return `prompt is too long: ${requested} tokens > ${maximum} maximum`;
  }
  return `prompt is too long: ${error.message}`;
}

function stringField(value: unknown): string | undefined {
  if (typeof value === 'string' && value.length > 0) return value;
  return typeof value === 'number' ? String(value) : undefined;
}

function truncate(text: string): string {
  return text.length > MAX_MESSAGE_LENGTH ? `${text.slice(0, MAX_MESSAGE_LENGTH)}…` : text;
}
