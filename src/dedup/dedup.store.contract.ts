import type { CallEnd, CallHead, CallSink } from '../messages/call-answer';
import type { SseChunk } from '../providers/provider-adapter';
import { storeOpener } from '../state/store-contract.harness';
import type { CachedAnswer, DedupStore } from './dedup.store';

export interface DedupContractLimits {
  readonly ttlMs: number;
  readonly maxEntries: number;
  readonly maxBytes: number;
}

export interface DedupContractOptions {
  readonly clock: () => number;
  readonly limits: () => DedupContractLimits;
  /** Unique per test, so that a shared backend's runs never see each other's keys. */
  readonly namespace: string;
  /** How much answer a call may keep for late followers before it stops taking them. */
  readonly joinableBytes: number;
}

/** A reader that records what it was told, in order. */
export class RecordingReader implements CallSink {
  readonly heads: CallHead[] = [];
  readonly chunks: string[] = [];
  ended: CallEnd | undefined;
  private readonly endedWaiters: (() => void)[] = [];

  start(head: CallHead): void {
    this.heads.push(head);
  }

  write(chunk: SseChunk): boolean {
    this.chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  }

  drained(): Promise<void> {
    return Promise.resolve();
  }

  end(outcome: CallEnd): void {
    this.ended = outcome;
    for (const waiter of this.endedWaiters.splice(0)) waiter();
  }

  /** Resolves once the call has ended for this reader (a shared backend delivers asynchronously). */
  whenEnded(): Promise<CallEnd> {
    if (this.ended) return Promise.resolve(this.ended);
    return new Promise((resolve) => this.endedWaiters.push(() => resolve(this.ended!)));
  }
}

const event = (type: string, payload: Record<string, unknown>) =>
  `event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`;

/** A complete streamed answer saying `text`, in three chunks. */
export function streamedAnswer(text: string): string[] {
  return [
    event('message_start', {
      message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [], usage: { input_tokens: 3 } },
    }) + event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    event('content_block_delta', { index: 0, delta: { type: 'text_delta', text } }),
    event('content_block_stop', { index: 0 }) +
      event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 2 } }) +
      event('message_stop', {}),
  ];
}

const STREAM_HEAD: CallHead = { kind: 'stream', status: 200, headers: { 'x-provider-used': 'p' } };
const answer = (body: string): CachedAnswer => ({ body, status: 200, headers: {}, provider: 'p' });

