import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { StateBackend } from '../state/redis/state-backend';
import type { AccountRecord } from './account-record';
import { TokenStore, TokenStoreError } from './token.store';

const RECORDS = 'oauth:accounts';
const FINGERPRINTS = 'oauth:refresh-fingerprints';

/** Sets the account only while the stored fingerprint of its refresh token is the expected one. */
const REPLACE_IF = `
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
return 1
`;

/**
 * Accounts shared by every replica in Redis. Each record is sealed with AES-256-GCM under a key derived from
 * BALANCER_STATE_KEY, so neither MONITOR nor a key dump shows a token; the compare-and-set on the refresh token
 * compares keyed fingerprints (HMAC) inside a script, so it holds across replicas without decrypting in Redis.
 */
export class RedisTokenStore extends TokenStore {
  private readonly sealKey: Buffer;
  private readonly fingerprintKey: Buffer;

  constructor(
    private readonly backend: StateBackend,
    secret: string,
  ) {
    super();
    this.sealKey = Buffer.from(hkdfSync('sha256', secret, 'claude-balancer', 'oauth-token-seal', 32));
    this.fingerprintKey = Buffer.from(hkdfSync('sha256', secret, 'claude-balancer', 'oauth-token-fingerprint', 32));
  }

  async open(): Promise<void> {
    // Every stored record must open with this key: a wrong BALANCER_STATE_KEY is found now, not at the first refresh.
    await this.list();
  }

  async list(): Promise<AccountRecord[]> {
    const all = await this.command(() => this.backend.redis.hgetall(RECORDS));
    return Object.values(all).map((sealed) => this.unseal(sealed));
  }

  async get(email: string): Promise<AccountRecord | undefined> {
    const sealed = await this.command(() => this.backend.redis.hget(RECORDS, email));
    return sealed ? this.unseal(sealed) : undefined;
  }

  async put(record: AccountRecord): Promise<void> {
    await this.command(() =>
      this.backend.redis
        .multi()
        .hset(RECORDS, record.email, this.seal(record))
        .hset(FINGERPRINTS, record.email, this.fingerprint(record.refreshToken))
        .exec(),
    );
  }

  async replaceTokens(email: string, expectedRefreshToken: string, next: AccountRecord): Promise<boolean> {
    const replaced = await this.command(() =>
      this.backend.redis.eval(
        REPLACE_IF,
        2,
        RECORDS,
        FINGERPRINTS,
        email,
        this.fingerprint(expectedRefreshToken),
        this.seal(next),
        this.fingerprint(next.refreshToken),
      ),
    );
    return replaced === 1;
  }

  async delete(email: string): Promise<boolean> {
    const removed = await this.command(() => this.backend.redis.hdel(RECORDS, email));
    await this.command(() => this.backend.redis.hdel(FINGERPRINTS, email));
    return removed > 0;
  }

  async clear(): Promise<number> {
    const count = await this.command(() => this.backend.redis.hlen(RECORDS));
    await this.command(() => this.backend.redis.del(RECORDS, FINGERPRINTS));
    return count;
  }

  /** Token writes must not be silently lost: while Redis is away they fail, and the caller's refresh is retried. */
  private async command<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw new TokenStoreError(`The shared token store (Redis) did not answer: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  private fingerprint(refreshToken: string): string {
    return createHmac('sha256', this.fingerprintKey).update(refreshToken).digest('base64url');
  }

  private seal(record: AccountRecord): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.sealKey, iv);
    const sealed = Buffer.concat([cipher.update(JSON.stringify(record), 'utf8'), cipher.final()]);
    return `v1.${iv.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}.${sealed.toString('base64url')}`;
  }

  private unseal(text: string): AccountRecord {
    const [version, iv, tag, sealed] = text.split('.');
    try {
      if (version !== 'v1' || !iv || !tag || !sealed) throw new Error('unknown format');
      const decipher = createDecipheriv('aes-256-gcm', this.sealKey, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      const plain = Buffer.concat([decipher.update(Buffer.from(sealed, 'base64url')), decipher.final()]);
      return JSON.parse(plain.toString('utf8')) as AccountRecord;
    } catch (error) {
      throw new TokenStoreError(
        'A stored Claude account in Redis cannot be opened: BALANCER_STATE_KEY is not the key it was sealed with.',
        { cause: error },
      );
    }
  }
}
