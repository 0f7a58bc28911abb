import { randomUUID } from 'node:crypto';
import type { CallEnd } from '../../messages/call-answer';
import type { StateBackend } from '../../state/redis/state-backend';
import type { CachedAnswer, DedupClaim, DedupStoreStats } from '../dedup.store';
import { DedupStore } from '../dedup.store';
import { InMemoryCallLog, JOINABLE_LOG_MAX_BYTES } from '../in-memory-call-log';
import { type ReplayCacheLimits, replayable } from '../in-memory-dedup.store';
import { CallMirror } from './call-mirror';
import {
  APPEND,
  CLAIM,
  LEADER_BEATS,
  READER_BEAT,
  READER_LEAVE,
  RELEASE_ENDED,
  STOP_TAKING_FOLLOWERS,
} from './dedup-scripts';
import { RedisReplayCache } from './redis-replay-cache';
import { RemoteCallFeed } from './remote-call-feed';
import { StreamTail } from './stream-tail';

export interface CallLeaseTimes {
  /** How long a lease lasts without its leader's heartbeat: a replica that dies frees its signatures after this. */
  readonly leaseMs: number;
  /** How often leaders and readers beat (several times per lease). */
  readonly beatMs: number;
}

export const CALL_LEASE_TIMES: CallLeaseTimes = { leaseMs: 3_000, beatMs: 1_000 };

/** A finished answer stays in Redis this long for readers that are still catching up with it. */
const ANSWER_STREAM_TTL_MS = 60_000;
const WANT_CHANNEL = 'dedup-want';
/**
 * Ended calls give their leases back together, once per this long: a Redis command costs far more CPU than the rest
 * of a small request's bookkeeping, and a lease outliving its call by moments only means an identical request in that
 * moment reads the finished answer.
 */
const RELEASE_BATCH_MS = 10;
/** Leaders' heartbeats go to Redis this many to a script: one command for a busy replica's calls, none too long. */
const BEATS_PER_SCRIPT = 500;

interface Lead {
  readonly signature: string;
  readonly log: InMemoryCallLog;
  mirror: CallMirror | undefined;
  /** The lease is held while the call takes followers. */
  holding: boolean;
  /** The mirror could not write: readers elsewhere must learn that this leader is no use to them. */
  broken: boolean;
}

interface Follow {
  readonly signature: string;
  readonly holder: string;
  readonly feed: RemoteCallFeed;
  /** When the leader was last known to be alive. */
  confirmedAt: number;
  /** The leader's call was no longer alive at the last beat: its end should be in the stream already. */
  leaderGone: boolean;
}

/**
 * Calls in flight and replayable answers shared by every replica. Identical requests on one replica share a call
 * there, with no round trip; the first request anywhere takes the signature's lease in Redis (SET NX PX, refreshed
 * while the call runs), and a request on another replica registers as a reader of it. Only then does the leader copy
 * its answer into a Redis stream (from the first byte), so a call nobody elsewhere reads along costs two commands.
 * A leader that dies stops beating: its lease lapses and its readers are told with an error. While Redis does not
 * answer, each replica merges only its own requests.
 */
export class RedisDedupStore extends DedupStore {
  private readonly local = new Map<string, InMemoryCallLog>();
  private readonly leads = new Map<string, Lead>();
  private readonly follows = new Map<string, Follow>();
  private readonly replay: RedisReplayCache;
  private readonly replica = randomUUID();
  private calls = 0;
  private tail: StreamTail | undefined;
  private beat: NodeJS.Timeout | undefined;
  private ended: { readonly callId: string; readonly lead: Lead }[] = [];
  private claiming: { readonly lease: string; readonly callId: string; readonly answer: (a?: string[]) => void }[] = [];
  private releaseTimer: NodeJS.Timeout | undefined;
  private readonly scripts: {
    readonly claim: (...args: (string | number)[]) => Promise<string[][] | undefined>;
    readonly stopTakingFollowers: (...args: (string | number)[]) => Promise<number | undefined>;
    readonly releaseEnded: (...args: (string | number)[]) => Promise<number[] | undefined>;
    readonly append: (...args: (string | number | Buffer)[]) => Promise<number | undefined>;
    readonly leaderBeats: (...args: (string | number)[]) => Promise<number[] | undefined>;
    readonly readerBeat: (...args: (string | number)[]) => Promise<number | undefined>;
    readonly readerLeave: (...args: (string | number)[]) => Promise<number | undefined>;
  };

