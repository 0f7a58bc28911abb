import { storeOpener } from './store-contract.harness';
import type { SelectionStore } from './selection.store';

/** What every SelectionStore backend must do; `namespace` keeps a shared backend's test runs apart. */
export function describeSelectionStoreContract(
  backend: string,
  create: (clock: () => number, namespace: string) => Promise<SelectionStore> | SelectionStore,
  dispose: (store: SelectionStore) => Promise<void> | void = () => undefined,
): void {
  describe(`SelectionStore contract: ${backend}`, () => {
    const clock = { now: 5_000_000 };
    const open = storeOpener('selection', (namespace) => create(() => clock.now, namespace), dispose);

    beforeEach(() => {
      clock.now = 5_000_000;
    });

    it('should hand out consecutive turns per route, and peek without advancing', async () => {
      const store = await open();
      expect(await store.peekTurn('r')).toBe(0);
      expect([await store.nextTurn('r'), await store.nextTurn('r'), await store.nextTurn('other')]).toEqual([0, 1, 0]);
      expect(await store.peekTurn('r')).toBe(2);
      expect(await store.peekTurn('r')).toBe(2);
    });

    it('should give every concurrent request its own turn', async () => {
      const store = await open();
      const turns = await Promise.all(Array.from({ length: 30 }, () => store.nextTurn('busy')));
      expect(new Set(turns).size).toBe(30);
    });

    it('should remember a sticky choice until it is older than the age asked for', async () => {
      const store = await open();
      expect(await store.stickyChoice('route', 1_000)).toBeUndefined();
      await store.stick('route', 'a');
      clock.now += 900;
      expect(await store.stickyChoice('route', 1_000)).toBe('a');
      await store.stick('route', 'b');
      expect(await store.stickyChoice('route', 1_000)).toBe('b');
      clock.now += 1_001;
      expect(await store.stickyChoice('route', 1_000)).toBeUndefined();
    });

    it('should sweep only the choices older than the age given', async () => {
      const store = await open();
      await store.stick('old', 'a');
      clock.now += 5_000;
      await store.stick('new', 'b');
      await store.sweep(1_000);
      expect(await store.stickyChoice('old', 60_000)).toBeUndefined();
      expect(await store.stickyChoice('new', 60_000)).toBe('b');
    });
  });
}
