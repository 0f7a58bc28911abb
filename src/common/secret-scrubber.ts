const TOKEN_SHAPES = [
  /sk-ant-[a-z]{3}\d{2}-[A-Za-z0-9_-]{8,}/g,
  /\bsk-[A-Za-z0-9_-]{16,}/g,
  /\b(Bearer\s+)[A-Za-z0-9._~+/-]{12,}=*/gi,
];

/**
 * Removes credentials from text that may reach a client, a log line or a status endpoint: every configured secret
 * verbatim, plus anything shaped like an API key or bearer token (upstreams sometimes echo what they were sent).
 */
export class SecretScrubber {
  private readonly secrets: readonly string[];

  constructor(secrets: Iterable<string>) {
    this.secrets = [...new Set(secrets)].filter((s) => s.length >= 6).sort((a, b) => b.length - a.length);
  }

  scrub(text: string): string {
    let out = text;
    for (const secret of this.secrets) {
      if (out.includes(secret)) out = out.split(secret).join('[redacted]');
    }
    for (const shape of TOKEN_SHAPES) {
      out = out.replace(shape, (_match: string, bearer?: string) =>
        typeof bearer === 'string' ? `${bearer}[redacted]` : '[redacted]',
      );
    }
    return out;
  }
}
