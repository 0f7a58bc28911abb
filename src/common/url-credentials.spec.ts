import { withoutCredentials } from './url-credentials';

describe('withoutCredentials', () => {
  it('should drop user and password and keep everything else', () => {
    expect(withoutCredentials('https://user:pa55@relay.example:8443/claudecode')).toBe(
      'https://relay.example:8443/claudecode',
    );
    expect(withoutCredentials('https://api.anthropic.com')).toBe('https://api.anthropic.com');
  });
});
