import { parseBoundedJson } from '../messages/json-scan';

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value, or undefined when the text is not JSON or nests deeper than the gateway walks. */
export function tryParseJson(text: string): unknown {
  try {
    return parseBoundedJson(text);
  } catch {
    return undefined;
  }
}
