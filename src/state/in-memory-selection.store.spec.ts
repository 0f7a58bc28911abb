import { InMemorySelectionStore } from './in-memory-selection.store';
import { describeSelectionStoreContract } from './selection.store.contract';

describeSelectionStoreContract('in memory', (clock) => new InMemorySelectionStore(clock));
