import { SecretScrubber } from './secret-scrubber';

describe('SecretScrubber', () => {
  const scrubber = new SecretScrubber(['my-relay-token-42', 'short']);

  it('should remove configured secrets wherever they appear', () => {
    expect(scrubber.scrub('bad key my-relay-token-42 (my-relay-token-42)')).toBe('bad key [redacted] ([redacted])');
  });

  it('should remove anything shaped like an Anthropic or OpenAI key, or a bearer token', () => {
    expect(scrubber.scrub('key sk-ant-api03-abcdefgh_XYZ rejected')).toBe('key [redacted] rejected');
    expect(scrubber.scrub('got sk-or-v1-0123456789abcdef0123')).toBe('got [redacted]');
    expect(scrubber.scrub('Authorization: Bearer abc.def.ghi-123456')).toBe('Authorization: Bearer [redacted]');
  });

  it('should leave ordinary text and too-short configured values alone', () => {
    expect(scrubber.scrub('a short message about tokens')).toBe('a short message about tokens');
  });
});
