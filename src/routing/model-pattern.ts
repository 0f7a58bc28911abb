/**
 * Compiles a route key into a matcher. `*` matches any run of characters (slashes included: model names such as
 * `anthropic/claude-sonnet-4.5` are not paths), `?` one character; the match is case-insensitive and whole-name.
 */
export function compileModelPattern(pattern: string): (model: string) => boolean {
  if (!/[*?]/.test(pattern)) {
    const lowered = pattern.toLowerCase();
    return (model) => model.toLowerCase() === lowered;
  }
  const source = pattern
    .split('')
    .map((char) => {
      if (char === '*') return '.*';
      if (char === '?') return '.';
      return char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    })
    .join('');
  const regex = new RegExp(`^${source}$`, 'is');
  return (model) => regex.test(model);
}
