import type { RequestBody } from '../messages/request-body';

/** The lines by which Claude Code (CLI, `-p` and SDK modes) names itself in its system prompt. */
const IDENTITY_LINES = [
  "You are Claude Code, Anthropic's official CLI for Claude.",
  "You are Claude Code, Anthropic's official CLI for Claude, running within the Claude Agent SDK.",
  "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
];
const BILLING_BLOCK = /^\s*x-anthropic-billing-header:\s*cc_version=/;

/**
 * Whether a request is Claude Code's own: only those go to subscription accounts, byte for byte. The gateway never
 * adds this identity to a request that did not carry it.
 */
export function isClaudeCodeRequest(body: RequestBody): boolean {
  let system: unknown;
  try {
    system = body.value('system');
  } catch {
    return false;
  }
  const texts =
    typeof system === 'string'
      ? [system]
      : Array.isArray(system)
        ? system.map((block) => (block as { text?: unknown } | null)?.text).filter((t) => typeof t === 'string')
        : [];
  return texts.some(
    (text: string) => BILLING_BLOCK.test(text) || IDENTITY_LINES.some((line) => text.trimStart().startsWith(line)),
  );
}
