/**
 * One pass over a JSON text that proves all of it valid (RFC 8259: every token, every string escape, no raw control
 * character, no trailing garbage), bounds its nesting, and finds the byte range of each top-level field of an
 * object. Strings, which are most of a Claude Code request, are crossed with native searches for the next quote and
 * backslash rather than byte by byte, so the whole check costs a fraction of decoding and parsing the body.
 */

export const MAX_JSON_DEPTH = 512;

export interface FieldRange {
  readonly start: number;
  readonly end: number;
}

/** Invalid JSON, with the byte offset where it stops being JSON. */
export class JsonSyntaxError extends SyntaxError {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at byte ${offset}`);
    this.name = 'JsonSyntaxError';
  }
}

// JSON forbids raw control characters inside strings: finding them is the point of this expression.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f]/;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;
const ESCAPABLE = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);

type Container = 'object' | 'array';
/** What the grammar allows next: a value, a key (or the end of an empty object), or a comma or closer. */
type Expecting = 'value' | 'key-or-close' | 'value-or-close' | 'key' | 'comma-or-close';

/**
 * Validates `text` (the body's bytes as latin1, so that offsets are byte offsets) and returns the top-level fields
 * when it is an object. Throws JsonSyntaxError.
 */
export function scanJson(text: string): Map<string, FieldRange> | undefined {
  const fields = new Map<string, FieldRange>();
  const stack: Container[] = [];
  const strings = new StringCrossing(text);
  let at = skipSpace(text, 0);
  const rootIsObject = text.charCodeAt(at) === 0x7b;
  let topKey: string | undefined;
  let valueStart = 0;
  const state: { expecting: Expecting } = { expecting: 'value' };
  for (;;) {
    at = skipSpace(text, at);
    if (at >= text.length) {
      if (stack.length === 0 && state.expecting === 'comma-or-close') return rootIsObject ? fields : undefined;
      throw new JsonSyntaxError('Unexpected end of JSON', at);
    }
    const char = text.charCodeAt(at);
    const container = stack.at(-1);
    if (state.expecting === 'comma-or-close') {
      if (stack.length === 0) throw new JsonSyntaxError('Unexpected data after the JSON value', at);
      if (char === 0x2c) {
        state.expecting = container === 'object' ? 'key' : 'value';
        at += 1;
        continue;
      }
      if ((char === 0x7d && container === 'object') || (char === 0x5d && container === 'array')) {
        at = close(at);
        continue;
      }
      throw new JsonSyntaxError(`Expected ',' or '${container === 'object' ? '}' : ']'}'`, at);
    }
    if (state.expecting === 'key' || state.expecting === 'key-or-close') {
      if (char === 0x7d && state.expecting === 'key-or-close') {
        at = close(at);
        continue;
      }
      if (char !== 0x22) throw new JsonSyntaxError('Expected a double-quoted property name', at);
      const keyEnd = strings.skip(at);
      const isTopField = stack.length === 1 && rootIsObject;
      if (isTopField) topKey = JSON.parse(text.slice(at, keyEnd)) as string;
      at = skipSpace(text, keyEnd);
      if (text.charCodeAt(at) !== 0x3a) throw new JsonSyntaxError("Expected ':' after a property name", at);
      at = skipSpace(text, at + 1);
      if (isTopField) valueStart = at;
      state.expecting = 'value';
      continue;
    }
    // A value (or, just after '[', the end of an empty array).
    if (char === 0x5d && state.expecting === 'value-or-close') {
      at = close(at);
      continue;
    }
    if (char === 0x7b || char === 0x5b) {
      if (stack.length >= MAX_JSON_DEPTH) {
        throw new JsonSyntaxError(`Nested deeper than ${MAX_JSON_DEPTH} levels`, at);
      }
      stack.push(char === 0x7b ? 'object' : 'array');
      state.expecting = char === 0x7b ? 'key-or-close' : 'value-or-close';
      at += 1;
      continue;
    }
    at = char === 0x22 ? strings.skip(at) : skipScalar(text, at);
    endValue(at);
  }

  function close(position: number): number {
    stack.pop();
    endValue(position + 1);
    return position + 1;
  }

  /** A value ended at `end`: record it when it is a top-level field's. */
  function endValue(end: number): void {
    state.expecting = 'comma-or-close';
    if (stack.length === 1 && rootIsObject && topKey !== undefined) {
      fields.set(topKey, { start: valueStart, end });
      topKey = undefined;
    }
  }
}

function skipScalar(text: string, at: number): number {
  if (text.startsWith('true', at)) return at + 4;
  if (text.startsWith('false', at)) return at + 5;
  if (text.startsWith('null', at)) return at + 4;
  NUMBER.lastIndex = at;
  if (NUMBER.test(text) && NUMBER.lastIndex > at) return NUMBER.lastIndex;
  throw new JsonSyntaxError(`Unexpected token '${text[at]}'`, at);
}

/**
 * The next position of a character (or of any raw control character) at or after a position, for a scan that only
 * moves forward: each search starts where the last one found nothing to skip, so crossing a string with many escapes
 * costs one pass over it, not one per escape.
 */
class NextIndex {
  private found = -2;

  constructor(
    private readonly text: string,
    private readonly search: (text: string, from: number) => number,
  ) {}

  from(position: number): number {
    if (this.found !== -1 && this.found < position) this.found = this.search(this.text, position);
    return this.found;
  }
}

const CONTROL_ANYWHERE = new RegExp(CONTROL.source, 'g');

function nextControl(text: string, from: number): number {
  CONTROL_ANYWHERE.lastIndex = from;
  return CONTROL_ANYWHERE.exec(text)?.index ?? -1;
}

/** The forward-only searches one scan shares. */
class StringCrossing {
  private readonly quotes: NextIndex;
  private readonly backslashes: NextIndex;
  private readonly controls: NextIndex;

  constructor(private readonly text: string) {
    this.quotes = new NextIndex(text, (t, from) => t.indexOf('"', from));
    this.backslashes = new NextIndex(text, (t, from) => t.indexOf('\\', from));
    this.controls = new NextIndex(text, nextControl);
  }

  /** From an opening quote to just past its closing quote, checking every escape and refusing raw control characters. */
  skip(at: number): number {
    const { text } = this;
    let from = at + 1;
    for (;;) {
      const quote = this.quotes.from(from);
      if (quote === -1) throw new JsonSyntaxError('Unterminated string', text.length);
      const backslash = this.backslashes.from(from);
      const end = backslash !== -1 && backslash < quote ? backslash : quote;
      const control = this.controls.from(from);
      if (control !== -1 && control < end) throw new JsonSyntaxError('Raw control character in a string', control);
      if (end === quote) return quote + 1;
      from = skipEscape(text, backslash);
    }
  }
}

function skipEscape(text: string, at: number): number {
  const escaped = text[at + 1];
  if (escaped === 'u') {
    if (!HEX4.test(text.slice(at + 2, at + 6))) throw new JsonSyntaxError('Bad \\u escape in a string', at);
    return at + 6;
  }
  if (escaped === undefined || !ESCAPABLE.has(escaped)) throw new JsonSyntaxError('Bad escape in a string', at);
  return at + 2;
}

function skipSpace(text: string, at: number): number {
  let i = at;
  for (;;) {
    const char = text.charCodeAt(i);
    if (char !== 0x20 && char !== 0x0a && char !== 0x0d && char !== 0x09) return i;
    i += 1;
  }
}

/**
 * JSON.parse for text from outside the gateway (an upstream's answer, a tool's arguments), refused like invalid JSON
 * when it nests deeper than MAX_JSON_DEPTH: whatever later serializes or walks the value recursively stays bounded.
 */
export function parseBoundedJson(text: string): unknown {
  scanJson(text);
  return JSON.parse(text) as unknown;
}