  constructor(
    private readonly backend: StateBackend,
    private readonly limits: () => ReplayCacheLimits,
    private readonly now: () => number = Date.now,
    private readonly joinableBytes = JOINABLE_LOG_MAX_BYTES,
    private readonly times: CallLeaseTimes = CALL_LEASE_TIMES,
  ) {
    super();
    this.replay = new RedisReplayCache(backend, limits, now);
    this.scripts = {
      claim: backend.script(CLAIM),
      stopTakingFollowers: backend.script(STOP_TAKING_FOLLOWERS, 1),
      releaseEnded: backend.script(RELEASE_ENDED),
      append: backend.script(APPEND, 2),
      leaderBeats: backend.script(LEADER_BEATS),
      readerBeat: backend.script(READER_BEAT, 1),
      readerLeave: backend.script(READER_LEAVE, 1),
    };
    backend.onMessage(WANT_CHANNEL, (callId) => {
      const lead = this.leads.get(callId);
      if (lead) this.mirror(callId, lead);
    });
  }

  async claim(signature: string, retried = false): Promise<DedupClaim> {
    const running = this.local.get(signature);
    if (running?.joinable) {
      running.reserve();
      return { role: 'follower', source: running };
    }
    const callId = `${this.replica}.${++this.calls}`;
    const answer = await this.claimInBatch(leaseKey(signature), callId);
    // A request on this replica may have claimed the signature while this one waited for Redis.
    const meanwhile = this.local.get(signature);
    if (meanwhile?.joinable) {
      if (answer?.[0] === 'lead') void this.scripts.stopTakingFollowers(leaseKey(signature), callId);
      meanwhile.reserve();
      return { role: 'follower', source: meanwhile };
    }
    const holder = answer?.[0] === 'follow' ? answer[1] : undefined;
    if (holder?.startsWith(`${this.replica}.`) && !retried) {
      // This replica's own call, ended, whose lease is still to be given back: give it back and claim again.
      await this.releaseEnded();
      return this.claim(signature, true);
    }
    if (holder) return { role: 'follower', source: this.follow(signature, holder) };
    return { role: 'leader', lease: this.lead(signature, answer?.[0] === 'lead' ? callId : undefined) };
  }

  /**
   * Claims made in the same turn of the event loop (requests arriving together) go to Redis as one script: a command
   * costs far more CPU than the script's work for one more signature.
   */
  private claimInBatch(lease: string, callId: string): Promise<string[] | undefined> {
    return new Promise((answer) => {
      this.claiming.push({ lease, callId, answer });
      if (this.claiming.length === 1) setImmediate(() => void this.sendClaims());
    });
  }

  private async sendClaims(): Promise<void> {
    const batch = this.claiming;
    this.claiming = [];
    const answers = await this.scripts.claim(
      batch.length,
      ...batch.map(({ lease }) => lease),
      this.times.leaseMs,
      this.replica,
      this.readerTtlMs(),
      ...batch.map(({ callId }) => callId),
    );
    batch.forEach(({ answer }, i) => answer(answers?.[i]));
  }

  cached(signature: string): Promise<CachedAnswer | undefined> {
    return this.replay.cached(signature);
  }

  remember(signature: string, answer: CachedAnswer): Promise<void> {
    return this.replay.remember(signature, answer);
  }

