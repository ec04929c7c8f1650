/**
 * Search over an index's vectors: exact (libtorch matrix-vector + top-k) against HNSW
 * (hnswlib-node, M 16, efConstruction 200, efSearch 64), at 10,000 and 100,000 unit vectors
 * of dimension 128 (h of a ResNet-18 at width 16), clustered like embeddings are (1,000
 * centres plus noise). Median latency over 200 queries taken from the set, recall@10 of HNSW
 * against exact, HNSW build time. Prints one JSON line per size.
 *   node dist/bench/search.js [--sizes 10000,100000] [--dim 128] [--queries 200]
 *   node dist/bench/search.js --index FILE     (the vectors of a real index instead)
 */
import { parseArgs } from "node:util";
import { getNumThreads, rand, tensor, withSeed, type Tensor } from "../src/index.js";
import { Searcher, readIndex } from "../src/entry/search.js";
import { median } from "./python.js";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "10000,100000" },
    dim: { type: "string", default: "128" },
    queries: { type: "string", default: "200" },
    index: { type: "string" },
  },
});
const queries = Number(values.queries);
const real = values.index === undefined ? null : readIndex(values.index);

for (const n of real === null ? values.sizes.split(",").map(Number) : [real.files.length]) {
  const dim = real === null ? Number(values.dim) : real.embeddings.size(1);
  const vectors: Tensor =
    real !== null
      ? real.embeddings
      : withSeed(1, () => {
          const centres = rand([1000, dim]).sub(0.5); // (1000, D)
          const assign = tensor(
            Array.from({ length: n }, (_, i) => (i * 7919) % 1000),
            { dtype: "int64" },
          );
          const x = centres.indexSelect(0, assign).add(rand([n, dim]).sub(0.5).mul(0.25)); // (n, D)
          return x.div(x.norm(2, 1, true));
        });
  const rows = vectors.data() as Float32Array;
  const exact = new Searcher(vectors, { approximateFrom: Infinity });
  const t0 = performance.now();
  const approx = new Searcher(vectors, { approximateFrom: 1 });
  const buildSeconds = (performance.now() - t0) / 1000;
  const exactMs: number[] = [];
  const approxMs: number[] = [];
  let overlap = 0;
  for (let q = 0; q < queries; q++) {
    const id = Math.floor((q * n) / queries);
    const query = rows.subarray(id * dim, (id + 1) * dim);
    let s = performance.now();
    const truth = exact.search(query, 10);
    exactMs.push(performance.now() - s);
    s = performance.now();
    const found = approx.search(query, 10);
    approxMs.push(performance.now() - s);
    const ids = new Set(truth.map((h) => h.id));
    overlap += found.filter((h) => ids.has(h.id)).length;
  }
  console.log(
    JSON.stringify({
      bench: "search",
      source: values.index ?? "synthetic clusters",
      vectors: n,
      dim,
      queries,
      threads: getNumThreads(),
      exact_ms: median(exactMs),
      hnsw_ms: median(approxMs),
      hnsw_build_s: Number(buildSeconds.toFixed(1)),
      recall_at_10: overlap / (10 * queries),
    }),
  );
  exact.dispose();
  approx.dispose();
  vectors.dispose();
}
