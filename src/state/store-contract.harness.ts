/**
 * Opens the stores a contract suite tests, each under a namespace of its own (so that a shared backend's test runs
 * never see each other's keys), and disposes of them all when the suite ends. Call inside `describe`.
 */
export function storeOpener<Store>(
  kind: string,
  create: (namespace: string) => Promise<Store> | Store,
  dispose: (store: Store) => Promise<void> | void,
): () => Promise<Store> {
  const stores: Store[] = [];
  let counter = 0;
  afterAll(async () => {
    for (const store of stores) await dispose(store);
  });
  return async () => {
    counter += 1;
    const store = await create(`${kind}-${Date.now()}-${counter}`);
    stores.push(store);
    return store;
  };
}
