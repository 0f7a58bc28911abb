import { describeAccountStateStoreContract } from './account-state.store.contract';
import { InMemoryAccountStateStore } from './account-state.store';

describeAccountStateStoreContract('in memory', () => new InMemoryAccountStateStore());
