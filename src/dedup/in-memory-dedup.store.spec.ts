import { describeDedupStoreContract } from './dedup.store.contract';
import { InMemoryDedupStore } from './in-memory-dedup.store';

describeDedupStoreContract(
  'in memory',
  ({ clock, limits, joinableBytes }) => new InMemoryDedupStore(limits, clock, joinableBytes),
);
