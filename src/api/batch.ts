/**
 * Coalesces the loads one GraphQL operation makes in the same tick into one call, so that
 * `runs { edges { node { steps } } }` reads the steps of 50 runs in one query, not 50.
 * One loader lives per operation (it is created with the context), so nothing is cached
 * across requests.
 */
interface Waiting<K, V> {
  key: K;
  resolve: (value: V) => void;
  reject: (error: unknown) => void;
}

export function batchLoader<K, V>(loadMany: (keys: K[]) => Promise<Map<K, V>>, missing: V): (key: K) => Promise<V> {
  let open: Waiting<K, V>[] | null = null;

  function flush(batch: Waiting<K, V>[]): void {
    loadMany([...new Set(batch.map((w) => w.key))]).then(
      (values) => {
        for (const w of batch) w.resolve(values.get(w.key) ?? missing);
      },
      (error: unknown) => {
        for (const w of batch) w.reject(error);
      },
    );
  }

  return (key) =>
    new Promise<V>((resolve, reject) => {
      let batch = open;
      if (!batch) {
        const started: Waiting<K, V>[] = [];
        batch = open = started;
        // Field resolvers of one level run in the same tick; load once they have all asked.
        process.nextTick(() => {
          open = null;
          flush(started);
        });
      }
      batch.push({ key, resolve, reject });
    });
}
