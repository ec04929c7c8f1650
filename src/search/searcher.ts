/**
 * Nearest neighbours by cosine similarity over an index's unit-length embeddings: exact (one
 * matrix-vector product, then top-k) for small collections, and above `approximateFrom`
 * vectors an HNSW graph (Malkov & Yashunin 2018) from hnswlib-node, the Node binding of the
 * reference implementation, on inner product (equal to the cosine for unit vectors).
 */
import hnswlib from "hnswlib-node";
import { tensor } from "../tensor/factory.js";
import { noGrad } from "../tensor/runtime.js";
import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { ArgumentError } from "../errors.js";

export interface Hit {
  id: number;
  /** Cosine similarity in [-1, 1]. */
  score: number;
}

export interface SearcherOptions {
  /** Collections of at least this many vectors use HNSW (default 20,000). */
  approximateFrom?: number;
  /** HNSW: links per node, construction and search beam widths. */
  m?: number;
  efConstruction?: number;
  efSearch?: number;
}

export class Searcher {
  readonly size: number;
  readonly dim: number;
  readonly approximate: boolean;
  /** (N, D) unit rows; the searcher's own reference. */
  readonly #embeddings: Tensor;
  readonly #hnsw: hnswlib.HierarchicalNSW | null = null;
  readonly #efSearch: number;

  /** `embeddings` (N, D) float32 unit rows: the searcher keeps its own handle (dispose() frees it). */
  constructor(embeddings: Tensor, options: SearcherOptions = {}) {
    this.#embeddings = embeddings.detach();
    this.size = embeddings.size(0);
    this.dim = embeddings.size(1);
    this.#efSearch = options.efSearch ?? 64;
    this.approximate = this.size >= (options.approximateFrom ?? 20_000);
    if (this.approximate) {
      const index = new hnswlib.HierarchicalNSW("ip", this.dim);
      index.initIndex(this.size, options.m ?? 16, options.efConstruction ?? 200, 100);
      const data = this.#embeddings.data() as Float32Array;
      for (let i = 0; i < this.size; i++) index.addPoint(Array.from(data.subarray(i * this.dim, (i + 1) * this.dim)), i);
      index.setEf(this.#efSearch);
      this.#hnsw = index;
    }
  }

  /** The k most similar rows to `query` (D values; normalised here), best first. */
  search(query: Float32Array, k: number, options: { exact?: boolean } = {}): Hit[] {
    if (query.length !== this.dim) throw new ArgumentError(`Searcher.search: the query has ${query.length} values, the index ${this.dim}`);
    const kk = Math.max(0, Math.min(Math.floor(k), this.size));
    if (kk === 0) return [];
    let norm = 0;
    for (const v of query) norm += v * v;
    const unit = Float32Array.from(query, (v) => v / Math.max(Math.sqrt(norm), 1e-12));
    if (this.#hnsw !== null && !options.exact) {
      this.#hnsw.setEf(Math.max(this.#efSearch, kk));
      const { neighbors, distances } = this.#hnsw.searchKnn(Array.from(unit), kk);
      return neighbors.map((id, i) => ({ id, score: Math.max(-1, Math.min(1, 1 - (distances[i] as number))) }));
    }
    return tidy(() =>
      noGrad(() => {
        const scores = this.#embeddings.matmul(tensor(unit)); // (N)
        const { values, indices } = scores.topk(kk);
        const [v, i] = [values.dataAsNumbers(), indices.dataAsNumbers()];
        return Array.from(i, (id, j) => ({ id, score: Math.max(-1, Math.min(1, v[j] as number)) }));
      }),
    );
  }

  /** The k nearest other rows to row `id`. */
  neighborsOf(id: number, k: number): Hit[] {
    if (!Number.isInteger(id) || id < 0 || id >= this.size) throw new ArgumentError(`no image with id ${id} (the index has ${this.size})`);
    const row = tidy(() => this.#embeddings.select(0, id).data() as Float32Array);
    return this.search(row, k + 1)
      .filter((h) => h.id !== id)
      .slice(0, k);
  }

  /**
   * Groups of near-duplicates: rows linked by a cosine of at least `threshold`, joined
   * transitively (union-find), each group sorted and with its highest link's score; largest
   * groups first. Exact in blocks of rows below `approximateFrom`, else each row's 10 HNSW
   * neighbours.
   */
  duplicates(threshold: number): { ids: number[]; score: number }[] {
    const parent = Array.from({ length: this.size }, (_, i) => i);
    const best = new Map<number, number>();
    const find = (i: number): number => {
      while (parent[i] !== i) {
        parent[i] = parent[parent[i] as number] as number;
        i = parent[i] as number;
      }
      return i;
    };
    const link = (a: number, b: number, s: number) => {
      const [ra, rb] = [find(a), find(b)];
      const root = Math.min(ra, rb);
      const top = Math.max(best.get(ra) ?? -1, best.get(rb) ?? -1, s);
      if (ra !== rb) parent[Math.max(ra, rb)] = root;
      best.set(root, top);
    };
    if (this.#hnsw !== null) {
      const data = this.#embeddings.data() as Float32Array;
      for (let i = 0; i < this.size; i++) {
        for (const h of this.search(data.subarray(i * this.dim, (i + 1) * this.dim), 10)) if (h.id !== i && h.score >= threshold) link(i, h.id, h.score);
      }
    } else {
      const block = 512;
      for (let start = 0; start < this.size; start += block) {
        const pairs = tidy(() =>
          noGrad(() => {
            const rows = this.#embeddings.narrow(0, start, Math.min(block, this.size - start)); // (B, D)
            const sim = rows.matmul(this.#embeddings.transpose(0, 1)); // (B, N)
            const hits = sim.ge(threshold).nonzero(); // (P, 2): (row in block, column)
            const flat = hits.dataAsNumbers();
            const scores = hits.size(0) === 0 ? new Float64Array(0) : sim.index([hits.select(1, 0), hits.select(1, 1)]).dataAsNumbers();
            return { flat, scores };
          }),
        );
        for (let p = 0; p < pairs.scores.length; p++) {
          const i = start + (pairs.flat[2 * p] as number);
          const j = pairs.flat[2 * p + 1] as number;
          if (j > i) link(i, j, pairs.scores[p] as number);
        }
      }
    }
    const groups = new Map<number, number[]>();
    for (let i = 0; i < this.size; i++) {
      const r = find(i);
      if (!groups.has(r)) groups.set(r, []);
      groups.get(r)!.push(i);
    }
    return [...groups.entries()]
      .filter(([, ids]) => ids.length > 1)
      .map(([r, ids]) => ({ ids, score: best.get(r) ?? threshold }))
      .sort((a, b) => b.ids.length - a.ids.length || b.score - a.score);
  }

  dispose(): void {
    this.#embeddings.dispose();
  }
}
