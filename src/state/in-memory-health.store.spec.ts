import { describeHealthStoreContract } from './health.store.contract';
import { InMemoryHealthStore } from './in-memory-health.store';

describeHealthStoreContract('in memory', (clock) => new InMemoryHealthStore(clock));
