export interface UnsetVariable {
  /** Where in the document the reference stood, e.g. `providers[0].auth_value`. */
  readonly path: string;
  readonly variable: string;
}

export interface ExpansionResult {
  readonly value: unknown;
  readonly unset: readonly UnsetVariable[];
}

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string of a parsed YAML document.
 * An unset variable without a default becomes "" and is reported, so validation can say which variable is missing.
 */
export function expandEnv(document: unknown, env: NodeJS.ProcessEnv): ExpansionResult {
  const unset: UnsetVariable[] = [];
  const walk = (node: unknown, path: string): unknown => {
    if (typeof node === 'string') {
      return node.replace(REFERENCE, (_match, name: string, fallback: string | undefined) => {
        const value = env[name];
        if (value !== undefined && value !== '') return value;
        if (fallback !== undefined) return fallback;
        unset.push({ path, variable: name });
        return '';
      });
    }
    if (Array.isArray(node)) return node.map((item, index) => walk(item, `${path}[${index}]`));
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(
        Object.entries(node).map(([key, value]) => [key, walk(value, path ? `${path}.${key}` : key)]),
      );
    }
    return node;
  };
  return { value: walk(document, ''), unset };
}
