/**
 * A JSON object request body kept as the client's bytes, with the byte range of each top-level field.
 *
 * The hot path needs only a few top-level fields (model, stream, max_tokens, metadata), so it never decodes or parses
 * the whole body: on a Claude Code-sized body (~76 KB, mostly strings, often with non-ASCII text) decoding and parsing
 * cost more than everything else the gateway does. Strings are skipped with a native byte search; the full parse
 * happens lazily, only where a conversion needs it.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;
const SCALAR = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)$/;

export type JsonObject = Record<string, unknown>;

interface Range {
  readonly start: number;
  readonly end: number;
}

export class RequestBody {
  private parsed: JsonObject | undefined;
  private readonly values = new Map<string, unknown>();

  private constructor(
    readonly raw: Buffer,
    private readonly fields: ReadonlyMap<string, Range>,
  ) {}

  /** Scans a body that starts with `{`; throws SyntaxError when its structure is not valid JSON. */
  static scan(raw: Buffer): RequestBody {
    return new RequestBody(raw, scanTopLevel(raw));
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

function scanTopLevel(raw: Buffer): Map<string, Range> {
  const fields = new Map<string, Range>();
  let at = skipSpace(raw, 0);
  expect(raw, at, OPEN_BRACE);
  at = skipSpace(raw, at + 1);
  if (raw[at] === CLOSE_BRACE) return finish(raw, at + 1, fields);
  for (;;) {
    expect(raw, at, QUOTE);
    const keyEnd = skipString(raw, at);
    const key = JSON.parse(raw.toString('utf8', at, keyEnd)) as string;
    at = skipSpace(raw, keyEnd);
    expect(raw, at, COLON);
    const start = skipSpace(raw, at + 1);
    const end = skipValue(raw, start);
    fields.set(key, { start, end });
    at = skipSpace(raw, end);
    if (raw[at] === CLOSE_BRACE) return finish(raw, at + 1, fields);
    expect(raw, at, COMMA);
    at = skipSpace(raw, at + 1);
  }
}

function finish(raw: Buffer, at: number, fields: Map<string, Range>): Map<string, Range> {
  if (skipSpace(raw, at) !== raw.length) fail(at);
  return fields;
}

function skipValue(raw: Buffer, at: number): number {
  const byte = raw[at];
  if (byte === QUOTE) return skipString(raw, at);
  if (byte === OPEN_BRACE || byte === OPEN_BRACKET) return skipNested(raw, at);
  let end = at;
  while (end < raw.length && !isDelimiter(raw[end]!)) end += 1;
  if (!SCALAR.test(raw.toString('latin1', at, end))) fail(at);
  return end;
}

/** Skips an object or array, checking that brackets pair up; strings inside are skipped whole. */
function skipNested(raw: Buffer, at: number): number {
  const open: number[] = [];
  let i = at;
  while (i < raw.length) {
    const byte = raw[i]!;
    if (byte === QUOTE) {
      i = skipString(raw, i);
      continue;
    }
    if (byte === OPEN_BRACE || byte === OPEN_BRACKET) open.push(byte);
    else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      const opener = open.pop();
      if (opener !== (byte === CLOSE_BRACE ? OPEN_BRACE : OPEN_BRACKET)) fail(i);
      if (open.length === 0) return i + 1;
    }
    i += 1;
  }
  return fail(i);
}

/** From an opening quote to just past its closing quote, with escaped quotes skipped. */
function skipString(raw: Buffer, at: number): number {
  let quote = raw.indexOf(QUOTE, at + 1);
  while (quote !== -1) {
    let backslashes = 0;
    while (raw[quote - 1 - backslashes] === BACKSLASH) backslashes += 1;
    if (backslashes % 2 === 0) return quote + 1;
    quote = raw.indexOf(QUOTE, quote + 1);
  }
  return fail(raw.length);
}

function skipSpace(raw: Buffer, at: number): number {
  let i = at;
  while (i < raw.length) {
    const byte = raw[i];
    if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) break;
    i += 1;
  }
  return i;
}

function isDelimiter(byte: number): boolean {
  return byte === COMMA || byte === CLOSE_BRACE || byte === CLOSE_BRACKET || byte <= 0x20;
}

function expect(raw: Buffer, at: number, byte: number): void {
  if (raw[at] !== byte) fail(at);
}

function fail(at: number): never {
  throw new SyntaxError(`Unexpected token or end of input at position ${at}`);
}