  async stats(): Promise<DedupStoreStats> {
    return { inflight: this.local.size, ...(await this.replay.stats()) };
  }

  evictExpired(): Promise<void> {
    return this.replay.evictExpired();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.beat);
    this.tail?.close();
    await this.releaseEnded();
  }

  /** Leads the call here; with a call id, under a lease other replicas can follow (without, Redis did not answer). */
  private lead(signature: string, callId: string | undefined): InMemoryCallLog {
    const log = new InMemoryCallLog(
      (ended, outcome) => this.settleLead(signature, callId, ended, outcome),
      (full) => {
        this.forget(signature, full);
        const lead = callId === undefined ? undefined : this.leads.get(callId);
        if (lead?.holding) {
          lead.holding = false;
          void this.scripts.stopTakingFollowers(leaseKey(signature), callId!);
        }
      },
      this.joinableBytes,
    );
    this.local.set(signature, log);
    if (callId !== undefined) {
      this.leads.set(callId, { signature, log, mirror: undefined, holding: true, broken: false });
      this.startBeating();
    }
    return log;
  }

  private settleLead(signature: string, callId: string | undefined, log: InMemoryCallLog, outcome: CallEnd): void {
    this.forget(signature, log);
    if (callId !== undefined) {
      const lead = this.leads.get(callId);
      this.leads.delete(callId);
      // With a mirror attached, its last append (the end) releases the lease.
      // A failure is given up at once, so that the next identical request calls upstream again.
      if (lead && !lead.mirror) {
        if (outcome.failed) this.releaseNow(callId, lead);
        else this.releaseSoon(callId, lead);
      }
    }
    if (outcome.failed || this.limits().ttlMs <= 0) return;
    const answer = replayable(log);
    if (answer) void this.replay.remember(signature, answer);
  }

  /** A failed call gives its lease back at once, through the same script as the batch. */
  private releaseNow(callId: string, lead: Lead): void {
    this.ended.push({ callId, lead });
    void this.releaseEnded();
  }

  private releaseSoon(callId: string, lead: Lead): void {
    this.ended.push({ callId, lead });
    this.releaseTimer ??= setTimeout(() => void this.releaseEnded(), RELEASE_BATCH_MS);
  }

  /** A reader elsewhere may have registered just before the end: it still gets the whole answer. */
  private async releaseEnded(): Promise<void> {
    clearTimeout(this.releaseTimer);
    this.releaseTimer = undefined;
    if (this.ended.length === 0) return;
    const ended = this.ended;
    this.ended = [];
    const waiting = await this.scripts.releaseEnded(
      ended.length,
      ...ended.map(({ lead }) => leaseKey(lead.signature)),
      ...ended.map(({ callId }) => callId),
    );
    waiting?.forEach((count, i) => {
      if (count > 0) this.mirror(ended[i]!.callId, ended[i]!.lead);
    });
  }

  /** Starts copying the answer into Redis for readers on other replicas (once; everything so far, then live). */
  private mirror(callId: string, lead: Lead): void {
    if (lead.mirror || lead.broken) return;
    if (!lead.log.keepsWholeAnswer) {
      // Past the size a call keeps, its start is gone: a reader elsewhere could only get it cut, so it gets an error.
      lead.broken = true;
      return;
    }
    const stream = answerKey(lead.signature, callId);
    lead.mirror = new CallMirror(
      async (fields, last) => {
        const done = await this.scripts.append(
          leaseKey(lead.signature),
          stream,
          callId,
          ANSWER_STREAM_TTL_MS,
          last ? '1' : '0',
          ...fields,
        );
        return done !== undefined;
      },
      () => {
        lead.broken = true;
      },
    );
    lead.log.attach(lead.mirror);
  }

  /** Reads along with a call another replica leads, through a log of it here that later requests here join. */
  private follow(signature: string, holder: string): InMemoryCallLog {
    const log = new InMemoryCallLog(
      () => this.forget(signature, log),
      (full) => this.forget(signature, full),
      this.joinableBytes,
    );
    log.reserve();
    const stream = answerKey(signature, holder);
    const feed = new RemoteCallFeed(log, () => {
      this.follows.delete(holder);
      this.tail?.unfollow(stream);
      void this.scripts.readerLeave(leaseKey(signature), holder, this.replica);
    });
    log.onFollowersChange(() => {
      if (log.followers === 0 && !feed.done) {
        feed.stop();
        log.abandon();
      }
    });
    this.local.set(signature, log);
    this.follows.set(holder, { signature, holder, feed, confirmedAt: this.now(), leaderGone: false });
    this.tailer().follow(stream, feed);
    void this.backend.publish(WANT_CHANNEL, holder);
    this.startBeating();
    return log;
  }

  private startBeating(): void {
    if (this.beat) return;
    this.beat = setInterval(() => void this.beatAll(), this.times.beatMs);
    this.beat.unref();
  }

  private async beatAll(): Promise<void> {
    if (this.leads.size === 0 && this.follows.size === 0) {
      clearInterval(this.beat);
      this.beat = undefined;
      return;
    }
    await Promise.all([this.beatLeads(), ...[...this.follows.values()].map((follow) => this.beatFollow(follow))]);
  }

  private async beatLeads(): Promise<void> {
    // A leader whose copy broke stops beating, so that its readers elsewhere give up on it.
    const beating = [...this.leads].filter(([, lead]) => !lead.broken);
    for (let start = 0; start < beating.length; start += BEATS_PER_SCRIPT) {
      const batch = beating.slice(start, start + BEATS_PER_SCRIPT);
      const readers = await this.scripts.leaderBeats(
        batch.length,
        ...batch.map(([, lead]) => leaseKey(lead.signature)),
        this.times.leaseMs,
        ...batch.flatMap(([callId, lead]) => [callId, lead.holding ? '1' : '0']),
      );
      if (readers) batch.forEach(([callId, lead], i) => this.readAlong(callId, lead, readers[i] ?? 0));
    }
  }

  /** After a beat: mirror the call for readers elsewhere, or stop mirroring once none is left. */
  private readAlong(callId: string, lead: Lead, readers: number): void {
    if (readers > 0) this.mirror(callId, lead);
    else if (lead.mirror) {
      // Nobody elsewhere reads along any more: the call need not outlive its own client for them.
      lead.log.detach(lead.mirror);
      lead.mirror.stop();
      lead.mirror = undefined;
    }
  }

  private async beatFollow(follow: Follow): Promise<void> {
    if (follow.feed.done) return;
    if (!follow.feed.hasStarted) void this.backend.publish(WANT_CHANNEL, follow.holder);
    const alive = await this.scripts.readerBeat(
      leaseKey(follow.signature),
      follow.holder,
      this.replica,
      this.readerTtlMs(),
    );
    const now = this.now();
    if (alive === 1) {
      follow.confirmedAt = now;
      follow.leaderGone = false;
      return;
    }
    // The end is appended before the call stops being alive, so one more beat gives the tail time to deliver it.
    if (alive === 0 && !follow.leaderGone) {
      follow.leaderGone = true;
      return;
    }
    if (alive === 0 || now - follow.confirmedAt > this.times.leaseMs) follow.feed.leaderGone();
  }

  private tailer(): StreamTail {
    if (!this.tail) {
      const connection = this.backend.blockingConnection();
      this.tail = new StreamTail(connection);
    }
    return this.tail;
  }

  private forget(signature: string, log: InMemoryCallLog): void {
    if (this.local.get(signature) === log) this.local.delete(signature);
  }

  private readerTtlMs(): number {
    return this.times.leaseMs;
  }
}

function leaseKey(signature: string): string {
  return `dedup:${signature}`;
}

function answerKey(signature: string, callId: string): string {
  return `dedup:${signature}:answer:${callId}`;
}
