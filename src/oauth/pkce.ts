import { createHash, randomBytes } from 'node:crypto';
import type { OAuthSettings } from '../config/gateway-config';

export interface LoginStart {
  readonly state: string;
  readonly verifier: string;
  readonly loginUrl: string;
}

/** A fresh PKCE verifier (32 random bytes, base64url), its S256 challenge and a separate random state. */
export function startLogin(settings: OAuthSettings): LoginStart {
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const url = new URL(settings.authorizeUrl);
  url.search = new URLSearchParams({
    code: 'true',
    client_id: settings.clientId,
    response_type: 'code',
    redirect_uri: settings.redirectUri,
    scope: settings.scopes,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
  }).toString();
  return { state, verifier, loginUrl: url.toString() };
}

/** What the callback page shows is `CODE#STATE`; a pasted URL or query string is taken apart too. */
export function splitPastedCode(pasted: string, state?: string): { code: string; state?: string } {
  let text = pasted.trim();
  if (/^https?:\/\//i.test(text) || text.includes('code=')) {
    const query = new URLSearchParams(text.includes('?') ? text.slice(text.indexOf('?') + 1) : text);
    const code = query.get('code');
    if (code) text = `${code}${query.get('state') ? `#${query.get('state')}` : ''}`;
  }
  const [code = '', pastedState] = text.split('#', 2);
  return { code: code.split('&')[0]!.trim(), state: state ?? pastedState?.trim() ?? undefined };
}