/** What every DedupStore backend must do. */
export function describeDedupStoreContract(
  backend: string,
  create: (options: DedupContractOptions) => Promise<DedupStore> | DedupStore,
  dispose: (store: DedupStore) => Promise<void> | void = () => undefined,
): void {
  describe(`DedupStore contract: ${backend}`, () => {
    const clock = { now: 1_000 };
    let limits: DedupContractLimits;
    let joinableBytes = 1024 * 1024;
    const opener = storeOpener(
      'dedup',
      (namespace) => create({ clock: () => clock.now, limits: () => limits, namespace, joinableBytes }),
      dispose,
    );
    const open = (keeping = 1024 * 1024) => {
      joinableBytes = keeping;
      return opener();
    };

    beforeEach(() => {
      clock.now = 1_000;
      limits = { ttlMs: 10_000, maxEntries: 3, maxBytes: 1000 };
    });

    it('should make the first claim the leader and later identical claims its followers, until it ends', async () => {
      const store = await open();
      const first = await store.claim('sig');
      const second = await store.claim('sig');
      expect(first.role).toBe('leader');
      expect(second.role).toBe('follower');
      expect((await store.claim('other')).role).toBe('leader');
      if (first.role !== 'leader') throw new Error('unreachable');
      first.lease.start({ kind: 'error', status: 500, headers: {}, body: '{}' });
      first.lease.end({ failed: true });
      expect((await store.claim('sig')).role).toBe('leader');
    });

    it('should give a follower everything from the first byte, then the live chunks, then the end', async () => {
      const store = await open();
      const lead = await store.claim('sig');
      if (lead.role !== 'leader') throw new Error('expected to lead');
      const [a, b, c] = streamedAnswer('hello');
      lead.lease.start(STREAM_HEAD);
      lead.lease.write(a!);
      const follow = await store.claim('sig');
      if (follow.role !== 'follower') throw new Error('expected to follow');
      const reader = new RecordingReader();
      follow.source.attach(reader);
      expect(lead.lease.followers).toBe(1);
      lead.lease.write(b!);
      lead.lease.write(c!);
      lead.lease.end({ failed: false });
      expect(await reader.whenEnded()).toEqual({ failed: false });
      expect(reader.heads).toEqual([STREAM_HEAD]);
      expect(reader.chunks.join('')).toBe([a, b, c].join(''));
      expect(follow.source.message()).toMatchObject({ content: [{ type: 'text', text: 'hello' }] });
    });

    it('should tell the leader when followers come and go', async () => {
      const store = await open();
      const lead = await store.claim('sig');
      if (lead.role !== 'leader') throw new Error('expected to lead');
      const changes: number[] = [];
      lead.lease.onFollowersChange(() => changes.push(lead.lease.followers));
      const follow = await store.claim('sig');
      if (follow.role !== 'follower') throw new Error('expected to follow');
      const reader = new RecordingReader();
      follow.source.attach(reader);
      follow.source.detach(reader);
      follow.source.detach(reader);
      expect(changes).toEqual([1, 0]);
      expect(lead.lease.followers).toBe(0);
    });

    it('should take no follower for a call its leader gave up, nor past the answer size it keeps', async () => {
      const store = await open(64);
      const abandoned = await store.claim('given-up');
      if (abandoned.role !== 'leader') throw new Error('expected to lead');
      abandoned.lease.abandon();
      expect((await store.claim('given-up')).role).toBe('leader');

      const big = await store.claim('big');
      if (big.role !== 'leader') throw new Error('expected to lead');
      big.lease.start(STREAM_HEAD);
      big.lease.write('x'.repeat(65));
      expect((await store.claim('big')).role).toBe('leader');
    });

    it('should remember a complete success for replay, and never a failure', async () => {
      const store = await open();
      const ok = await store.claim('ok');
      if (ok.role !== 'leader') throw new Error('expected to lead');
      ok.lease.start(STREAM_HEAD);
      for (const chunk of streamedAnswer('kept')) ok.lease.write(chunk);
      ok.lease.end({ failed: false });
      const replay = await store.cached('ok');
      expect(replay).toMatchObject({ status: 200, provider: 'p' });
      expect(JSON.parse(replay!.body)).toMatchObject({ content: [{ type: 'text', text: 'kept' }] });

      const broken = await store.claim('broken');
      if (broken.role !== 'leader') throw new Error('expected to lead');
      broken.lease.start(STREAM_HEAD);
      broken.lease.write(streamedAnswer('cut')[0]!);
      broken.lease.end({ failed: true });
      expect(await store.cached('broken')).toBeUndefined();
    });

    it('should replay until the TTL passes', async () => {
      const store = await open();
      await store.remember('a', answer('{"x":1}'));
      expect(await store.cached('a')).toEqual(answer('{"x":1}'));
      clock.now += 10_001;
      expect(await store.cached('a')).toBeUndefined();
      expect(await store.stats()).toEqual({ inflight: 0, cached: 0, cachedBytes: 0 });
    });

    it('should evict the least recently used entry past the size limit or the byte budget', async () => {
      const store = await open();
      await store.remember('a', answer('a'));
      await store.remember('b', answer('b'));
      await store.remember('c', answer('c'));
      await store.cached('a');
      await store.remember('d', answer('d'));
      expect(await store.cached('b')).toBeUndefined();
      expect(await store.cached('a')).toBeDefined();
      await store.remember('big', answer('x'.repeat(900)));
      expect((await store.stats()).cachedBytes).toBeLessThanOrEqual(1000);
      expect(await store.cached('big')).toBeDefined();
    });

    it('should free expired answers when swept, without a lookup', async () => {
      const store = await open();
      await store.remember('a', answer('{"x":1}'));
      clock.now += 10_001;
      await store.evictExpired();
      clock.now -= 10_001;
      expect(await store.cached('a')).toBeUndefined();
    });

    it('should keep nothing when the TTL is zero', async () => {
      limits = { ...limits, ttlMs: 0 };
      const store = await open();
      await store.remember('a', answer('a'));
      expect(await store.cached('a')).toBeUndefined();
    });
  });
}
