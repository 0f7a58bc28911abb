import { describeLimitStoreContract } from './limit.store.contract';
import { InMemoryLimitStore } from './limit.store';

describeLimitStoreContract('in memory', () => new InMemoryLimitStore());
