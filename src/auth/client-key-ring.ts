import { createHash, timingSafeEqual } from 'node:crypto';
import type { ClientConfig } from '../config/gateway-config';

/**
 * Finds the client a presented key belongs to. Keys are compared as sha256 digests with timingSafeEqual against every
 * client, without stopping at the first match, so the time taken says nothing about which key was close.
 */
export class ClientKeyRing {
  constructor(private readonly clients: readonly ClientConfig[]) {}

  get enabled(): boolean {
    return this.clients.length > 0;
  }

  find(presented: string): ClientConfig | undefined {
    const digest = createHash('sha256').update(presented).digest();
    let found: ClientConfig | undefined;
    for (const client of this.clients) {
      if (timingSafeEqual(digest, client.keyDigest) && !found) found = client;
    }
    return found;
  }
}

/** Constant-time equality for the admin and metrics keys. */
export function keysMatch(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
