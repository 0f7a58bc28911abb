import type { ReplayCacheLimits } from '../in-memory-dedup.store';
import { describeDedupStoreContract, RecordingReader, streamedAnswer } from '../dedup.store.contract';
import type { DedupClaim, DedupLease } from '../dedup.store';
import { disposeBackend, testBackend } from '../../state/redis/redis-test-backend.harness';
import type { StateBackend } from '../../state/redis/state-backend';
import { RedisDedupStore } from './redis-dedup.store';

const backends = new WeakMap<RedisDedupStore, StateBackend>();

describeDedupStoreContract(
  'redis',
  async ({ clock, limits, namespace, joinableBytes }) => {
    const backend = await testBackend(namespace);
    const store = new RedisDedupStore(backend, limits, clock, joinableBytes);
    backends.set(store, backend);
    return store;
  },
  async (store) => {
    await (store as RedisDedupStore).onApplicationShutdown();
    await disposeBackend(backends.get(store as RedisDedupStore)!);
  },
);

const STREAM_HEAD = { kind: 'stream', status: 200, headers: { 'x-provider-used': 'p' } } as const;
const FAST_LEASE = { leaseMs: 600, beatMs: 150 };

describe('RedisDedupStore across replicas', () => {
  const opened: { store: RedisDedupStore; backend: StateBackend }[] = [];
  let limits: ReplayCacheLimits;

  beforeEach(() => {
    limits = { ttlMs: 0, maxEntries: 10, maxBytes: 100_000 };
  });

  afterAll(async () => {
    for (const { store, backend } of opened) {
      await store.onApplicationShutdown();
      await disposeBackend(backend);
    }
  });

  async function replicas(name: string): Promise<[RedisDedupStore, RedisDedupStore]> {
    const namespace = `dedup-replicas-${name}-${Date.now()}`;
    const made = await Promise.all(
      [0, 1].map(async () => {
        const backend = await testBackend(namespace);
        const store = new RedisDedupStore(backend, () => limits, Date.now, 1024 * 1024, FAST_LEASE);
        opened.push({ store, backend });
        return store;
      }),
    );
    return [made[0]!, made[1]!];
  }

  const leaseOf = (claim: DedupClaim): DedupLease => {
    if (claim.role !== 'leader') throw new Error(`expected to lead, got ${claim.role}`);
    return claim.lease;
  };

  it('should let a request on replica B read the call replica A leads, from the first byte to the end', async () => {
    const [a, b] = await replicas('whole');
    const lease = leaseOf(await a.claim('sig'));
    const [first, second, third] = streamedAnswer('shared');
    lease.start(STREAM_HEAD);
    lease.write(first!);
    const follow = await b.claim('sig');
    if (follow.role !== 'follower') throw new Error('expected B to follow A');
    const reader = new RecordingReader();
    follow.source.attach(reader);
    await until(() => lease.followers > 0);
    lease.write(second!);
    lease.write(third!);
    lease.end({ failed: false });
    expect(await reader.whenEnded()).toEqual({ failed: false });
    expect(reader.heads).toEqual([STREAM_HEAD]);
    expect(reader.chunks.join('')).toBe([first, second, third].join(''));
    expect(follow.source.message()).toMatchObject({ content: [{ type: 'text', text: 'shared' }] });
    expect((await a.claim('sig')).role).toBe('leader');
  });

  it('should share among requests on B one read of the call A leads', async () => {
    const [a, b] = await replicas('fan-out');
    const lease = leaseOf(await a.claim('sig'));
    const claims = await Promise.all([b.claim('sig'), b.claim('sig'), b.claim('sig')]);
    const readers = claims.map((claim) => {
      if (claim.role !== 'follower') throw new Error('expected to follow');
      const reader = new RecordingReader();
      claim.source.attach(reader);
      return reader;
    });
    lease.start({ kind: 'message', status: 200, headers: {}, body: '{"id":"msg_1"}' });
    lease.end({ failed: false });
    for (const reader of readers) {
      expect(await reader.whenEnded()).toEqual({ failed: false });
      expect(reader.heads).toEqual([{ kind: 'message', status: 200, headers: {}, body: '{"id":"msg_1"}' }]);
    }
  });

  it('should hand a reader that claimed just before the end the whole answer', async () => {
    const [a, b] = await replicas('late');
    const lease = leaseOf(await a.claim('sig'));
    const follow = await b.claim('sig');
    if (follow.role !== 'follower') throw new Error('expected to follow');
    lease.start({ kind: 'message', status: 200, headers: {}, body: '{"late":true}' });
    lease.end({ failed: false });
    const reader = new RecordingReader();
    follow.source.attach(reader);
    expect(await reader.whenEnded()).toEqual({ failed: false });
    expect(reader.heads[0]).toMatchObject({ body: '{"late":true}' });
  });

  it('should tell readers on B with an error when A dies mid-stream, and let the next request lead', async () => {
    const [a, b] = await replicas('dies');
    const lease = leaseOf(await a.claim('sig'));
    lease.start(STREAM_HEAD);
    lease.write(streamedAnswer('cut')[0]!);
    const follow = await b.claim('sig');
    if (follow.role !== 'follower') throw new Error('expected to follow');
    const reader = new RecordingReader();
    follow.source.attach(reader);
    await until(() => reader.heads.length > 0);
    // A stops beating and writing, as a killed process would.
    await a.onApplicationShutdown();
    await opened.find((o) => o.store === a)!.backend.close();
    const ended = await reader.whenEnded();
    expect(ended.failed).toBe(true);
    expect(reader.chunks.join('')).toContain('event: error');
    expect((await b.claim('sig')).role).toBe('leader');
  });

  it('should let readers on B that got nothing yet take over when A dies before answering, and tell the others', async () => {
    const [a, b] = await replicas('dies-early');
    leaseOf(await a.claim('sig'));
    const follow = await b.claim('sig');
    if (follow.role !== 'follower') throw new Error('expected to follow');
    const taker = Object.assign(new RecordingReader(), { takeOver: jest.fn(() => true) });
    const declines = Object.assign(new RecordingReader(), { takeOver: jest.fn(() => false) });
    follow.source.attach(taker);
    follow.source.attach(declines);
    await a.onApplicationShutdown();
    await opened.find((o) => o.store === a)!.backend.close();
    const ended = await declines.whenEnded();
    expect(ended).toMatchObject({ failed: true, error: { type: 'api_error' } });
    expect(declines.heads).toEqual([expect.objectContaining({ kind: 'error', status: 502 })]);
    expect(taker.takeOver).toHaveBeenCalledTimes(1);
    expect(taker.heads).toEqual([]);
    expect(taker.ended).toBeUndefined();
    // A follower that attaches after the call was given up is offered the same.
    const late = Object.assign(new RecordingReader(), { takeOver: jest.fn(() => true) });
    follow.source.attach(late);
    expect(late.takeOver).toHaveBeenCalledTimes(1);
    expect((await b.claim('sig')).role).toBe('leader');
  });

  it('should keep the leader’s call alive while B reads it, and let it go once B stops', async () => {
    const [a, b] = await replicas('orphan');
    const lease = leaseOf(await a.claim('sig'));
    const changes: number[] = [];
    lease.onFollowersChange(() => changes.push(lease.followers));
    lease.start(STREAM_HEAD);
    const follow = await b.claim('sig');
    if (follow.role !== 'follower') throw new Error('expected to follow');
    const reader = new RecordingReader();
    follow.source.attach(reader);
    await until(() => lease.followers === 1);
    follow.source.detach(reader);
    await until(() => lease.followers === 0);
    expect(changes).toEqual([1, 0]);
  });

  it('should share the replay cache between replicas', async () => {
    limits = { ttlMs: 60_000, maxEntries: 10, maxBytes: 100_000 };
    const [a, b] = await replicas('replay');
    const lease = leaseOf(await a.claim('sig'));
    lease.start(STREAM_HEAD);
    for (const chunk of streamedAnswer('again')) lease.write(chunk);
    lease.end({ failed: false });
    await until(async () => (await b.cached('sig')) !== undefined);
    expect(JSON.parse((await b.cached('sig'))!.body)).toMatchObject({ content: [{ text: 'again' }] });
    expect((await b.stats()).cached).toBe(1);
  });
});

async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i += 1) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('the condition never held');
}
