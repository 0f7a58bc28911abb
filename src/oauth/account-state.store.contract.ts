import { storeOpener } from '../state/store-contract.harness';
import type { AccountStateStore } from './account-state.store';

/** What every AccountStateStore backend must do. */
export function describeAccountStateStoreContract(
  backend: string,
  create: (namespace: string) => Promise<AccountStateStore> | AccountStateStore,
): void {
  describe(`AccountStateStore contract: ${backend}`, () => {
    const open = storeOpener('account-state', create, () => undefined);

    it('should start empty and keep what each update says, part by part', async () => {
      const states = await open();
      expect(states.snapshot('a@example.com')).toMatchObject({ parked: null, familyParks: {}, windows: {} });
      await states.update('a@example.com', { parked: { until: 5, reason: '5h window exhausted' } });
      await states.update('a@example.com', { windows: { '5h': { utilization: 1, resetsAt: 5, status: 'rejected' } } });
      expect(states.snapshot('a@example.com')).toMatchObject({
        parked: { until: 5, reason: '5h window exhausted' },
        windows: { '5h': { utilization: 1 } },
      });
      expect(states.snapshot('b@example.com').parked).toBeNull();
    });

    it('should merge family parks by family', async () => {
      const states = await open();
      await states.update('a@example.com', { familyParks: { opus: { until: 1, reason: 'x' } } });
      await states.update('a@example.com', { familyParks: { sonnet: { until: 2, reason: 'y' } } });
      expect(Object.keys(states.snapshot('a@example.com').familyParks).sort()).toEqual(['opus', 'sonnet']);
    });

    it('should forget an account', async () => {
      const states = await open();
      await states.update('a@example.com', { notice: 'extra usage' });
      await states.forget('a@example.com');
      expect(states.snapshot('a@example.com').notice).toBeNull();
    });
  });
}
