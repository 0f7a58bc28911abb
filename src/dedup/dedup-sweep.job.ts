import { Injectable } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { DedupStore } from './dedup.store';

/** Frees expired replay answers without waiting for the next lookup of the same request. */
@Injectable()
export class DedupSweepJob {
  constructor(private readonly store: DedupStore) {}

  @Interval('dedup-cache-sweep', 10_000)
  sweep(): Promise<void> {
    return this.store.evictExpired();
  }
}
