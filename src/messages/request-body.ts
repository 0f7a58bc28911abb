/**
 * A JSON object request body kept as the client's bytes, with the byte range of each top-level field.
 *
 * The hot path needs only a few top-level fields (model, stream, max_tokens, metadata), so it never decodes or parses
 * the whole body: on a Claude Code-sized body (~76 KB, mostly strings, often with non-ASCII text) decoding and parsing
 * cost more than everything else the gateway does. Strings are skipped with a native byte search; the full parse
 * happens lazily, only where a conversion needs it.
 */

import { isUtf8 } from 'node:buffer';
import { type FieldRange, JsonSyntaxError, scanJson } from './json-scan';

export type JsonObject = Record<string, unknown>;

type Range = FieldRange;

export class RequestBody {
  private parsed: JsonObject | undefined;
  private readonly values = new Map<string, unknown>();

  private constructor(
    readonly raw: Buffer,
    private readonly fields: ReadonlyMap<string, Range>,
  ) {}

  /** Scans a body that starts with `{`; throws JsonSyntaxError when any of it is not valid JSON. */
  static scan(raw: Buffer): RequestBody {
    const fields = validJson(raw);
    if (!fields) throw new JsonSyntaxError('Expected a JSON object', 0);
    return new RequestBody(raw, fields);
  }

  keys(): string[] {
    return [...this.fields.keys()];
  }

  has(key: string): boolean {
    return this.fields.has(key);
  }

  /** The field's bytes exactly as sent. */
  rawValue(key: string): Buffer | undefined {
    const range = this.fields.get(key);
    return range && this.raw.subarray(range.start, range.end);
  }

  /** The field's value, parsed from its own bytes only (and remembered). */
  value(key: string): unknown {
    if (this.values.has(key)) return this.values.get(key);
    const bytes = this.rawValue(key);
    const value: unknown = bytes === undefined ? undefined : JSON.parse(bytes.toString('utf8'));
    this.values.set(key, value);
    return value;
  }

  /** The whole body parsed, for conversions that need every field. */
  get json(): JsonObject {
    this.parsed ??= JSON.parse(this.raw.toString('utf8')) as JsonObject;
    return this.parsed;
  }

  /** The client's bytes with some top-level fields replaced, everything else untouched. */
  withFields(replacements: Readonly<Record<string, unknown>>): Buffer {
    const edits = Object.entries(replacements)
      .map(([key, value]) => ({ range: this.fields.get(key), text: JSON.stringify(value) }))
      .filter((edit): edit is { range: Range; text: string } => edit.range !== undefined)
      .sort((a, b) => a.range.start - b.range.start);
    const parts: Buffer[] = [];
    let at = 0;
    for (const { range, text } of edits) {
      parts.push(this.raw.subarray(at, range.start), Buffer.from(text));
      at = range.end;
    }
    parts.push(this.raw.subarray(at));
    return Buffer.concat(parts);
  }
}

/**
 * Proves the whole body valid UTF-8 and valid JSON, nested no deeper than the limit, and returns the top-level fields
 * of an object body (undefined for any other JSON value). Throws JsonSyntaxError.
 */
export function validJson(raw: Buffer): Map<string, Range> | undefined {
  if (!isUtf8(raw)) throw new JsonSyntaxError('Invalid UTF-8', firstInvalidUtf8(raw));
  return scanJson(raw.toString('latin1'));
}

/** Where UTF-8 decoding first fails, for the error message: only run on a body already known to be invalid. */
function firstInvalidUtf8(raw: Buffer): number {
  let i = 0;
  while (i < raw.length) {
    const byte = raw[i]!;
    const length =
      byte < 0x80
        ? 1
        : byte >= 0xc2 && byte < 0xe0
          ? 2
          : byte >= 0xe0 && byte < 0xf0
            ? 3
            : byte >= 0xf0 && byte < 0xf5
              ? 4
              : 0;
    if (length === 0 || i + length > raw.length || !isUtf8(raw.subarray(i, i + length))) return i;
    i += length;
  }
  return i;
}
