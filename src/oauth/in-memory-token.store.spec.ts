import { InMemoryTokenStore } from './in-memory-token.store';
import { describeTokenStoreContract } from './token.store.contract';

describeTokenStoreContract('in memory', () => new InMemoryTokenStore());
